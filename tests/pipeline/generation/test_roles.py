import pytest
from pydantic import ValidationError

from pipeline.config.registry import EDITS
from pipeline.generation import roles as R


def ops(*names):
    return {name: EDITS.load(name) for name in names}


def edit_defs(schema: dict) -> dict:
    return {d["properties"]["op"]["const"]: d for d in schema["$defs"].values() if "op" in d.get("properties", {})}


def test_the_editor_schema_offers_exactly_the_enabled_operations_with_their_ranges():
    schema = R.editor_schema(ops("brightness", "hflip", "text", "box")).model_json_schema()
    defs = edit_defs(schema)
    assert set(defs) == {"brightness", "hflip", "text", "box"}
    factor = schema["$defs"]["BrightnessArgs"]["properties"]["factor"]
    assert (factor["minimum"], factor["maximum"]) == EDITS.load("brightness").PARAMS["factor"]
    assert schema["$defs"]["TextArgs"]["properties"]["text"]["maxLength"] == EDITS.load("text").TEXT_PARAMS["text"]
    assert schema["$defs"]["HflipArgs"]["properties"] == {}


@pytest.mark.parametrize("reply,ok", [
    ({"edits": [{"op": "brightness", "args": {"factor": 1.2}}, {"op": "hflip", "args": {}}]}, True),
    ({"edits": []}, True),
    ({"edits": [{"op": "brightness", "args": {"factor": 3.0}}]}, False),           # out of range
    ({"edits": [{"op": "swirl", "args": {}}]}, False),                             # not enabled
    ({"edits": [{"op": "brightness", "args": {"factor": 1.0, "gamma": 2}}]}, False),  # not its parameter
    ({"edits": [{"op": "hflip", "args": {}}] * 4}, False),                         # at most three
])
def test_the_editor_schema_accepts_only_replayable_choices(reply, ok):
    model = R.editor_schema(ops("brightness", "hflip"))
    if ok:
        model.model_validate(reply)
    else:
        with pytest.raises(ValidationError):
            model.model_validate(reply)
    if len(reply["edits"]) > 3:
        with pytest.raises(ValidationError):  # the lenient parse keeps the bound on how many
            R.EditorOut.model_validate(reply)
        return
    lenient = R.EditorOut.model_validate(reply)  # takes any op and arguments, so the pipeline can say which was wrong
    assert [(e.op, e.args) for e in lenient.edits] == [(e["op"], e["args"]) for e in reply["edits"]]
