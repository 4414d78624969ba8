"""The round gate: its paired checks, its choice, the weight interpolation, and the stage's gate on a real
model that a round made worse (carried over) or left as good (kept)."""

from __future__ import annotations

import pytest
import torch

from pipeline.training import gate
from pipeline.training.params import GateConfig, TrainConfig

# The gate half of the world's dev set: 192 items per cell, 13 cells in 8 categories.
SIZES = {"counting": 576, "arithmetic": 384, "chart": 384, "colour": 384, "size": 192, "spatial": 192, "table": 192,
         "text": 192}
CATS = [c for c, n in SIZES.items() for _ in range(n)]
DISCORDANCE, BASE = 0.045, 0.62  # the measured r0 -> r1 share of items that change grade (4.5%); r0's accuracy


def simulate(rng, gain: float, steps=(1.0, 0.5), margin: float = 0.05, before=None):
    """One gate on simulated grades: each step flips items both ways (discordance and gain scaled by the step),
    tried in order as the stage tries them. Returns (chosen check or None, the grades before)."""
    import numpy as np

    n = len(CATS)
    before = rng.random(n) < BASE if before is None else before
    z, checks = gate.step_z(0.05, len(steps)), []
    for step in steps:
        d, g = DISCORDANCE * step, gain * step
        up, down = (d + g) / (2 * (1 - BASE)), (d - g) / (2 * BASE)
        after = np.where(before, rng.random(n) >= down, rng.random(n) < up)
        checks.append(gate.check(step, before.tolist(), after.tolist(), CATS, z, 0.0, margin))
        if checks[-1].passes:
            break
    return gate.decide(checks), before


def test_a_round_that_changed_nothing_passes_at_most_alpha_and_real_gains_pass():
    """1,000 simulated gates per true gain at the default sizes: no change is accepted <= 5% of the time (the
    per-step level split); +0.02 and +0.03 spread over the categories are accepted >= 95% of the time. Measured
    here (seed 0): 4.3%, 99.8%, 100%. An accepted null round records +0.008 on average: the gate's threshold, not
    the choice between steps, is what makes a recorded gain optimistic, and it is why claims come from other items."""
    import numpy as np

    rates, recorded = {}, {}
    for gain in (0.0, 0.02, 0.03):
        rng = np.random.default_rng(0)
        chosen = [simulate(rng, gain)[0] for _ in range(1000)]
        rates[gain] = sum(c is not None for c in chosen) / len(chosen)
        recorded[gain] = np.mean([c.overall.diff for c in chosen if c is not None])
    assert rates[0.0] <= 0.05, rates
    assert rates[0.02] >= 0.95 and rates[0.03] >= 0.98, rates
    assert 0 < recorded[0.0] < 0.015 and abs(recorded[0.03] - 0.03) < 0.003, recorded


def test_the_old_point_estimate_gate_passed_noise_about_half_the_time():
    """What the gate replaced: `gain > 0` on the point estimate and the better of two steps."""
    import numpy as np

    rng, passed = np.random.default_rng(1), 0
    n = len(CATS)
    for _ in range(400):
        before = rng.random(n) < BASE
        gains = []
        for step in (1.0, 0.5):
            d = DISCORDANCE * step
            after = np.where(before, rng.random(n) >= d / (2 * BASE), rng.random(n) < d / (2 * (1 - BASE)))
            gains.append(float(np.mean(after.astype(float) - before)))
        passed += max(gains) > 0
    assert passed / 400 > 0.4


def test_reusing_the_gate_items_every_round_keeps_the_null_rate_per_round():
    """The same gate items serve every round: a chain of 3 rounds that change nothing, each graded on the items
    the last one was accepted on, is accepted <= 5% per round (each round's flips are its own)."""
    import numpy as np

    rng, accepted, rounds = np.random.default_rng(2), 0, 0
    for _ in range(300):
        before = None
        for _ in range(3):
            chosen, grades = simulate(rng, 0.0, before=before)
            before = grades  # the next round starts from the kept model, on the same items
            accepted += chosen is not None
            rounds += 1
    assert accepted / rounds <= 0.05


