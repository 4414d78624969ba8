"""The round gate: a trained round replaces the previous model only if a dev check shows, at a stated error rate,
that it gained overall and lost no category beyond a margin.

The check grades the previous model and each candidate greedily on the same held-out items (the gate half of
``train.gate.source``, never read by a diagnosis, a search or a choice of default), so every difference is
paired. Candidates are the trained model interpolated towards the previous one (``θ_prev + step·(θ_new −
θ_prev)``), tried in the fixed order of ``train.gate.steps``; the first that passes is taken and the rest are not
graded. A candidate passes when

* the one-sided lower bound of its overall paired gain exceeds ``min_gain``, and
* every category is shown non-inferior: its one-sided lower bound is above ``−margin``.

Each step's tests run at ``alpha / len(steps)`` (the level split over the candidates), so a round that changed
nothing is accepted at most ``alpha`` of the time; the category tests need no further correction, since all of
them must pass (an intersection-union test keeps the level of each). Because the order is fixed and not chosen
by the gains, the recorded gain is the chosen candidate's own, not the larger of two noisy ones. The same gate
items serve every round. ``tests/pipeline/training/test_gate.py`` measures the acceptance rates by simulation.
The maths (``paired_change`` to ``describe``) is pure; ``run_gate`` grades the candidates and loads the chosen one.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from statistics import NormalDist

from pipeline.stats.evidence import paired_differences

log = logging.getLogger(__name__)

CARRY = 0.0  # the step that keeps the previous model


@dataclass(frozen=True)
class Change:
    """A paired change of accuracy over ``n`` items, with its standard error."""

    diff: float
    se: float
    n: int

    def lower(self, z: float) -> float:
        return self.diff - z * self.se


def paired_change(before: list[bool], after: list[bool]) -> Change:
    """Mean of ``after − before`` over the same items and its standard error (the paired, per-item one).

    >>> paired_change([True, False, False, True], [True, True, False, False])
    Change(diff=0.0, se=0.408248, n=4)
    """
    if len(before) != len(after):
        raise ValueError("a paired change needs the same items before and after")
    deltas = paired_differences(dict(enumerate(after)), dict(enumerate(before)))
    n = len(deltas)
    if n == 0:
        return Change(0.0, 0.0, 0)
    mean = sum(deltas) / n
    var = sum((d - mean) ** 2 for d in deltas) / max(1, n - 1)
    return Change(round(mean, 6), round(math.sqrt(var / n), 6), n)


def step_z(alpha: float, steps: int) -> float:
    """The one-sided critical value of each candidate's tests: ``alpha`` split over the ``steps``.

    >>> round(step_z(0.05, 1), 3), round(step_z(0.05, 2), 3)
    (1.645, 1.96)
    """
    return NormalDist().inv_cdf(1 - alpha / max(1, steps))


@dataclass(frozen=True)
class Check:
    """One candidate against the previous model: its overall change and each category's, and the rule."""

    step: float
    overall: Change
    categories: dict[str, Change]
    z: float
    min_gain: float
    margin: float

    @property
    def lower(self) -> float:
        """The one-sided lower bound of the overall gain."""
        return round(self.overall.lower(self.z), 6)

    @property
    def inferior(self) -> list[str]:
        """Categories not shown within ``margin`` of the previous model."""
        return sorted(c for c, ch in self.categories.items() if ch.lower(self.z) <= -self.margin)

    @property
    def passes(self) -> bool:
        return self.lower > self.min_gain and not self.inferior

    @property
    def reason(self) -> str:
        why = []
        if self.lower <= self.min_gain:
            why.append(f"overall gain {self.overall.diff:+.4f}, its lower bound {self.lower:+.4f} is not above "
                       f"min_gain {self.min_gain:g}")
        if self.inferior:
            why.append(f"not shown within -{self.margin:g}: {', '.join(self.inferior)}")
        return "; ".join(why) or f"passes: lower bound {self.lower:+.4f} > {self.min_gain:g}, every category within"


def check(step: float, before: list[bool], after: list[bool], categories: list[str], z: float,
          min_gain: float = 0.0, margin: float = 0.05) -> Check:
    """Compare a candidate's per-item correctness with the previous model's on the same items."""
    by_cat: dict[str, tuple[list[bool], list[bool]]] = {}
    for b, a, c in zip(before, after, categories, strict=True):
        pair = by_cat.setdefault(c, ([], []))
        pair[0].append(b)
        pair[1].append(a)
    return Check(step, paired_change(before, after), {c: paired_change(*p) for c, p in sorted(by_cat.items())}, z,
                 min_gain, margin)


def decide(checks: list[Check]) -> Check | None:
    """The first passing candidate in the fixed order of the steps; None carries the previous model over.

    >>> ok, big = Change(0.02, 0.005, 2000), Change(0.05, 0.005, 2000)
    >>> a = Check(1.0, ok, {"x": ok}, 1.96, 0.0, 0.05)
    >>> b = Check(0.5, big, {"x": big}, 1.96, 0.0, 0.05)
    >>> decide([a, b]).step, decide([Check(1.0, ok, {"x": ok}, 1.96, 0.02, 0.05)])
    (1.0, None)
    """
    return next((c for c in checks if c.passes), None)


