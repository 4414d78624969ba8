"""The ``openai`` agent backend: every model role through an OpenAI-compatible chat endpoint (vLLM,
SGLang, llama.cpp's server, Ollama, OpenAI, ...), configured by params alone (``generate.openai``: base
URL, model and the *name* of the key's environment variable, with per-role overrides under ``roles``).

Each role is a typed step (``pipeline/generation/roles.py``): its input fills its prompt template, its
reply is asked for as a JSON schema and parsed tolerantly (``pipeline/answers/structured.py``). Images go as
base64 PNG data URLs, downscaled to ``max_image_side``. The openai client retries transport errors, 429s
(honouring Retry-After) and 5xx with backoff; a reply that does not parse is asked again
``reply_retries`` times, then the attempt is rejected with the role's reason. A transport failure is
recorded as such, never as a model's error. Every call is accounted: role, model, tokens, seconds.
"""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass

from PIL import Image

from pipeline.answers.prompts import OPTION_LETTERS, lettered, option_letter
from pipeline.answers.structured import StructuredChat, openai_client, refusal
from pipeline.config.registry import EDITS
from pipeline.generation import roles as R
from pipeline.generation.agents import AgentBackend, Draft, Plan, PlanRequest, Reply
from pipeline.storage.images import data_url, decode_rgb, encode_png
from pipeline.storage.schemas import Call

log = logging.getLogger(__name__)


def image_url(image: Image.Image, max_side: int) -> str:
    """The image as a PNG data URL, its longer side at most ``max_side``."""
    if max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return data_url(encode_png(image))


@dataclass(frozen=True)
class Endpoint:
    """Where one role's calls go: its own settings where given, generate.openai's otherwise."""

    base_url: str
    model: str
    api_key_env: str
    where: str  # the params section that set it, for messages

    @classmethod
    def resolve(cls, cfg, own, where: str) -> "Endpoint":
        pick = lambda key: (getattr(own, key, None) if own else None) or getattr(cfg, key)  # noqa: E731
        return cls(pick("base_url"), pick("model"), pick("api_key_env"), where if own else "generate.openai")

    def client(self, cfg):
        return openai_client(self.base_url, self.api_key_env, cfg.timeout, cfg.max_retries)

    @property
    def settings(self) -> str:
        return f"{self.where}: base_url, model and api_key_env (the key is read from ${self.api_key_env})"


class RoleClient:
    """One role's endpoint: the client and model the role resolves to (its override, else the defaults)."""

    def __init__(self, role: str, cfg):
        endpoint = Endpoint.resolve(cfg, cfg.roles.get(role), f"generate.openai.roles.{role}")
        self.role, self.model, self.cfg = role, endpoint.model, cfg
        self.chat = StructuredChat(endpoint.client(cfg), self.model, role, cfg.max_tokens, settings=endpoint.settings)

    @property
    def structured(self) -> bool:
        """Whether the endpoint still takes JSON-schema response formats."""
        return self.chat.structured

    def ask(self, step: R.Step, out: type, images: tuple[Image.Image, ...] = (), schema: type | None = None) -> Reply:
        """The role's reply parsed as ``out`` (the server asked for ``schema``, default ``out``), or None and
        why; every call counted."""
        content = [{"type": "image_url", "image_url": {"url": image_url(im, self.cfg.max_image_side)}}
                   for im in images]
        messages = [{"role": "user", "content": content + [{"type": "text", "text": R.render(self.role, step)}]}]
        answer = self.chat.ask(messages, out, self.cfg.reply_retries + 1, schema)
        if answer.value is not None:
            return Reply(answer.value, calls=answer.calls)
        log.debug("%s: %s", self.role, answer.problem)
        kind = "transport_error" if answer.transport else "invalid_reply"
        return Reply(None, f"{kind}.{self.role}", answer.calls)


class ImageEditor:
    """The ``generative`` edit's endpoint: OpenAI-compatible ``images.edit`` (``generate.openai.image_edit``).
    Returns the edited image's bytes or the reason there are none; the call is counted as role
    ``image_edit``, with the tokens the server reports. Transport faults are recorded, not raised; a
    refused request (wrong key, model or URL) stops the round, as for the chat roles."""

    role = "image_edit"

    def __init__(self, cfg):
        self.endpoint = Endpoint.resolve(cfg, cfg.image_edit, "generate.openai.image_edit")
        self.model, self.cfg = self.endpoint.model, cfg
        self.client = self.endpoint.client(cfg)

    def edit(self, image: Image.Image, prompt: str) -> tuple[bytes | None, str, list[Call]]:
        from openai import OpenAIError

        began = time.perf_counter()
        try:
            reply = self.client.images.edit(model=self.model, prompt=prompt, n=1,
                                            image=("image.png", encode_png(image), "image/png"))
        except (OpenAIError, ValueError) as err:  # ValueError: a 200 whose body is not an images response
            refused = refusal(err, self.role, self.endpoint.base_url, self.model, self.endpoint.settings)
            if refused:
                raise refused from None
            return None, f"transport_error.{self.role}", []
        usage = getattr(reply, "usage", None)
        call = Call(role=self.role, backend="openai", model=self.model,
                    prompt_tokens=getattr(usage, "input_tokens", 0) or 0,
                    completion_tokens=getattr(usage, "output_tokens", 0) or 0,
                    seconds=round(time.perf_counter() - began, 3))
        encoded = reply.data[0].b64_json if reply.data else None
        if not encoded:
            return None, "image_edit_no_image", [call]
        try:
            data = base64.b64decode(encoded, validate=True)
            decode_rgb(data)
        except (ValueError, OSError):
            return None, "image_edit_not_an_image", [call]
        return data, "", [call]


