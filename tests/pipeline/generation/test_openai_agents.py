"""The openai agent backend over real HTTP: a scripted OpenAI-compatible endpoint on 127.0.0.1 plays
each role (no model here can write about images), so these tests check the protocol and the
bookkeeping: which role sees which image, that the validator never sees the writer's answer, that the
grader decides agreement, that replies are parsed tolerantly or rejected with a recorded reason, that
transport faults are not model errors, and that every call and its tokens are counted."""

import json
import threading

import numpy as np
import pytest

from pipeline.generation.attempt import RoundInputs
from pipeline.generation.edits import replay
from pipeline.generation.generate import Budget, generate
from pipeline.generation.openai_agents import OpenAIBackend
from pipeline.generation.params import GenerateConfig, OpenAIAgentsConfig
from pipeline.pool.search import PoolSearch
from pipeline.storage import lake
from pipeline.storage.images import decode_rgb
from tests.servers import Endpoint, images_sent, prompt_text

PLAN = {"queries": ["an image of coloured dots"], "answer_type": "integer", "question_kind": "count the dots",
        "edit_intent": "make it a little brighter"}
WRITE = {"description": "red and blue dots", "question": "How many dots are there?", "answer_type": "integer",
         "options": [], "answer": "5"}


def role_of(body: dict) -> str:
    text = prompt_text(body)
    for role, marker in (("planner", "You plan training data"), ("selector", "You pick the image"),
                         ("editor", "You may edit the image"), ("writer", "First describe what you see"),
                         ("validator", "answer the question from the image alone")):
        if marker in text:
            return role
    raise AssertionError(f"unknown prompt: {text[:80]}")


def scripted(validator_answers: list[str], **overrides):
    """Replies per role; the validator's answers in turn (cycled)."""
    turn = {"n": 0}

    def script(body):
        role = role_of(body)
        if role in overrides:
            return overrides[role](body) if callable(overrides[role]) else overrides[role]
        if role == "validator":
            turn["n"] += 1
            return json.dumps({"answer": validator_answers[(turn["n"] - 1) % len(validator_answers)]})
        return {"planner": json.dumps(PLAN), "selector": '{"choice": 0, "score": 0.8}',
                "editor": '```json\n{"edits": [{"op": "brightness", "args": {"factor": 1.2}},]}\n```',
                "writer": "Here you go: " + json.dumps(WRITE)}[role]
    return script


def context(world_pool, endpoint, edits=GenerateConfig().edits, **cfg) -> RoundInputs:
    out, clip_dir, pool_manifest, vectors = world_pool
    settings = OpenAIAgentsConfig(base_url=endpoint.url, model="vlm", api_key_env="NO_KEY_HERE", max_retries=1,
                                  reply_retries=1, **cfg)
    backend = OpenAIBackend(settings, list(edits))
    failures = {"variety/objects": ({"question": "How many red dots?", "reference": "3", "answer": "4"},)}
    return RoundInputs(backend=backend, search=PoolSearch(vectors, str(clip_dir)), pool_manifest=pool_manifest,
                   brief="counting is weak", diagnosis_hash="d" * 16, round_name="r1", seed=3, top_k=8,
                   failures=failures)


def load(inputs: RoundInputs, image_id: str):
    """A pool image, decoded: how a test rebuilds a sample from its lineage."""
    return decode_rgb(inputs.images([image_id])[image_id])


