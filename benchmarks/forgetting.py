"""Does a GRPO round forget what it does not train on, and which setting stops it?

From the same r0 checkpoint and on the same rows (``--samples`` fresh world items of r0's weak categories,
as a targeted round trains on), GRPO runs once per setting and seed: params.yaml's ``train`` section, a
weaker and a stronger KL to the starting model (``beta``), a LoRA adapter instead of full fine-tuning, half
the steps, and a replay share (that part of the rows drawn from the other categories instead, the same number
of rows in all). Every model is graded greedily on a measurement set of ``--per-cell`` fresh items of every
cell; the report gives per setting the weak categories' gain, the other categories' mean change and worst
drop, and the difference of each from the default's, paired by seed:

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.forgetting --seeds 0 1 --json /tmp/forgetting.json
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import category_rows, measurement_set
from benchmarks.data_efficiency import weak_categories
from pipeline.answers.engines import greedy_results
from pipeline.answers.results import accuracy_table
from pipeline.config.params import load_params
from pipeline.models.checkpoint import load
from pipeline.stats.evidence import interval, paired_differences
from pipeline.training.grpo import run_grpo
from pipeline.training.params import TrainConfig

log = logging.getLogger("forgetting")
LORA = {"rank": 16, "alpha": 32, "dropout": 0.05, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}


def settings(train: TrainConfig, replay: float) -> dict[str, tuple[dict, float]]:
    """Name -> (train overrides, replay share). LoRA gets 10x the learning rate: an adapter at full fine-tuning's
    rate barely moves, which would stop forgetting by not learning at all."""
    return {
        "default": ({}, 0.0),
        "beta 0": ({"beta": 0.0}, 0.0),
        f"beta {train.beta * 5:g}": ({"beta": train.beta * 5}, 0.0),
        "lora r16": ({"lora": LORA, "learning_rate": train.learning_rate * 10}, 0.0),
        "half steps": ({"max_steps": max(1, train.max_steps // 2)}, 0.0),
        f"replay {replay:g}": ({}, replay),
    }


def training_rows(weak: list[str], others: list[str], n: int, replay: float, seed: int, size: int,
                  held_out: set[str]) -> list[dict]:
    """``n`` rows: the weak categories in equal parts, with ``replay`` of them drawn from the others instead."""
    n_replay = round(n * replay)
    rows = []
    for categories, count, split in ((weak, n - n_replay, "bench-train"), (others, n_replay, "bench-replay")):
        for i, category in enumerate(categories):
            share = count // len(categories) + (i < count % len(categories))
            rows += category_rows(category, share, seed, size, held_out, split)
    return rows


def change(before: dict[str, float], after: dict[str, float], weak: list[str]) -> dict[str, float]:
    """The weak categories' mean gain, the others' mean change and the worst other change."""
    others = [c for c in before if c != "overall" and c not in weak]
    deltas = {c: after[c] - before[c] for c in before}
    return {"weak_gain": sum(deltas[c] for c in weak) / len(weak),
            "others_change": sum(deltas[c] for c in others) / len(others),
            "worst_other": min(deltas[c] for c in others), "overall": deltas["overall"]}


def versus(by_seed: dict, ref: dict, key: str, name: str) -> str:
    if name == "default":
        return "—"
    return str(interval(paired_differences({s: c[key] for s, c in by_seed.items()},
                                           {s: c[key] for s, c in ref.items()})))


def report(results: dict, weak: list[str]) -> str:
    """Markdown: per setting, intervals over seeds and paired differences against the default."""
    base = results["runs"]["default"]
    lines = [f"Weak categories: {', '.join(weak)}; {results['samples']} rows, measured on {results['measured']} "
             "items; mean [95% t interval] over seeds " + ", ".join(map(str, results["seeds"])) + ".", "",
             "| setting | steps | weak gain | others' change | worst other | Δ others vs default (paired) | "
             "Δ weak gain vs default (paired) | seconds |", "|---|---|---|---|---|---|---|---|"]
    for name, runs in results["runs"].items():
        by_seed = {int(s): r["change"] for s, r in runs.items()}
        ref = {int(s): r["change"] for s, r in base.items()}
        cells = [str(interval([c[k] for c in by_seed.values()])) for k in ("weak_gain", "others_change",
                                                                           "worst_other")]
        steps = sorted({r["steps"] for r in runs.values()})
        seconds = sum(r["seconds"] for r in runs.values()) / len(runs)
        lines.append(f"| {name} | {'/'.join(map(str, steps))} | " + " | ".join(cells)
                     + f" | {versus(by_seed, ref, 'others_change', name)} | {versus(by_seed, ref, 'weak_gain', name)}"
                     f" | {seconds:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="data/rounds/r0/model")
    parser.add_argument("--world", default="data/world")
    parser.add_argument("--bootstrap-metrics", default="metrics/r0/bootstrap.json", help="r0's weak categories")
    parser.add_argument("--samples", type=int, default=128, help="training rows per setting")
    parser.add_argument("--replay", type=float, default=0.5, help="the replay setting's share of other categories")
    parser.add_argument("--per-cell", type=int, default=60, help="measurement items per cell")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--only", nargs="+", help="run only these settings (names as in the report)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--markdown", help="write the report here too")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    log.setLevel(logging.INFO)
    params = load_params()
    weak = weak_categories(json.loads(Path(args.bootstrap_metrics).read_text()))
    size = params.world.image_size
    bench, held_out = measurement_set(args.world, params.seed, size, args.per_cell)
    model, processor = load(args.model)
    before = accuracy_table(greedy_results(model, processor, bench))
    others = [c for c in before if c != "overall" and c not in weak]
    results = {"weak": weak, "samples": args.samples, "measured": len(bench), "seeds": args.seeds,
               "before": before, "runs": {}}
    for name, (overrides, replay) in settings(params.train, args.replay).items():
        if args.only and name not in args.only:
            continue
        rows = training_rows(weak, others, args.samples, replay, params.seed, size, held_out)
        cfg = TrainConfig(**(params.train.model_dump() | overrides | {"save_steps": 0}))
        for seed in args.seeds:
            began = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="dpe-forgetting-") as state:
                trained, _, stats = run_grpo(copy.deepcopy(model), processor, rows, cfg, seed, state)
            seconds = time.perf_counter() - began
            after = accuracy_table(greedy_results(trained, processor, bench))
            results["runs"].setdefault(name, {})[str(seed)] = {
                "after": after, "change": change(before, after, weak), "steps": stats["steps"], "seconds": seconds}
            log.info("%s seed %d: %s", name, seed, results["runs"][name][str(seed)]["change"])
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=1))
    text = report(results, weak)
    sys.stdout.write(text)
    if args.markdown:
        Path(args.markdown).write_text(text)


if __name__ == "__main__":
    main()
