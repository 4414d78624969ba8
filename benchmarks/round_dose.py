"""How far does one round's GRPO move the weak cells, greedily and as sampled? A recipe's dose, measured directly.

The round gate grades greedy answers, but GRPO learns from sampled ones (``train.temperature``): a base model whose
greedy answers are right by small margins samples near chance, and a round's update then flips greedy answers
both ways without moving what it samples. This trains r0 on a committed round's training set
(``data/rounds/<round>/trainset.parquet``) with ``train`` overrides, in process, and prints per weak category the
greedy accuracy and the mean sampled accuracy (``--samples`` answers an item at ``train.temperature``) on one half
of the dev set before and after, and the strong categories' greedy accuracy (what the round may cost them):

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.round_dose --round r1 --seeds 1 \\
        --set train.epochs=4 train.learning_rate=1e-4 train.beta=0.1

Exploration only: ``--half choose`` (the default) is the half defaults are chosen on; ``continual_gains`` screens
the recipe through the whole round, gate included.
"""

from __future__ import annotations

import argparse
import logging
import tempfile

import yaml

from pipeline.run.cpu import pin


def overridden(pairs: list[str]):
    """params.yaml with ``KEY=VALUE`` (dotted keys, YAML values) applied, validated."""
    from pipeline.config.params import parse_params, with_overrides

    sets = dict(pair.split("=", 1) for pair in pairs)
    raw = yaml.safe_load(open("params.yaml"))
    return parse_params(with_overrides(raw, {key: yaml.safe_load(value) for key, value in sets.items()}))


def graded(model, processor, items: list[dict], weak: list[str], samples: int, temperature: float) -> dict:
    """Per category: greedy accuracy, and for the weak ones the mean sampled accuracy too."""
    import polars as pl

    from pipeline.answers import results as res
    from pipeline.answers.engines import answer, greedy_results

    out = {c: {"greedy": a} for c, a in res.accuracy_table(greedy_results(model, processor, items)).items()
           if c != "overall"}
    rows = [it for it in items if it["category"] in weak]
    sampled = answer(model, processor, rows, batch_size=4, samples=samples, temperature=temperature, seed=1,
                     desc="sampled")
    graded_rows = res.grade_sampled(rows, sampled, "item_id").join(
        pl.DataFrame({"item_id": [r["item_id"] for r in rows], "category": [r["category"] for r in rows]}),
        on="item_id")
    for category, right in graded_rows.group_by("category").agg(pl.col("correct").mean()).iter_rows():
        out[category]["sampled"] = right
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--round", default="r1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--set", nargs="*", default=[], help="KEY=VALUE overrides of params.yaml")
    parser.add_argument("--half", default="choose", choices=["choose", "gate"])
    parser.add_argument("--samples", type=int, default=8)
    args = parser.parse_args()
    pin()  # the stages' floats, before torch loads
    logging.basicConfig(level=logging.WARNING)
    import polars as pl

    from pipeline.diagnosis.itemsets import half, load_items
    from pipeline.models.checkpoint import load
    from pipeline.training.grpo import run_grpo
    from pipeline.world.questions import WEAK_CATEGORIES

    params = overridden(args.set)
    gate = params.train.gate
    items = half(load_items(gate.source, gate.kind, gate.columns), args.half)
    rows = pl.read_parquet(f"data/rounds/{args.round}/trainset.parquet").to_dicts()
    weak, r0 = list(WEAK_CATEGORIES), "data/rounds/r0/model"
    model, processor = load(r0, params.model.dtype, device=None)
    before = graded(model, processor, items, weak, args.samples, params.train.temperature)
    print(f"{len(rows)} training rows of {args.round}; {len(items)} {args.half} items; overrides {args.set}")
    for seed in args.seeds:
        model, processor = load(r0, params.model.dtype, device=None)
        with tempfile.TemporaryDirectory() as state:
            trained, _, stats = run_grpo(model, processor, rows, params.train, seed, state, reference=r0)
        after = graded(trained, processor, items, weak, args.samples, params.train.temperature)
        cells = "; ".join(f"{c} greedy {before[c]['greedy']:.3f} → {after[c]['greedy']:.3f}, sampled "
                          f"{before[c]['sampled']:.3f} → {after[c]['sampled']:.3f}" for c in weak)
        strong = ", ".join(f"{c} {before[c]['greedy']:.3f} → {after[c]['greedy']:.3f}"
                           for c in sorted(before) if c not in weak)
        print(f"seed {seed} ({stats['steps']} steps): {cells}\n    strong: {strong}")


if __name__ == "__main__":
    main()