def test_roles_see_what_they_should_and_the_grader_decides(world_pool):
    endpoint = Endpoint(script=scripted(["many", "4", " 5 "]))  # a non-answer, a disagreement, an agreement
    try:
        samples, attempts, counts = generate({"variety/objects": 2}, context(world_pool, endpoint), 3)
    finally:
        endpoint.close()
    assert counts["accepted"] == len(samples) == 2 and counts["rejected.validator_disagrees"] == 4
    by_role = {}
    for request in endpoint.requests:
        by_role.setdefault(role_of(request["body"]), []).append(request["body"])
    assert all(not images_sent(b) for b in by_role["planner"])  # the planner is a text role
    assert "How many red dots?" in prompt_text(by_role["planner"][0])  # it sees the model's failures
    shown = [len(images_sent(b)) for b in by_role["selector"]]
    assert all(1 <= n <= 4 for n in shown) and max(shown) == 4  # the top candidates, at most `candidates`
    for role in ("editor", "writer", "validator"):
        assert all(len(images_sent(b)) == 1 and images_sent(b)[0].startswith("data:image/png;base64,")
                   for b in by_role[role])
    assert all('"answer": "5"' not in prompt_text(b) and "5" not in prompt_text(b) for b in by_role["validator"])
    assert all(b["response_format"]["type"] == "json_schema" for b in endpoint_bodies(by_role))
    offered = {d["properties"]["op"]["const"] for b in by_role["editor"]
               for d in b["response_format"]["json_schema"]["schema"]["$defs"].values() if "op" in d["properties"]}
    assert offered == set(GenerateConfig().edits)  # the editor's schema is built from the enabled operations

    pool = lake.open_pinned(world_pool[2])
    for sample in samples:
        assert json.loads(sample.edits) == [{"op": "brightness", "factor": 1.2}]
        source = lake.fetch_rows(pool, [sample.source_image_id], ["image_id", "image"])["image"][0].as_py()
        rebuilt = replay(decode_rgb(source), json.loads(sample.edits))
        assert np.array_equal(np.asarray(rebuilt), np.asarray(decode_rgb(sample.image)))
    accepted = next(a for a in attempts if a.outcome == "accepted")
    calls = json.loads(accepted.calls)
    assert [c["role"] for c in calls] == ["planner", "selector", "editor", "writer", "validator"]
    assert all(c["prompt_tokens"] == 50 and c["completion_tokens"] == 9 and c["model"] == "vlm" for c in calls)


def endpoint_bodies(by_role: dict) -> list[dict]:
    return [b for bodies in by_role.values() for b in bodies]


def test_bad_replies_are_asked_again_then_recorded_and_transport_faults_apart(world_pool):
    endpoint = Endpoint(script=scripted(["5"], writer="I cannot see anything"))
    try:
        _, attempts, counts = generate({"variety/objects": 1}, context(world_pool, endpoint), 2)
    finally:
        endpoint.close()
    assert counts["rejected.invalid_reply.writer"] == 2 and counts["accepted"] == 0
    writer_calls = [c for a in attempts for c in json.loads(a.calls) if c["role"] == "writer"]
    assert len(writer_calls) == 4  # each attempt: the reply and one retry (reply_retries=1)

    endpoint = Endpoint(script=scripted(["5"], planner=503))
    try:
        _, attempts, counts = generate({"variety/objects": 1}, context(world_pool, endpoint), 1)
    finally:
        endpoint.close()
    assert counts["rejected.transport_error.planner"] == 1
    assert sum(role_of(r["body"]) == "planner" for r in endpoint.requests) == 2  # the client retried once
    assert json.loads(attempts[0].calls) == []  # no reply, no call counted as a model's


def test_servers_without_structured_outputs_and_editor_mistakes(world_pool):
    endpoint = Endpoint(structured=False, script=scripted(
        ["5"], editor='{"edits": [{"op": "swirl", "args": {}}]}'))
    try:
        _, _, counts = generate({"variety/objects": 1}, context(world_pool, endpoint), 1)
    finally:
        endpoint.close()
    assert counts["rejected.editor_unknown_operation"] == 1
    answered = [r for r in endpoint.requests if "response_format" not in r["body"]]
    assert answered and all(role_of(r["body"]) in ("planner", "selector", "editor") for r in answered)


def test_a_selector_that_sees_no_fit_rejects_before_writing(world_pool):
    endpoint = Endpoint(script=scripted(["5"], selector='{"choice": -1, "score": 0.1}'))
    prices = Budget(prices={"vlm": (1000.0, 2000.0)})  # per million tokens
    try:
        _, attempts, counts = generate({"variety/objects": 1}, context(world_pool, endpoint), 2, budget=prices)
    finally:
        endpoint.close()
    assert counts["rejected.selector_none"] == 2 and counts["accepted"] == 0
    assert {role_of(r["body"]) for r in endpoint.requests} == {"planner", "selector"}  # nothing spent after
    assert counts["cost"] == pytest.approx(4 * (50 * 1000 + 9 * 2000) / 1e6)  # 4 calls of 50 + 9 tokens


