"""The round gate: its paired checks, its choice, the weight interpolation, and the stage's gate on a real
model that a round made worse (carried over) or left as good (kept)."""

from __future__ import annotations

import pytest
import torch

from pipeline.training import gate
from pipeline.training.params import GateConfig, TrainConfig


def test_a_candidate_that_gains_overall_but_loses_a_category_beyond_noise_fails():
    before = [True] * 50 + [False] * 50 + [True] * 20
    after = [True] * 50 + [True] * 30 + [False] * 20 + [False] * 20  # +30 in x, -20 in y
    cats = ["x"] * 100 + ["y"] * 20
    c = gate.check(1.0, before, after, cats, z=1.645)
    assert c.overall.diff == pytest.approx(10 / 120, abs=1e-6)
    assert c.losing == ["y"] and not c.passes(0.0)
    assert gate.decide([c], 0.0) is None  # carried over
    small = gate.check(0.5, before, before[:119] + [False], cats, z=1.645)  # one item lost: within noise
    assert small.losing == [] and not small.passes(0.0)  # but no gain either


def test_the_best_passing_candidate_wins_and_min_gain_is_a_floor():
    before = [False] * 100
    half = gate.check(0.5, before, [True] * 10 + [False] * 90, ["x"] * 100, z=1.645)
    whole = gate.check(1.0, before, [True] * 6 + [False] * 94, ["x"] * 100, z=1.645)
    assert gate.decide([whole, half], 0.0) is half
    assert gate.decide([whole, half], 0.08) is half and gate.decide([whole], 0.08) is None


def test_paired_change_is_zero_with_no_spread_for_identical_answers():
    change = gate.paired_change([True, False, True], [True, False, True])
    assert (change.diff, change.se, change.n) == (0.0, 0.0, 3)
    with pytest.raises(ValueError):
        gate.paired_change([True], [True, False])


def test_interpolate_scales_the_update_and_leaves_integer_buffers():
    prev = {"w": torch.zeros(3), "n": torch.tensor([1])}
    new = {"w": torch.tensor([2.0, 4.0, -2.0]), "n": torch.tensor([5])}
    out = gate.interpolate(prev, new, 0.5)
    assert out["w"].tolist() == [1.0, 2.0, -1.0] and out["n"].tolist() == [5]
    assert torch.equal(gate.interpolate(prev, new, 1.0)["w"], new["w"])


def test_gate_params_are_checked_before_any_work():
    with pytest.raises(ValueError, match="each must be in"):
        GateConfig(steps=[1.5])
    with pytest.raises(ValueError, match="full fine-tuning"):
        TrainConfig(reference="base", lora={"rank": 4})
    assert TrainConfig(reference="previous", lora={"rank": 4}).lora.rank == 4


def test_metrics_record_the_decision_and_every_candidate():
    ok = gate.Change(0.02, 0.01, 100)
    chosen = gate.Check(0.5, ok, {"x": ok}, 1.645)
    m = gate.metrics([chosen], chosen, 0.6, 100, 1.0)
    assert m["gate.step"] == 0.5 and m["gate.accepted"] == 1 and m["gate.candidates.0.5.category.x"] == 0.02
    assert gate.metrics([chosen], None, 0.6, 100, 1.0)["gate.step"] == gate.CARRY


def _params(dev, steps):
    from stages.train import Params

    return Params.model_validate({"train": {"gate": {"source": str(dev), "half": "all", "steps": steps}},
                                  "answer": {"max_new_tokens": 3}})


def _colour_items(path, n: int):
    """Items the warmed-up family model answers about half right (it was taught red/blue on these questions)."""
    from pipeline import artifacts, schemas
    from tests import families

    rows = [{f.name: None for f in schemas.ITEMS} | r | {"question": "What colour is the shape?",
                                                         "answer_type": "word", "answer": c, "category": k}
            for r, c, k in zip(families.world_rows(n), ["red", "blue"] * n, ["a", "a", "b"] * n)]
    artifacts.write_parquet(path, rows, schemas.ITEMS)
    return path


def _broken(model):
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lm_head" in name or "embed_tokens" in name:
                param.mul_(-1.0)  # a round that wrecked the language model: every answer is garbage
    return model


def _same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_the_stage_gate_carries_over_a_round_that_broke_the_model_and_keeps_one_that_helped(tmp_path):
    from pipeline.models.checkpoint import load
    from pipeline.training.round import run_gate
    from tests import families

    good = families.build("qwen2_5_vl", tmp_path / "good", warm_up=40)
    dev = _colour_items(tmp_path / "dev.parquet", 24)
    previous, processor = load(good, device=None)
    trained = _broken(load(good, device=None)[0])
    stats = run_gate(trained, processor, str(good), _params(dev, [1.0, 0.5]))
    assert stats["gate.before"] > 0.2 and stats["gate.candidates.1.gain"] < 0
    assert stats["gate.accepted"] == 0 and stats["gate.step"] == 0.0 and stats["gate.items"] == 24
    assert _same(trained, previous)  # the carried-over model is the previous one, weight for weight

    broken = _broken(load(good, device=None)[0])
    broken.save_pretrained(tmp_path / "broken")
    processor.save_pretrained(tmp_path / "broken")
    helped = load(good, device=None)[0]
    stats = run_gate(helped, processor, str(tmp_path / "broken"), _params(dev, [1.0]))
    assert stats["gate.accepted"] == 1 and stats["gate.step"] == 1.0 and stats["gate.gain"] > 0.2
    assert _same(helped, previous)  # kept as trained
