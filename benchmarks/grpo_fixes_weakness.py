"""Can GRPO fix one weakness of the base model? GRPO against an SFT control on the same samples.

Renders fresh world samples of one weak category and a separate measurement set (``--per-cell`` items of
every cell: far more than the probe, so a category's change is not lost in sampling noise), then from the
same r0 checkpoint runs (a) trl GRPO and (b) trl SFT on the samples, and prints greedy per-category
accuracy on the measurement set before and after each, side by side, with the verdict (target category
up by at least 10 points, no other down by more than 5). Run after `dvc repro bootstrap_vlm`:

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.grpo_fixes_weakness [--category arithmetic]
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import tempfile
import time

from benchmarks.common import category_rows, measurement_set
from pipeline.answers.engines import greedy_results
from pipeline.answers.results import accuracy_table, distinct_answers
from pipeline.bootstrap.sft import run_sft
from pipeline.config.params import load_params
from pipeline.models.checkpoint import load
from pipeline.training.grpo import run_grpo
from pipeline.training.params import TrainConfig

GAIN, MAX_DROP = 0.10, 0.05


def verdict(before: dict, after: dict, category: str) -> tuple[float, float, bool]:
    """The target's gain, the worst drop elsewhere, and whether both meet the bar."""
    gain = after[category] - before[category]
    worst = min((after[c] - before[c] for c in before if c not in ("overall", category)), default=0.0)
    return gain, worst, gain >= GAIN - 1e-9 and worst >= -MAX_DROP - 1e-9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="data/rounds/r0/model")
    parser.add_argument("--world", default="data/world")
    parser.add_argument("--category", help="default: the weakest category that gives at least 3 distinct answers")
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--per-cell", type=int, default=100, help="measurement items per cell")
    parser.add_argument("--grpo-steps", type=int, default=None, help="default: params train.max_steps")
    parser.add_argument("--lr", type=float, default=None, help="GRPO learning rate (default: params train)")
    parser.add_argument("--beta", type=float, default=None, help="GRPO KL weight (default: params train)")
    parser.add_argument("--generations", type=int, default=None, help="GRPO generations per prompt")
    parser.add_argument("--freeze-vision", choices=["yes", "no"], help="default: params train.freeze_vision")
    parser.add_argument("--sft-steps", type=int, default=None,
                        help="SFT control steps of batch 16 (default: as many examples as GRPO's prompts)")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    params = load_params()
    bench, held_out = measurement_set(args.world, params.seed, params.world.image_size, args.per_cell)
    model, processor = load(args.model)
    graded = greedy_results(model, processor, bench)
    before = accuracy_table(graded)
    distinct = distinct_answers(graded)
    candidates = [c for c in before if c != "overall" and distinct[c] >= 3]
    category = args.category or min(candidates, key=before.get)
    rows = category_rows(category, args.samples, params.seed, params.world.image_size, held_out)

    overrides = {"epochs": 1000.0}
    for key, value in (("max_steps", args.grpo_steps), ("learning_rate", args.lr), ("beta", args.beta),
                       ("num_generations", args.generations)):
        if value is not None:
            overrides[key] = value
    if args.freeze_vision:
        overrides["freeze_vision"] = args.freeze_vision == "yes"
    cfg = TrainConfig(**(params.train.model_dump() | overrides))
    sft_steps = args.sft_steps or math.ceil(cfg.max_steps * cfg.prompts_per_step / 16)
    results: dict = {"category": category, "samples": len(rows), "measured_items": len(bench), "before": before}
    grpo_model = copy.deepcopy(model)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dpe-bench-") as state:
        grpo_model, _, stats = run_grpo(grpo_model, processor, rows, cfg.model_copy(update={"save_steps": 0}),
                                        params.seed, state)
    results["grpo_seconds"] = time.perf_counter() - began
    results["grpo"] = accuracy_table(greedy_results(grpo_model, processor, bench))
    results["grpo_stats"] = stats

    sft_model = copy.deepcopy(model)
    began = time.perf_counter()
    run_sft(sft_model, processor, rows, steps=sft_steps, batch_size=16, lr=params.bootstrap.vlm.lr,
            seed=params.seed)
    results["sft_seconds"] = time.perf_counter() - began
    results["sft"] = accuracy_table(greedy_results(sft_model, processor, bench))

    print(f"category fixed: {category}  samples: {len(rows)}  measured on {len(bench)} items")
    print(f"GRPO: {stats['steps']} steps, lr {cfg.learning_rate}, beta {cfg.beta}, {cfg.num_generations} generations, "
          f"freeze vision {cfg.freeze_vision}, {results['grpo_seconds']:.0f} s  "
          f"SFT: {sft_steps} steps, {results['sft_seconds']:.0f} s")
    print(f"{'category':<12}{'before':>8}{'grpo':>8}{'Δgrpo':>8}{'sft':>8}{'Δsft':>8}")
    for cat in before:
        b, g, s = before[cat], results["grpo"][cat], results["sft"][cat]
        print(f"{cat:<12}{b:>8.3f}{g:>8.3f}{g - b:>+8.3f}{s:>8.3f}{s - b:>+8.3f}{' <' if cat == category else ''}")
    for arm in ("grpo", "sft"):
        gain, worst, ok = verdict(before, results[arm], category)
        results[f"{arm}_verdict"] = {"gain": gain, "worst_other": worst, "meets_bar": ok}
        print(f"{arm}: {category} {gain:+.3f}, worst other {worst:+.3f} -> "
              f"{'meets' if ok else 'misses'} the bar (+{GAIN:.2f}, >= -{MAX_DROP:.2f})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