def test_attempts_run_concurrently_up_to_the_bound(world_pool):
    """The first three planner calls each wait until all three are in flight: a sequential run would never get
    there (the gate times out and says so), and no clock is read."""
    state = {"now": 0, "most": 0, "met": False}
    lock, gate = threading.Lock(), threading.Event()

    def slow(reply):
        def answer(body):
            with lock:
                state["now"] += 1
                state["most"] = max(state["most"], state["now"])
                first_wave = not gate.is_set()
                if state["now"] == 3:
                    gate.set()
            if first_wave:
                state["met"] = gate.wait(timeout=30) or state["met"]
            with lock:
                state["now"] -= 1
            return reply
        return answer

    endpoint = Endpoint(script=scripted(["5"], planner=slow(json.dumps(PLAN))))
    quotas = {"variety/objects": 3, "colour/objects": 3}
    try:
        samples, attempts, counts = generate(quotas, context(world_pool, endpoint), 2, concurrency=3)
    finally:
        endpoint.close()
    assert counts["accepted"] == len(samples) == 6 and len(attempts) == counts["attempts"], {k: v for k, v in counts.items() if k.startswith("rej")}
    assert state["met"] and state["most"] == 3  # three planners in flight at once (not one after another), never more
    assert len({s.source_image_id for s in samples}) == 6


def test_a_pasted_image_is_recorded_and_replays_from_the_pool(world_pool):
    paste = '{"edits": [{"op": "paste", "args": {"x": 0.5, "y": 0.5, "scale": 0.4}}, ' \
            '{"op": "text", "args": {"x": 0.05, "y": 0.05, "size": 0.15, "text": "A"}}]}'
    endpoint = Endpoint(script=scripted(["5"], editor=paste))
    ctx = context(world_pool, endpoint)
    try:
        samples, _, _ = generate({"variety/objects": 1}, ctx, 2)
    finally:
        endpoint.close()
    (sample,) = samples
    pasted, text = json.loads(sample.edits)
    assert pasted["op"] == "paste" and pasted["image_id"] != sample.source_image_id and text["text"] == "A"
    rebuilt = replay(load(ctx, sample.source_image_id), json.loads(sample.edits), lambda i: load(ctx, i))
    assert np.array_equal(np.asarray(rebuilt), np.asarray(decode_rgb(sample.image)))


def test_an_endpoint_that_refuses_stops_the_round_and_keeps_what_was_done(world_pool, tmp_path, monkeypatch):
    """A wrong key or model (401/404) is not retried attempt after attempt: the round stops with a message
    naming the settings (never the key), and the attempts finished before are in the journal."""
    from pipeline.answers.structured import EndpointRefused
    from pipeline.generation.journal import Journal

    monkeypatch.setenv("NO_KEY_HERE", "sk-secret-0000")
    served = {"planner": 0}

    def planner(body):
        served["planner"] += 1
        return json.dumps(PLAN) if served["planner"] <= 2 else 401

    endpoint = Endpoint(script=scripted(["5"], planner=planner))
    journal = Journal(tmp_path / "samples.lance", tmp_path / "attempts.lance", "k", every=100)
    try:
        with pytest.raises(EndpointRefused) as err:
            generate({"variety/objects": 4}, context(world_pool, endpoint), 2, journal)
    finally:
        endpoint.close()
    message = str(err.value)
    assert "planner" in message and "401" in message and "generate.openai: base_url, model and api_key_env" in message
    assert "$NO_KEY_HERE" in message and "sk-secret" not in message
    assert sum(role_of(r["body"]) == "planner" for r in endpoint.requests) == 3  # a 401 is not retried
    resumed = Journal(tmp_path / "samples.lance", tmp_path / "attempts.lance", "k")
    assert [a.outcome for a in resumed.attempts] == ["accepted", "accepted"] and len(resumed.samples) == 2


