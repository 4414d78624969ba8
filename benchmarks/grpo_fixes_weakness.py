"""Can GRPO fix one weakness of the base model? GRPO against an SFT control on the same samples.

Renders fresh world samples of one weak category and a separate measurement set (``--per-cell`` items of
every cell, so a category is judged on far more items than the 12-per-cell probe), then from the same r0
checkpoint runs (a) trl GRPO and (b) trl SFT on the samples, and prints per-category accuracy on the
measurement set before and after each, side by side. Run after `dvc repro bootstrap_vlm`:

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/grpo_fixes_weakness.py [--category counting]
"""

from __future__ import annotations

import argparse
import copy
import logging
import time

import pyarrow.parquet as pq

from pipeline.config import TrainConfig, load_params
from pipeline.models.sft import run_sft
from pipeline.models.vlm import load
from pipeline.skills import measure
from pipeline.train import run_grpo
from pipeline.world.build import labelled_items
from pipeline.world.questions import CELLS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="data/rounds/r0/model")
    parser.add_argument("--world", default="data/world")
    parser.add_argument("--category", help="default: the weakest category that is not collapsed")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--per-cell", type=int, default=40, help="measurement items per cell")
    parser.add_argument("--grpo-steps", type=int, default=150)
    parser.add_argument("--lr", type=float, default=None, help="GRPO learning rate (default: params train)")
    parser.add_argument("--beta", type=float, default=None, help="GRPO KL weight (default: params train)")
    parser.add_argument("--freeze-vision", action="store_true", help="GRPO trains the language model only")
    parser.add_argument("--sft-steps", type=int, default=150)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    params = load_params()
    probe = pq.read_table(f"{args.world}/probe.parquet").to_pylist()
    evaluation = pq.read_table(f"{args.world}/eval.parquet").to_pylist()

    held_out = {r["image_id"] for r in probe + evaluation}
    bench = labelled_items("bench-measure", params.seed, [c for c in CELLS for _ in range(args.per_cell)],
                           params.world.image_size, held_out)
    held_out |= {r["image_id"] for r in bench}
    model, processor = load(args.model)
    before = measure(model, processor, bench, seed=1)
    weak = {c: a for c, a in before["probe_accuracy"].items() if c != "overall" and a <= 0.35
            and before["distinct_answers"][c] >= 3}
    category = args.category or min(weak or before["probe_accuracy"], key=lambda c: -before["weak_in_band_share"]
                                    .get(c, 0.0))
    cells = [c for c in CELLS if c[0] == category]
    rows = labelled_items("bench-train", params.seed, [cells[i % len(cells)] for i in range(args.samples)],
                          params.world.image_size, held_out)

    results = {"before": before["probe_accuracy"]}
    cfg = TrainConfig(**(params.train.model_dump() | {"max_steps": args.grpo_steps, "epochs": 100.0}
                         | ({"learning_rate": args.lr} if args.lr else {})
                         | ({"beta": args.beta} if args.beta is not None else {})
                         | ({"freeze_vision": True} if args.freeze_vision else {})))
    grpo_model = copy.deepcopy(model)
    began = time.perf_counter()
    stats = run_grpo(grpo_model, processor, rows, cfg, params.seed)
    grpo_seconds = time.perf_counter() - began
    results["grpo"] = measure(grpo_model, processor, bench, seed=1)["probe_accuracy"]

    sft_model = copy.deepcopy(model)
    began = time.perf_counter()
    run_sft(sft_model, processor, rows, steps=args.sft_steps, batch_size=16, lr=params.bootstrap.vlm.lr,
            seed=params.seed)
    sft_seconds = time.perf_counter() - began
    results["sft"] = measure(sft_model, processor, bench, seed=1)["probe_accuracy"]

    print(f"category fixed: {category}  samples: {len(rows)}  measured on {len(bench)} items")
    print(f"GRPO: {stats['steps']} steps, lr {cfg.learning_rate}, "
          f"beta {cfg.beta}, freeze vision {cfg.freeze_vision}, {grpo_seconds:.0f} s  "
          f"SFT: {args.sft_steps} steps, {sft_seconds:.0f} s")
    print(f"{'category':<12}{'before':>8}{'grpo':>8}{'Δgrpo':>8}{'sft':>8}{'Δsft':>8}")
    for cat in results["before"]:
        b, g, s = results["before"][cat], results["grpo"][cat], results["sft"][cat]
        mark = " <" if cat == category else ""
        print(f"{cat:<12}{b:>8.2f}{g:>8.2f}{g - b:>+8.2f}{s:>8.2f}{s - b:>+8.2f}{mark}")


if __name__ == "__main__":
    main()
