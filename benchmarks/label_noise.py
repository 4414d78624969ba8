"""Wrong labels: how many reach training, what the controls catch, and what they cost.

Part 1 (``--part controls``): the world's agents make mistakes on purpose (``generate.world.errors``:
plausible wrong answers from the writer; a validator that errs on its own or, with probability ``shared``,
repeats the writer's mistake). For each setting and seed this runs round r1's generation (its committed
diagnosis, mixture and pinned pool) and its filter (r0's sampled answers, the pass-rate band, ``filter.label``
reference or majority) in process, and pools over seeds the label precision of the accepted and the kept
(trained) samples, with Wilson 95% intervals, and the agent calls per accepted sample. "no validator" is a
validator that always repeats the writer (``shared`` 1, ``validator`` 0); "2 validators" asks two
(``generate.validators``), each repeating the writer's mistake or erring on its own independently.

Part 2 (``--part gain``): what the wrong labels that get through cost training. GRPO from r0 on one weak
category's fresh world samples (the setting where GRPO reliably gains), clean against the same samples with
a share of their labels made wrong (plausibly, as the writer errs), that share being what part 1 measured
reaching training in the goal setting; per seed, graded on a large fresh measurement set.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.label_noise --part controls --seeds 0 1 2 --out c.json
    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.label_noise --part gain --wrong 0.029 0.079 --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import random
import tempfile
from pathlib import Path

from benchmarks.common import category_rows, measurement_set
from pipeline.config.params import load_params
from pipeline.generation.attempt import RoundInputs
from pipeline.generation.dedup import Seen
from pipeline.generation.generate import RoundState, generate, probe_facts
from pipeline.generation.params import WorldErrorsConfig
from pipeline.pool.ingest import listed_ids
from pipeline.pool.search import PoolSearch
from pipeline.stats.evidence import interval, wilson
from pipeline.storage import artifacts, schemas
from pipeline.training.filter import filter_samples
from pipeline.world.agents import WorldBackend
from pipeline.world.mistakes import wrong_answer

GOAL = {"writer": 0.2, "validator": 0.1, "shared": 0.33}
SETTINGS = {  # name -> (world errors, validator calls per draft); the goal setting is writer 20%
    "writer 0%": ({"writer": 0.0, "validator": 0.1, "shared": 0.33}, 1),
    "writer 10%": ({"writer": 0.1, "validator": 0.1, "shared": 0.33}, 1),
    "writer 20% (goal)": (GOAL, 1),
    "writer 30%": ({"writer": 0.3, "validator": 0.1, "shared": 0.33}, 1),
    "writer 20%, shared 0": ({"writer": 0.2, "validator": 0.1, "shared": 0.0}, 1),
    "writer 20%, no validator": ({"writer": 0.2, "validator": 0.0, "shared": 1.0}, 1),
    "writer 0%, 2 validators": ({"writer": 0.0, "validator": 0.1, "shared": 0.33}, 2),
    "writer 20% (goal), 2 validators": (GOAL, 2),
    "writer 30%, 2 validators": ({"writer": 0.3, "validator": 0.1, "shared": 0.33}, 2),
    "writer 20% (goal), 3 validators": (GOAL, 3),
}
log = logging.getLogger("label_noise")


class Rollouts:
    """r0's sampled answers per (image, question), made once and shared by every setting that keeps them."""

    def __init__(self, params, model: str):
        from pipeline.answers.engines import open_engine

        self.cfg = params.filter
        self.engine = open_engine(model, params.answer, params.model.dtype, batch_size=self.cfg.batch_size)
        self.max_new_tokens, self.cache = params.answer.max_new_tokens, {}

    def of(self, rows: list[dict], seed: int) -> list[list[str]]:
        todo = [r for r in rows if (r["image_hash"], r["question"]) not in self.cache]
        for row, texts in zip(todo, self.engine.answer(todo, max_new_tokens=self.max_new_tokens,
                                                       samples=self.cfg.n_samples, temperature=self.cfg.temperature,
                                                       seed=seed, desc="rollouts") if todo else []):
            self.cache[(row["image_hash"], row["question"])] = texts
        return [self.cache[(r["image_hash"], r["question"])] for r in rows]


def round_inputs(params, errors: dict, validators: int, seed: int, rounds: Path, manifests: Path,
                 clip: str) -> RoundInputs:
    diagnosis = artifacts.read_json(rounds / "r1/diagnosis.json", schemas.Diagnosis)
    listed = listed_ids(manifests / "listed.parquet")
    vectors = artifacts.read_manifest(manifests / "embed.json")
    backend = WorldBackend(params.generate.world.scenes, list(params.generate.edits), WorldErrorsConfig(**errors),
                           seed)
    return RoundInputs(backend=backend, search=PoolSearch(vectors, clip, params.search.nprobes, allowed=listed),
                       pool_manifest=artifacts.read_manifest(manifests / "ingest.json"),
                       brief=(rounds / "r1/brief.md").read_text(), diagnosis_hash="label-noise", round_name="r1",
                       seed=seed, top_k=params.generate.top_k, image_queries=params.generate.image_queries,
                       validators=validators,
                       failures={c.key: tuple(e.model_dump() for e in c.examples) for c in diagnosis.cells},
                       **probe_facts(diagnosis, params.probe.source, params.probe))


