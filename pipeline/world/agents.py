"""The offline agent backend of the embedded world.

It stands in for a strong annotator: it knows each pool image's scene record (kept apart from the
pool, which stays unlabeled), carries it through the recorded edits itself (edit ops change pixels
only), and asks the world's question families. Planning is by rule from the cell and seeded choice,
so a run is reproducible.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.config.registry import EDITS
from pipeline.generation.agents import AgentBackend, Draft, Plan, PlanRequest, Reply
from pipeline.generation.params import WorldErrorsConfig
from pipeline.storage.schemas import Call
from pipeline.world.captions import type_prompt
from pipeline.world.mistakes import stream, wrong_answer
from pipeline.world.questions import BY_CELL, CELLS, Question, ask
from pipeline.world.scenes import Scene

FLIPS = {"hflip": "col", "vflip": "row"}  # the grid axis each flip mirrors
FLIPPABLE = {"shapes", "objects"}  # text-free images survive flips; a mirrored document cannot be read
KEEP_ALL = {"brightness", "contrast", "blur", "noise", "pad"}  # change no fact of any scene
TARGET_TRIES = 8  # draws of a template's own choices (which shape it names) to reach a target answer
# crop, zoom, rotate, box, marker, text and paste can hide, move or add what the record describes


def keeps(op: str, image_type: str) -> bool:
    """Whether edit ``op`` can keep the ground truth of an image of ``image_type``."""
    return op in KEEP_ALL or (op in FLIPS and image_type in FLIPPABLE)


def edited_scene(spec: dict, scene: Scene) -> Scene | None:
    """The scene record of the edited image, or None when the edit makes the record wrong for it.
    Photometric edits and padding keep every fact; flips mirror grid positions; other ops are refused."""
    op = spec["op"]
    if not keeps(op, scene["image_type"]):
        return None
    if op not in FLIPS:
        return scene
    out = copy.deepcopy(scene)
    last = 2 if scene["image_type"] == "shapes" else 3
    for thing in out.get("items") or out.get("dots") or []:
        thing[FLIPS[op]] = last - thing[FLIPS[op]]
    return out


class WorldBackend(AgentBackend):
    name = "world"

    def __init__(self, scenes_path: str | Path, edits: list[str], errors: WorldErrorsConfig | None = None,
                 seed: int = 0):
        table = pq.read_table(scenes_path, columns=["image_id", "scene"])
        self.scenes = dict(zip(table["image_id"].to_pylist(), table["scene"].to_pylist()))
        self.edits = edits
        self.errors, self.seed = errors or WorldErrorsConfig(), seed  # mistakes on purpose (mistakes.py)

    @classmethod
    def from_params(cls, params) -> "WorldBackend":
        return cls(params.generate.world.scenes, list(params.generate.edits), params.generate.world.errors,
                   params.seed)

    def _call(self, role: str) -> list[Call]:
        return [Call(role=role, backend=self.name, model="world-rules")]

    def plan(self, request: PlanRequest, rng) -> Reply[Plan]:
        usable = [e for e in self.edits if keeps(e, request.image_type)]
        edits = [EDITS.load(rng.choice(usable)).sample(rng).spec()] if usable else []
        plan = Plan(cell=request.cell, category=request.category, image_type=request.image_type,
                    query=type_prompt(request.image_type), edits=edits, target=request.target)
        return Reply(plan, calls=self._call("planner"))

    def answer_space(self, cell: str) -> tuple[str, ...] | None:
        """The world knows every template's answers and every image's scene: it aims each attempt at one."""
        template = BY_CELL.get(tuple(cell.split("/", 1)))
        return template.answers if template else None

    def _asks(self, plan, image_id: str, rng, strict: bool = False) -> "Question | None":
        """The cell's question about the (edited) image, aimed at the plan's target answer when it has one: the
        template's own choices (which shape it names) are redrawn a few times to reach it. Aiming is best effort:
        an image that cannot give the target gets its first question (None with ``strict``)."""
        scene = self._scene(image_id, plan.edits)
        if scene is None:
            return None
        category = self._category(plan, image_id, scene)
        first = None
        for _ in range(TARGET_TRIES if plan.target and category == plan.category else 1):
            q = ask(scene, category, rng)
            if q is None or not plan.target or category != plan.category or q.answer == plan.target:
                return q
            first = first or q
        return None if strict else first

    def fits(self, plan, image_id: str) -> bool:
        """Whether the image's scene (after the plan's edits) can answer the plan's target."""
        if not plan.target:
            return True
        probe = random.Random(f"{self.seed}:{plan.cell}:{plan.target}:{image_id}:fits")
        return image_id in self.scenes and self._asks(plan, image_id, probe, strict=True) is not None

    def select(self, plan, candidates: list, rng) -> Reply:
        """A candidate drawn at random, among those whose scene can answer the plan's target when any can."""
        return super().select(plan, [c for c in candidates if self.fits(plan, c.image_id)] or candidates, rng)

    def _scene(self, image_id: str, edits: list[dict]) -> dict | None:
        raw = self.scenes.get(image_id)
        scene = json.loads(raw) if raw else None
        for spec in edits:
            if scene is None:
                break
            scene = edited_scene(spec, scene)
        return scene

    def _category(self, plan, image_id: str, scene: dict) -> str:
        """The cell's category, or (at rate ``off_cell``) another skill the image supports."""
        draw = stream(self.seed, image_id, plan.cell, "off_cell")
        if not self.errors.off_cell or draw.random() >= self.errors.off_cell:
            return plan.category
        others = sorted(c for c, t in CELLS if t == scene["image_type"] and c != plan.category)
        return draw.choice(others) if others else plan.category

    def write(self, plan, image_id, image, rng) -> Reply[Draft]:
        calls = self._call("writer")
        if image_id not in self.scenes:
            return Reply(None, "unknown_image", calls)
        scene = self._scene(image_id, plan.edits)
        if scene is None:
            return Reply(None, "edit_breaks_ground_truth", calls)
        q = self._asks(plan, image_id, rng)
        if q is None:
            return Reply(None, "no_question_for_image", calls)
        answer, draw = q.answer, stream(self.seed, image_id, q.question, "writer")
        if self.errors.writer and draw.random() < self.errors.writer:
            answer = wrong_answer(q.answer, q.answer_type, q.options, scene, draw)
        return Reply(Draft(q.question, answer, q.answer_type, q.options, truth=q.answer,
                           cell=f"{q.category}/{q.image_type}"), calls=calls)

    def validate(self, plan, image_id, image, draft, vote=0) -> Reply[str]:
        """The validator re-reads the scene record: it checks the draft is about the cell (an off-cell draft
        passes when it errs) and answers from the record, erring as ``generate.world.errors`` says (the openai
        backend's validator answers on its own)."""
        calls = self._call("validator")
        scene = self._scene(image_id, plan.edits)
        draw = stream(self.seed, image_id, draft.question, f"validator{vote or ''}")  # each vote errs on its own

        def erred() -> bool:
            return bool(self.errors.validator) and draw.random() < self.errors.validator

        if scene is None or scene["image_type"] != plan.image_type or draft.cell not in (None, plan.cell):
            if scene is None or not erred():
                return Reply(None, "off_cell", calls)
        truth = draft.truth if draft.truth is not None else draft.answer
        if draft.answer != truth and self.errors.shared and draw.random() < self.errors.shared:
            return Reply(draft.answer, calls=calls)  # one model fails alike
        if erred():
            return Reply(wrong_answer(truth, draft.answer_type, draft.options, scene, draw), calls=calls)
        return Reply(truth, calls=calls)