def interpolate(previous: dict, trained: dict, step: float) -> dict:
    """``previous + step·(trained − previous)`` for every floating tensor (others, and missing keys, from
    ``trained``): a weaker step of the same update."""
    out = {}
    for name, value in trained.items():
        before = previous.get(name)
        if before is not None and value.is_floating_point() and before.shape == value.shape:
            out[name] = before + step * (value - before)
        else:
            out[name] = value
    return out


def metrics(checks: list[Check], chosen: Check | None, before: float, items: int, seconds: float) -> dict:
    """What the round's metrics record of the gate: the decision and why, and every graded candidate's numbers."""
    out = {"gate.step": chosen.step if chosen else CARRY, "gate.accepted": int(chosen is not None),
           "gate.items": items, "gate.before": round(before, 6),
           "gate.gain": chosen.overall.diff if chosen else 0.0, "gate.gain_lower": chosen.lower if chosen else 0.0,
           "gate.reason": (f"step {chosen.step:g}: {chosen.reason}" if chosen else
                           "every candidate failed: previous model kept"), "gate.seconds": round(seconds, 1)}
    for c in checks:
        key = f"gate.candidates.{c.step:g}"
        out[f"{key}.gain"], out[f"{key}.se"], out[f"{key}.lower"] = c.overall.diff, c.overall.se, c.lower
        out[f"{key}.passes"], out[f"{key}.reason"] = int(c.passes), c.reason
        out[f"{key}.inferior"] = ",".join(c.inferior)
        out |= {f"{key}.category.{name}": ch.diff for name, ch in c.categories.items()}
        out |= {f"{key}.category_lower.{name}": round(ch.lower(c.z), 6) for name, ch in c.categories.items()}
    return out


def describe(check_: Check) -> str:
    return f"step {check_.step:g}: gain {check_.overall.diff:+.4f} (se {check_.overall.se:.4f}): {check_.reason}"


def decision(train_metrics: dict) -> str:
    """What the round gate did with a round, in words, from its train metrics; empty for a round trained without it.

    >>> decision({"gate.step": 0.5, "gate.accepted": 1, "gate.gain": 0.0125, "gate.items": 2496})
    'step 0.5 kept (+0.013 on 2496 dev items)'
    """
    if "gate.step" not in train_metrics:
        return ""
    if not train_metrics.get("gate.accepted"):
        return "carried over"
    m = train_metrics
    return f"step {m['gate.step']:g} kept ({m['gate.gain']:+.3f} on {m['gate.items']} dev items)"


def gate_items(cfg) -> list[dict]:
    from pipeline.diagnosis.itemsets import half, load_items

    items = load_items(cfg.source, cfg.kind, cfg.columns)
    return half(items, "gate") if cfg.half == "gate" else items


def correct(model, processor, items: list[dict], params, desc: str) -> list[bool]:
    """Per-item greedy correctness of an in-memory model, graded as the evaluate stage grades."""
    from pipeline.answers.engines import TransformersEngine

    engine = TransformersEngine(model, processor, batch_size=params.answer.batch_size)
    results = engine.greedy_results(items, max_new_tokens=params.answer.max_new_tokens, desc=desc)
    return results["correct"].to_list()


def run_gate(trained, processor, model_dir: str, params):
    """The round gate: loads the chosen candidate into ``trained`` (the previous
    weights when every candidate fails) and returns the gate's metrics. Under LoRA a step scales the round's
    adapter (its B matrices), which scales its update the same way."""
    from pipeline.models.checkpoint import load
    from pipeline.run.runtime import reached

    cfg = params.train.gate
    began = time.perf_counter()
    items = gate_items(cfg)
    categories = [it["category"] for it in items]
    z = step_z(cfg.alpha, len(cfg.steps))
    new_state = {k: v.detach().clone() for k, v in trained.state_dict().items()}
    if params.train.lora is not None:
        prev_state = {k: v.new_zeros(v.shape) if "lora_B" in k else v for k, v in new_state.items()}
    else:
        previous, _ = load(model_dir, params.model.dtype, device=None)
        prev_state = {k: v.detach().to(new_state[k].device) for k, v in previous.state_dict().items()}
        del previous
    trained.load_state_dict(prev_state)
    before = correct(trained, processor, items, params, "gate: previous")
    checks = []
    for step in cfg.steps:  # in their fixed order; the first that passes is taken, the rest are not graded
        reached("train.gate")
        trained.load_state_dict(interpolate(prev_state, new_state, step))
        checks.append(check(step, before, correct(trained, processor, items, params, f"gate: step {step:g}"),
                                 categories, z, cfg.min_gain, cfg.margin))
        log.info("gate %s", describe(checks[-1]))
        if checks[-1].passes:
            break
    chosen = decide(checks)
    log.info("gate: %s", f"step {chosen.step:g} accepted" if chosen else "every candidate failed: previous model kept")
    trained.load_state_dict(interpolate(prev_state, new_state, chosen.step) if chosen else prev_state)
    return metrics(checks, chosen, sum(before) / max(1, len(before)), len(items), time.perf_counter() - began)
