"""Faults between the pipeline and a real server: a proxy on 127.0.0.1 injects timeouts, 429 with
Retry-After, 500s, connection resets, truncated and non-JSON bodies and schema-invalid replies. Each is
retried (by the openai client, or asked again) or recorded as the attempt's reason; a transport fault is
never counted as a model's call, and generation completes."""

import json
import random

import pytest

from pipeline.generation import roles as R
from pipeline.generation.attempt import RoundInputs
from pipeline.generation.generate import generate
from pipeline.generation.openai_agents import OpenAIBackend, RoleClient
from pipeline.generation.params import GenerateConfig, OpenAIAgentsConfig
from pipeline.pool.search import PoolSearch
from tests.pipeline.generation.test_openai_agents import scripted
from tests.servers import Endpoint, FaultProxy

pytestmark = pytest.mark.slow  # starts model servers

ANSWERED = ("pass", "schema")  # the faults after which the client holds a model's reply


def plan_step() -> R.PlannerIn:
    return R.PlannerIn(cell="variety/objects", category="variety", image_type="objects",
                       brief="Counting coloured dots is weak.", failures=[])


@pytest.mark.parametrize("fault", FaultProxy.FAULTS)
def test_each_fault_before_llama_cpp_is_retried(llama_cpp, fault):
    # the client's timeout must outlast a real reply from a CPU model on a busy machine (~3-9 s here), and the
    # injected delay must outlast the timeout
    proxy = FaultProxy(llama_cpp, [fault], delay=30.0, retry_after=1.0)
    cfg = OpenAIAgentsConfig(base_url=proxy.url, model="smollm2", max_tokens=120, reply_retries=1, timeout=25.0,
                             max_retries=2)
    try:
        reply = RoleClient("planner", cfg).ask(plan_step(), R.PlannerOut)
    finally:
        proxy.close()
    faults = [f for _, f in proxy.log]
    assert faults[0] == fault and set(faults[1:]) <= {"pass"} and len(faults) >= 2  # retried, then through
    assert reply.reason in ("", "invalid_reply.planner")  # the model's reply, parsed or not: never transport
    assert len(reply.calls) == sum(f in ANSWERED for f in faults)  # only replies count as calls
    assert all(c.prompt_tokens > 0 for c in reply.calls)
    if fault == "429":
        assert proxy.log[1][0] - proxy.log[0][0] >= 1.0  # Retry-After honoured


@pytest.mark.parametrize("faults, retries", [(["500"] * 3, 2), (["reset"] * 2, 1), (["nonjson"] * 2, 0)])
def test_faults_that_persist_are_recorded_as_transport_errors(llama_cpp, faults, retries):
    proxy = FaultProxy(llama_cpp, faults, retry_after=0.1)
    cfg = OpenAIAgentsConfig(base_url=proxy.url, model="smollm2", max_tokens=60, reply_retries=1, timeout=30,
                             max_retries=retries)
    try:
        reply = RoleClient("planner", cfg).ask(plan_step(), R.PlannerOut)
    finally:
        proxy.close()
    assert reply.value is None and reply.reason == "transport_error.planner" and reply.calls == []
    assert len(proxy.log) == len(faults)


def test_generation_through_random_faults_completes_with_exact_bookkeeping(world_pool):
    rng = random.Random(0)
    faults = [f for fault in FaultProxy.FAULTS for f in (fault, "pass", "pass")]  # each kind early, then at random
    faults += [rng.choice(FaultProxy.FAULTS) if rng.random() < 0.3 else "pass" for _ in range(400)]
    endpoint = Endpoint(script=scripted(["5"]))
    proxy = FaultProxy(endpoint.url, faults, delay=1.5, retry_after=0.2)
    out, clip_dir, pool_manifest, vectors = world_pool
    cfg = OpenAIAgentsConfig(base_url=proxy.url, model="vlm", api_key_env="NO_KEY_HERE", timeout=1.0,
                             max_retries=2, reply_retries=1)
    ctx = RoundInputs(backend=OpenAIBackend(cfg, list(GenerateConfig().edits)),
                      search=PoolSearch(vectors, str(clip_dir)),
                      pool_manifest=pool_manifest, brief="counting is weak", diagnosis_hash="d" * 16, round_name="r1",
                      seed=3, top_k=8)
    try:
        samples, attempts, counts = generate({"variety/objects": 4, "colour/objects": 4}, ctx, 3, concurrency=2)
    finally:
        proxy.close()
        endpoint.close()
    seen = [f for _, f in proxy.log]
    assert set(FaultProxy.FAULTS) <= set(seen), "every kind of fault was injected"
    assert len(attempts) == counts["attempts"] and counts["accepted"] == len(samples) >= 6
    calls = [c for a in attempts for c in json.loads(a.calls)]
    assert len(calls) == sum(f in ANSWERED for f in seen)  # every reply counted once, no fault counted
    reasons = {a.reason for a in attempts if a.reason}
    assert all(r.startswith(("transport_error.", "invalid_reply.", "source_in_use", "duplicate_")) for r in reasons)
