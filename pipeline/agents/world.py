"""The offline agent backend of the embedded world.

It stands in for a strong annotator: it knows each pool image's scene record (kept apart from the
pool, which stays unlabeled), carries it through the recorded edits, and asks the world's question
families. Planning is by rule from the cell and seeded choice, so a run is reproducible.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.agents.base import AgentBackend, Call, Draft, Plan, Verdict, register
from pipeline.edits import EDITS, from_spec
from pipeline.grading import parse_answer
from pipeline.world.captions import type_prompt
from pipeline.world.questions import ask


@register("world")
class WorldBackend(AgentBackend):
    def __init__(self, scenes_path: str | Path, edits: list[str]):
        table = pq.read_table(scenes_path, columns=["image_id", "scene"])
        self.scenes = dict(zip(table["image_id"].to_pylist(), table["scene"].to_pylist()))
        self.edits = edits

    def _call(self, role: str) -> list[Call]:
        return [Call(role=role, backend=self.name, model="world-rules")]

    def plan(self, cell, brief, rng):
        category, image_type = cell.split("/")
        usable = [e for e in self.edits if EDITS[e].keeps(image_type)]
        edits = [EDITS[rng.choice(usable)].sample(rng).spec()] if usable else []
        return Plan(cell=cell, category=category, image_type=image_type, query=type_prompt(image_type),
                    edits=edits), self._call("planner")

    def _scene(self, image_id: str, edits: list[dict]) -> dict | None:
        raw = self.scenes.get(image_id)
        scene = json.loads(raw) if raw else None
        for spec in edits:
            if scene is None:
                break
            scene = from_spec(spec).scene(scene)
        return scene

    def write(self, plan, image_id, image, rng):
        calls = self._call("writer")
        if image_id not in self.scenes:
            return None, "unknown_image", calls
        scene = self._scene(image_id, plan.edits)
        if scene is None:
            return None, "edit_breaks_ground_truth", calls
        q = ask(scene, plan.category, rng)
        if q is None:
            return None, "no_question_for_image", calls
        return Draft(q.question, q.answer, q.answer_type, q.options), "", calls

    def validate(self, plan, image_id, image, draft):
        calls = self._call("validator")
        scene = self._scene(image_id, plan.edits)
        if scene is None or scene["image_type"] != plan.image_type:
            return Verdict(False, "off_cell"), calls
        if parse_answer(draft.answer, draft.answer_type, draft.options) is None:
            return Verdict(False, "malformed_answer"), calls
        return Verdict(True), calls