def controls(args, params) -> dict:
    rounds, manifests = Path(args.rounds), Path(args.manifests)
    quotas = artifacts.read_json(rounds / "r1/mixture.json", schemas.Mixture).quotas
    rollouts = Rollouts(params, args.model)
    out: dict = {}
    for name, (errors, validators) in SETTINGS.items():
        if args.settings and name not in args.settings:
            continue
        runs = []
        for seed in args.seeds:
            inputs = round_inputs(params, errors, validators, seed, rounds, manifests, args.clip)
            state = RoundState(seen=Seen(params.generate.dedup))
            samples, _, counts = generate(quotas, inputs, params.generate.max_attempts_per_sample, state=state)
            rows = [s.__dict__ for s in samples]
            run = {"seed": seed, "accepted": [s.label_correct for s in samples],
                   "calls_per_accepted": counts.get("per_accepted.calls", 0.0)}
            for label in ("reference", "majority"):
                cfg = params.filter
                _, kept, _ = filter_samples(rows, rollouts.of(rows, seed), cfg.band_low, cfg.band_high,
                                            cfg.min_keep, args.model, label, cfg.max_keep, cfg.rehearsal)
                run[f"kept.{label}"] = [k["label_correct"] for k in kept]
            runs.append(run)
            log.warning("%s seed %d: %d accepted, %d kept", name, seed, len(samples), len(run["kept.reference"]))
        out[name] = {"errors": errors, "validators": validators, "runs": runs}
    return out


def pooled(flags: list[bool]) -> str:
    low, high = wilson(sum(flags), len(flags))
    return f"{sum(flags) / len(flags):.3f} [{low:.3f}, {high:.3f}] (n {len(flags)})" if flags else "—"


def controls_table(results: dict) -> str:
    lines = ["| setting | accepted: label precision | kept, reference labels | kept, majority labels | "
             "calls per accepted |", "|---|---|---|---|---|"]
    for name, result in results.items():
        runs = result["runs"]
        cells = [pooled([f for r in runs for f in r[key]]) for key in ("accepted", "kept.reference", "kept.majority")]
        calls = sum(r["calls_per_accepted"] for r in runs) / len(runs)
        lines.append(f"| {name} | {' | '.join(cells)} | {calls:.2f} |")
    return "\n".join(lines)


def corrupt(rows: list[dict], share: float, rng: random.Random) -> list[dict]:
    """The rows with ``share`` of their labels made plausibly wrong, as the world's writer errs."""
    out = []
    for row in rows:
        if rng.random() < share:
            row = row | {"answer": wrong_answer(row["answer"], row["answer_type"], row["options"],
                                                json.loads(row["scene"]), rng)}
        out.append(row)
    return out


def gain(args, params) -> dict:
    from pipeline.answers.engines import greedy_results
    from pipeline.answers.results import accuracy_table
    from pipeline.models.checkpoint import load
    from pipeline.training.grpo import run_grpo
    from pipeline.training.params import TrainConfig

    bench, held_out = measurement_set(args.world, params.seed, params.world.image_size, args.per_cell)
    model, processor = load(args.model)
    before = accuracy_table(greedy_results(model, processor, bench))
    cfg = TrainConfig(**(params.train.model_dump() | {"epochs": 1000.0, "save_steps": 0}))
    out = {"category": args.category, "wrong": args.wrong, "before": before, "runs": []}
    arms = [("clean", 0.0)] + [(f"wrong {share:g}", share) for share in args.wrong]
    for seed in args.seeds:
        rows = category_rows(args.category, args.samples, seed, params.world.image_size, held_out)
        run = {"seed": seed}
        for arm, share in arms:
            trained = copy.deepcopy(model)
            with tempfile.TemporaryDirectory(prefix="dpe-noise-") as state:
                trained, _, _ = run_grpo(trained, processor, corrupt(rows, share, random.Random(seed)), cfg, seed, state)
            run[arm] = accuracy_table(greedy_results(trained, processor, bench))
            log.warning("seed %d %s: %s %.3f", seed, arm, args.category, run[arm][args.category])
        out["runs"].append(run)
    return out


def gain_table(results: dict) -> str:
    """Per arm: the category's gain over r0 (mean over seeds, t interval) and the share of the clean gain kept."""
    category, before, runs = results["category"], results["before"][results["category"]], results["runs"]
    clean = interval([r["clean"][category] - before for r in runs])
    lines = [f"{category} at r0: {before:.3f}; {len(runs)} seeds", "| labels | gain | share of the clean gain |",
             "|---|---|---|"]
    for arm in [a for a in runs[0] if a != "seed"]:
        got = interval([r[arm][category] - before for r in runs])
        lines.append(f"| {arm} | {got.mean:+.3f} [{got.low:+.3f}, {got.high:+.3f}] | {got.mean / clean.mean:.0%} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["controls", "gain"], required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--settings", nargs="*", help="only these settings of part 1 (default: all)")
    ap.add_argument("--model", default="data/rounds/r0/model")
    ap.add_argument("--clip", default="data/models/clip")
    ap.add_argument("--rounds", default="data/rounds")
    ap.add_argument("--manifests", default="data/manifests")
    ap.add_argument("--world", default="data/world")
    ap.add_argument("--category", default="text")
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--per-cell", type=int, default=100)
    ap.add_argument("--wrong", type=float, nargs="+", default=[0.03],
                    help="shares of wrong labels, one noisy arm each (part 2)")
    ap.add_argument("--out", help="write the per-seed results here as JSON")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    params = load_params()
    if args.part == "controls":
        results = controls(args, params)
        print(controls_table(results))
    else:
        results = gain(args, params)
        print(gain_table(results))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
