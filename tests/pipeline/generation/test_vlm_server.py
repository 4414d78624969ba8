"""The vision roles against a real OpenAI-compatible VLM server: `transformers serve` on 127.0.0.1 serving a
tiny Qwen2.5-VL the test builds (random weights, offline). Its replies are noise, so the tests check the
protocol and the bookkeeping: the image reaches the model (the server counts its tokens), each reply is
parsed or rejected with the role's recorded reason (never a transport error), every call and its tokens
are counted, and a budget stops generation cleanly."""

import json

import pytest
from PIL import Image

from pipeline.generation import roles as R
from pipeline.generation.attempt import RoundInputs
from pipeline.generation.generate import Budget, generate
from pipeline.generation.openai_agents import OpenAIBackend, RoleClient
from pipeline.generation.params import GenerateConfig, OpenAIAgentsConfig
from pipeline.pool.search import PoolSearch
from tests.pipeline.generation.test_openai_agents import PLAN
from tests.servers import Endpoint, transformers_serve

pytestmark = pytest.mark.slow  # builds a model and starts a server


@pytest.fixture(scope="module")
def vlm_server(tmp_path_factory):
    from pipeline.models.vlm import (
        TinyVLMSpec,
        build_model,
        build_processor,
        train_tokenizer,
    )

    tmp = tmp_path_factory.mktemp("vlm")
    text = 'How many dots are there? {"answer": "3", "choice": 0, "score": 0.5, "edits": []} red blue question'
    tokenizer = train_tokenizer([text] * 20, 300)
    build_model(TinyVLMSpec(image_size=56, vocab_size=len(tokenizer), text_hidden=64, vision_hidden=32), tokenizer,
                0).save_pretrained(tmp / "model")
    build_processor(tokenizer, 56).save_pretrained(tmp / "model")
    with transformers_serve(tmp / "model", tmp) as url:
        yield url, str(tmp / "model")


STEPS = {
    "selector": (R.SelectorIn(category="counting", question_kind="count the dots", candidates=2), R.SelectorOut, 2),
    "editor": (R.EditorIn(edit_intent="brighter", operations="- brightness: factor 0.5-1.5"), R.EditorOut, 1),
    "writer": (R.WriterIn(category="counting", question_kind="count the dots", answer_type="integer"), R.WriterOut, 1),
    "validator": (R.ValidatorIn(question="How many dots?", options="none", answer_type="integer"), R.ValidatorOut, 1),
}


@pytest.mark.parametrize("role", list(STEPS))
def test_vision_roles_reach_the_model_with_their_images(vlm_server, role):
    url, model = vlm_server
    cfg = OpenAIAgentsConfig(base_url=url, model=model, max_tokens=16, reply_retries=1, timeout=120)
    step, out, n = STEPS[role]
    client = RoleClient(role, cfg)
    image = Image.new("RGB", (300, 200), (200, 30, 30))
    with_images = client.ask(step, out, (image,) * n)
    without = client.ask(step, out)
    assert with_images.reason in ("", f"invalid_reply.{role}")  # noise is rejected as the role's, not transport
    assert with_images.calls and all(c.role == role and c.completion_tokens > 0 for c in with_images.calls)
    # the server saw the image: the same prompt with it costs more prompt tokens (its patches)
    assert with_images.calls[0].prompt_tokens > without.calls[0].prompt_tokens


def test_generation_against_the_served_vlm_stops_at_its_budget(world_pool, vlm_server):
    url, model = vlm_server
    planner = Endpoint(script=lambda body: json.dumps(PLAN))  # a plan, so the vision roles get their turn
    cfg = OpenAIAgentsConfig(base_url=url, model=model, max_tokens=16, reply_retries=0, timeout=120,
                             roles={"planner": {"base_url": planner.url, "model": "planner"}})
    out, clip_dir, pool_manifest, vectors = world_pool
    ctx = RoundInputs(backend=OpenAIBackend(cfg, list(GenerateConfig().edits)),
                      search=PoolSearch(vectors, str(clip_dir)),
                      pool_manifest=pool_manifest, brief="counting is weak", diagnosis_hash="d" * 16, round_name="r1",
                      seed=3, top_k=8)
    try:
        samples, attempts, counts = generate({"variety/objects": 4}, ctx, 6, budget=Budget(calls=6))
    finally:
        planner.close()
    assert counts["stopped.calls"] == 1 and counts["accepted"] == len(samples)
    assert len(attempts) == counts["attempts"] >= 3 and all(a.reason or a.outcome == "accepted" for a in attempts)
    calls = [c for a in attempts for c in json.loads(a.calls)]
    assert {c["model"] for c in calls if c["role"] != "planner"} == {model} and counts["calls.selector"] >= 1
    assert counts["tokens.prompt"] == sum(c["prompt_tokens"] for c in calls) > 0
    assert counts["tokens.prompt"] == sum(v for k, v in counts.items() if k.endswith(".prompt") and k.count(".") == 2)
    assert counts["tokens.completion"] == sum(c["completion_tokens"] for c in calls) > 0