def test_a_candidate_that_gains_overall_but_loses_a_category_fails_and_the_first_passing_step_wins():
    before = [True] * 50 + [False] * 50 + [True] * 20
    after = [True] * 50 + [True] * 30 + [False] * 20 + [False] * 20  # +30 in x, -20 in y
    cats = ["x"] * 100 + ["y"] * 20
    c = gate.check(1.0, before, after, cats, z=1.645)
    assert c.overall.diff == pytest.approx(10 / 120, abs=1e-6)
    assert c.inferior == ["y"] and not c.passes and "not shown within -0.05: y" in c.reason
    assert gate.decide([c]) is None  # carried over
    flat = [False] * 400
    whole = gate.check(1.0, flat, [True] * 20 + [False] * 380, ["x"] * 400, z=1.96)
    half = gate.check(0.5, flat, [True] * 40 + [False] * 360, ["x"] * 400, z=1.96)
    assert whole.passes and half.passes and gate.decide([whole, half]) is whole  # order, not the larger gain
    assert not gate.check(1.0, flat, [True] * 20 + [False] * 380, ["x"] * 400, z=1.96, min_gain=0.05).passes


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


def test_metrics_record_the_decision_why_and_every_candidate():
    ok = gate.Change(0.02, 0.005, 100)
    chosen = gate.Check(0.5, ok, {"x": ok}, 1.645, 0.0, 0.05)
    m = gate.metrics([chosen], chosen, 0.6, 100, 1.0)
    assert m["gate.step"] == 0.5 and m["gate.accepted"] == 1 and m["gate.candidates.0.5.category.x"] == 0.02
    assert m["gate.candidates.0.5.lower"] == pytest.approx(0.02 - 1.645 * 0.005, abs=1e-6)
    assert m["gate.reason"].startswith("step 0.5: passes") and m["gate.candidates.0.5.passes"] == 1
    assert gate.metrics([chosen], None, 0.6, 100, 1.0)["gate.step"] == gate.CARRY


def _params(dev, steps):
    from pipeline.training.params import TrainParams

    return TrainParams.model_validate({"train": {"gate": {"source": str(dev), "half": "all", "steps": steps}},
                                  "answer": {"max_new_tokens": 3}})


def _colour_items(path, n: int):
    """Items the warmed-up family model answers about half right (it was taught red/blue on these questions)."""
    from pipeline.storage import artifacts, schemas
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
    from pipeline.training.gate import run_gate
    from tests import families

    good = families.build("qwen2_5_vl", tmp_path / "good", warm_up=40)
    dev = _colour_items(tmp_path / "dev.parquet", 24)
    previous, processor = load(good, device=None)
    trained = _broken(load(good, device=None)[0])
    stats = run_gate(trained, processor, str(good), _params(dev, [1.0, 0.5]))
    assert stats["gate.before"] > 0.2 and stats["gate.candidates.1.gain"] < 0 and "lower bound" in stats["gate.candidates.1.reason"]
    assert stats["gate.accepted"] == 0 and stats["gate.step"] == 0.0 and stats["gate.items"] == 24
    assert _same(trained, previous)  # the carried-over model is the previous one, weight for weight

    broken = _broken(load(good, device=None)[0])
    broken.save_pretrained(tmp_path / "broken")
    processor.save_pretrained(tmp_path / "broken")
    helped = load(good, device=None)[0]
    stats = run_gate(helped, processor, str(tmp_path / "broken"), _params(dev, [1.0]))
    assert stats["gate.accepted"] == 1 and stats["gate.step"] == 1.0 and stats["gate.gain"] > 0.2
    assert _same(helped, previous)  # kept as trained