def operations_text(names: list[str]) -> str:
    """The edit operations the editor may choose, with their parameter ranges, one per line."""
    lines = []
    for name in names:
        op = EDITS.load(name)
        ranges = [f"{p} {lo}-{hi}" for p, (lo, hi) in op.PARAMS.items()]
        ranges += [f"{p} (text, at most {n} characters)" for p, n in op.TEXT_PARAMS.items()]
        ranges = ", ".join(ranges) or "no parameters"
        lines.append(f"- {name}: {ranges}")
    return "\n".join(lines)


class OpenAIBackend(AgentBackend):
    name = "openai"

    def __init__(self, cfg, edits: list[str]):
        self.cfg, self.edits = cfg, list(edits)
        self.clients = {role: RoleClient(role, cfg) for role in R.ROLES}
        self.image_editor = ImageEditor(cfg) if "generative" in self.edits else None
        self.editor_schema = R.editor_schema({name: EDITS.load(name) for name in self.edits})

    @classmethod
    def from_params(cls, params) -> "OpenAIBackend":
        return cls(params.generate.openai, params.generate.edits)

    def prompt_hashes(self) -> dict[str, str]:
        return {role: R.template_hash(role) for role in R.ROLES}

    def plan(self, request: PlanRequest, rng) -> Reply[Plan]:
        step = R.PlannerIn(cell=request.cell, category=request.category, image_type=request.image_type,
                           brief=request.brief, failures=[R.Failure(**f) for f in request.failures])
        reply = self.clients["planner"].ask(step, R.PlannerOut)
        if reply.value is None:
            return reply
        out = reply.value
        return Reply(Plan(cell=request.cell, category=request.category, image_type=request.image_type,
                          query=out.queries[0], more_queries=tuple(out.queries[1:]), answer_type=out.answer_type,
                          question_kind=out.question_kind or request.category, edit_intent=out.edit_intent),
                     calls=reply.calls)

    def select(self, plan, candidates, rng) -> Reply:
        top = candidates[:self.cfg.candidates]
        step = R.SelectorIn(category=plan.category, question_kind=plan.question_kind, candidates=len(top))
        reply = self.clients["selector"].ask(step, R.SelectorOut, tuple(c.image for c in top))
        if reply.value is None:
            return reply
        if not 0 <= reply.value.choice < len(top):
            return Reply(None, "selector_none" if reply.value.choice < 0 else "selector_out_of_range", reply.calls)
        return Reply(top[reply.value.choice], calls=reply.calls, score=reply.value.score)

    def edit(self, plan, image, rng, others=()) -> Reply[list[dict]]:
        if not plan.edit_intent.strip() or not self.edits:
            return Reply([])  # nothing to change: no call spent
        step = R.EditorIn(edit_intent=plan.edit_intent, operations=operations_text(self.edits))
        reply = self.clients["editor"].ask(step, R.EditorOut, (image,), self.editor_schema)
        if reply.value is None:
            return reply
        specs = []
        for op in reply.value.edits:
            if op.op not in self.edits:
                return Reply(None, "editor_unknown_operation", reply.calls)
            try:
                specs.append(EDITS.load(op.op).checked(op.args, rng, others).spec())
            except ValueError:
                return Reply(None, "editor_bad_arguments", reply.calls)
        return Reply(specs, calls=reply.calls)

    def paint(self, image, prompt) -> Reply[tuple[bytes, str]]:
        if self.image_editor is None:
            return super().paint(image, prompt)
        made, reason, calls = self.image_editor.edit(image, prompt)
        return Reply(None if made is None else (made, self.image_editor.model), reason, calls)

    def write(self, plan, image_id, image, rng) -> Reply[Draft]:
        answer_type = plan.answer_type or "word"
        step = R.WriterIn(category=plan.category, question_kind=plan.question_kind, answer_type=answer_type)
        reply = self.clients["writer"].ask(step, R.WriterOut, (image,))
        if reply.value is None:
            return reply
        out = reply.value
        options = out.options if out.answer_type == "choice" else []
        if out.answer_type == "choice" and not 2 <= len(options) <= len(OPTION_LETTERS):
            return Reply(None, "writer_bad_options", reply.calls)
        answer = (option_letter(out.answer, options) if options else None) or out.answer.strip()
        return Reply(Draft(out.question, answer, out.answer_type, options), calls=reply.calls)

    def validate(self, plan, image_id, image, draft, vote=0) -> Reply[str]:
        """Answers from the image alone: the writer's answer is never shown. A second vote is another call, as
        independent as the endpoint's sampling (or point roles.validator at another model)."""
        step = R.ValidatorIn(question=draft.question, options="\n".join(lettered(draft.options)) or "none",
                             answer_type=draft.answer_type)
        reply = self.clients["validator"].ask(step, R.ValidatorOut, (image,))
        if reply.value is None:
            return reply
        return Reply(reply.value.answer, calls=reply.calls)