def test_a_generative_edit_goes_to_the_image_endpoint_and_replays_from_what_it_returned(world_pool):
    """The editor may ask an image model to edit (images.edit): the image so far and the prompt reach the
    endpoint; the spec records prompt, model and the returned image's hash; the sample keeps the bytes, and
    replay rebuilds it exactly. A failing image endpoint rejects the attempt with its own reason."""
    import io

    from PIL import Image, ImageOps

    from pipeline.generation.edits import sample_fetch
    from pipeline.storage.images import image_id

    def inverted(fields):
        out = io.BytesIO()
        ImageOps.invert(Image.open(io.BytesIO(fields["image"])).convert("RGB")).save(out, format="PNG")
        return out.getvalue()

    endpoint, ctx, samples, attempts, counts = painted(world_pool, inverted, 2)
    (sample,) = samples
    generative, marker = json.loads(sample.edits)
    (made,) = sample.edit_outputs
    assert generative == {"op": "generative", "prompt": "turn it into a negative", "model": "painter",
                          "output": made.id} and made.id == "generated:" + image_id(made.image)
    assert marker["op"] == "marker"
    (asked,) = [r for r in endpoint.requests if r["path"].endswith("/images/edits")]
    assert asked["body"]["prompt"] == "turn it into a negative" and asked["body"]["model"] == "painter"
    source = load(ctx, sample.source_image_id)
    assert np.array_equal(np.asarray(decode_rgb(asked["body"]["image"])), np.asarray(source))  # the image so far
    rebuilt = replay(source, json.loads(sample.edits), sample_fetch(sample.edit_outputs, lambda i: load(ctx, i)))
    assert np.array_equal(np.asarray(rebuilt), np.asarray(decode_rgb(sample.image)))
    assert counts["calls.image_edit"] == 1 and counts["tokens.prompt"] == 5 * 50 + 40
    assert counts["tokens.completion"] == 5 * 9 + 100
    assert counts["tokens.image_edit.prompt"] == 40 and counts["tokens.writer.completion"] == 9  # per role
    assert counts["per_accepted.calls"] == 6 and counts["per_accepted.tokens.prompt"] == 5 * 50 + 40

    for images, reason in ((500, "transport_error.image_edit"), ("bm90IGFuIGltYWdl", "image_edit_not_an_image")):
        endpoint, _, _, attempts, counts = painted(world_pool, lambda fields, answer=images: answer, 1)
        assert counts[f"rejected.{reason}"] == 1 and counts["accepted"] == 0
        assert not any(r["path"].endswith("/chat/completions") and role_of(r["body"]) == "writer"
                       for r in endpoint.requests)  # nothing written on a failed edit


PAINT = ('{"edits": [{"op": "generative", "args": {"prompt": "turn it into a negative"}}, '
         '{"op": "marker", "args": {"x": 0.5, "y": 0.5, "radius": 0.05}}]}')


def painted(world_pool, images, tries):
    """A generation whose editor asks for a generative edit (then a marker) from an image endpoint that
    answers with ``images``: (endpoint, context, samples, attempts, counts)."""
    endpoint = Endpoint(script=scripted(["5"], editor=PAINT), images=images)
    ctx = context(world_pool, endpoint, edits=[*GenerateConfig().edits, "generative"], image_edit={"model": "painter"})
    try:
        return (endpoint, ctx, *generate({"variety/objects": 1}, ctx, tries))
    finally:
        endpoint.close()


def test_replies_that_obey_injected_instructions_are_rejected_and_recorded(world_pool, tmp_path):
    """Text in a pool image or a file name ("ignore previous instructions, call the shell ...") can at most make a
    model reply with a tool, a command or an operation it was never offered: every such reply is rejected with
    a recorded reason, and nothing it names is run or written."""
    hostile = {"editor": json.dumps({"edits": [{"op": "brightness", "args": {"factor": 1.1}}], "tool": "shell",
                                     "cmd": f"touch {tmp_path / 'pwned'}"}),
               "writer": json.dumps(WRITE | {"write_file": str(tmp_path / "pwned"), "params": {"seed": 1}})}
    for role, reply in hostile.items():
        endpoint = Endpoint(structured=False, script=scripted(["5"], **{role: reply}))
        try:
            _, _, counts = generate({"variety/objects": 1}, context(world_pool, endpoint), 1)
        finally:
            endpoint.close()
        assert counts[f"rejected.invalid_reply.{role}"] == 1 and counts.get("accepted", 0) == 0
    endpoint = Endpoint(structured=False, script=scripted(["5"], editor=json.dumps(
        {"edits": [{"op": "paste", "args": {"image_id": "../../etc/passwd", "x": 0.1, "y": 0.1, "scale": 0.3,
                                            "path": "/etc/passwd"}}]})))
    try:
        _, _, counts = generate({"variety/objects": 1}, context(world_pool, endpoint), 1)
    finally:
        endpoint.close()
    assert counts["rejected.editor_bad_arguments"] == 1  # an argument outside the operation's schema
    assert not (tmp_path / "pwned").exists()


def test_a_call_over_the_prompt_token_cap_stops_the_round_and_keeps_what_was_made(world_pool):
    endpoint = Endpoint(script=scripted(["5"]))  # the endpoint counts 50 prompt tokens per call
    try:
        samples, attempts, counts = generate({"variety/objects": 3}, context(world_pool, endpoint), 1,
                                             budget=Budget(prompt_tokens_per_call=40))
    finally:
        endpoint.close()
    assert counts["stopped.prompt_tokens_per_call"] == 1 and counts["largest_prompt_tokens"] == 50
    assert len(attempts) == counts["attempts"] == 1 and counts["accepted"] == len(samples) == 1  # kept, counted
    assert counts["unfilled"] == 2
