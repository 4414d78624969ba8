"""Does every round beat the last, on items no choice has seen? Arms of the spiral from the committed r0, each a
`dvc exp run` of ``--rounds`` rounds per round seed, every round's model graded on three sets:

* ``choose``: the half of ``data/world/dev.parquet`` that no round reads (the round gate reads the other half):
  levers and defaults are chosen on it, and on nothing else;
* ``eval``: the evaluation set (the ``evaluate`` stage's graded results, read from each experiment's commit);
* ``test``: the ``testset`` stage's fresh world items (``data/world/test.parquet``: 400 per cell, their own seed,
  apart from every other set's images), read by no stage and no choice: the set claims are made on (r0 and the
  last round only: it is the costly set). Its grades are keyed by its draw (``data/world/test.json``).

Each finished (arm, seed) is one small file, ``benchmarks/continual_gains_runs/<key>/<arm>-s<seed>.json`` (committed,
written atomically): the run's commit, gate steps and every graded round's per-item correctness on each set. The
key hashes what the numbers depend on: the round stages' code, params.yaml, r0's model hash, the graded sets' draws,
the grading code, ``requirements.lock``, the thread count and the CPU's instruction set; so ``run
--budget-minutes N`` picks up the pairs the current key lacks and stops before a run it has no time for, and
``report`` pools one key (the current one unless ``--key``) and prints its seed counts: a code change starts a new
table instead of mixing two. A model already graded on a set (same DVC md5, same draw) is not graded again
(``<key>/grades/``). ``--results FILE.json`` reads a single-file store (every unit in one JSON file) instead.

Arms: ``default`` (params.yaml as committed), ``uniform`` and ``static`` (r0's weak categories, never
re-diagnosed), each with the same budget and recipe, and ``blind`` (the default's data with every image one grey
image, ``train.blind``, no gate: its gain must be about zero, or the spiral's gain is not from the images);
``--arm NAME=KEY=VALUE,...`` adds a lever (dvc exp run ``-S`` values) and ``--recipe`` sets values for every arm.
Per-item correctness is stored (keyed by the model's DVC md5, so a carried-over round is graded once), and the
report resamples seeds and items (``benchmarks/stats.py`` ``seeds_and_items``: Student's t over seeds), with
Bonferroni bounds over categories and Holm over the arms compared (``--default-arm`` against ``--compare``: the
controls ``uniform`` and ``static`` unless a screen names its levers' baseline):

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.continual_gains run --arms default uniform static blind \\
        --seeds 0 1 2 3 4 5 6 7 8 9 --rounds 3 --budget-minutes 120
    .venv/bin/python -m benchmarks.continual_gains report --set test --markdown /tmp/cg.md
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.common import model_md5, pipeline_code
from benchmarks.units import instruction_set, known_grade, load_units, write_atomic
from pipeline.run.repository import get_at, read_parquet_at, restore_workspace, run_experiment

log = logging.getLogger("continual_gains")
SETS = ("choose", "eval", "test")
TEST_SET, TEST_MANIFEST = "data/world/test.parquet", "data/world/test.json"  # the testset stage's outs
MARGIN = -0.03  # a category "loses" when its r3 − r0 may be below this
CONTROLS = ("uniform", "static")  # the arms report compares the default with unless --compare names others


# ---- running the arms ---------------------------------------------------------------------------------------

def weak_categories() -> list[str]:
    from benchmarks.data_efficiency import weak_categories as of_profile

    return of_profile(json.loads(Path("metrics/r0/bootstrap.json").read_text()))


def weak_dose(mixture: str = "data/rounds/r1/mixture.json") -> int:
    """What one weak category gets in one round at the default budget: the mean quota of r0's weak categories in
    the committed round r1's mixture."""
    quotas = json.loads(Path(mixture).read_text())["quotas"]
    weak = weak_categories()
    per = [sum(q for cell, q in quotas.items() if cell.split("/")[0] == c) for c in weak]
    return max(1, round(sum(per) / len(per)))


def arm_sets(arm: str, extra: dict[str, list[str]]) -> list[str]:
    if arm in extra:
        return extra[arm]
    if arm == "uniform":
        return ["mixture.strategy=uniform"]
    if arm == "static":
        weak = weak_categories()
        share = round(1 / len(weak), 6)
        return ["mixture.strategy=static", "++mixture.static={" + ", ".join(f"{c}: {share}" for c in weak) + "}"]
    if arm == "default":
        return []
    if arm == "blind":
        return ["train.blind=true", "train.gate.enabled=false"]
    if arm.startswith("move-"):  # benchmarks/world_checks.py's movability: one weak category, one round's dose
        return ["mixture.strategy=static", f"++mixture.static={{{arm[5:]}: 1.0}}", f"mixture.budget={weak_dose()}",
                "train.gate.enabled=false"]
    raise SystemExit(f"unknown arm {arm!r}: default, uniform, static, blind, move-<category> or one given with "
                     "--arm NAME=KEY=VALUE,...")


def present_rounds() -> set[str]:
    return set(yaml.safe_load(Path("params.yaml").read_text())["rounds"])


def run_one(name: str, sets: list[str], seed: int, rounds: int, logs: Path) -> dict:
    """One `dvc exp run` in the workspace (then restored); returns its commit and each round's model md5."""
    adds = [f"++rounds.r{i}={{prev: r{i - 1}}}" for i in range(1, rounds + 1) if f"r{i}" not in present_rounds()]
    log.info("%s: round_seed=%d %s", name, seed, " ".join([*adds, *sets]))
    began = time.perf_counter()
    commit = run_experiment(name, [f"round_seed={seed}", *adds, *sets], logs / f"{name}.log")
    rounds_out = {"r0": {"model": model_md5(commit, "r0")}}  # an arm that changes the base builds its own r0
    for i in range(1, rounds + 1):
        r = f"r{i}"
        train = json.loads(Path(f"metrics/{r}/train.json").read_text())
        rounds_out[r] = {"model": model_md5(commit, r), "gate_step": train.get("gate.step"),
                         "gate_gain": train.get("gate.gain"), "steps": train.get("steps")}
    restore_workspace()
    return {"commit": commit, "seconds": round(time.perf_counter() - began, 1), "rounds": rounds_out}


# ---- grading ------------------------------------------------------------------------------------------------

def items_of(which: str) -> list[dict]:
    from pipeline.config.params import load_params
    from pipeline.diagnosis.itemsets import half, load_items

    params = load_params()
    if which == "choose":
        gate = params.train.gate
        return half(load_items(gate.source, gate.kind, gate.columns), "choose")
    if which == "eval":
        return sorted(load_items(params.evaluation.source), key=lambda it: it["item_id"])
    return sorted(load_items(TEST_SET), key=lambda it: it["item_id"])


def set_key(which: str) -> str:
    """Where a set's grades are stored: the test set's by its draw (seed, world version, file hash), so a
    redrawn test set is graded afresh instead of read against another draw's grades."""
    if which != "test":
        return which
    draw = json.loads(Path(TEST_MANIFEST).read_text())
    return f"test@{draw['seed']}:{draw['world_version']}:{draw['sha256']}"


def bits(correct) -> str:
    return "".join("1" if c else "0" for c in correct)


def grade_model(rev: str | None, round_name: str, items: list[dict]) -> str:
    """Greedy correctness of one round's model (from ``rev``'s outs in the DVC cache; None: the workspace)."""
    from pipeline.config.params import load_params
    from pipeline.diagnosis.evaluate import evaluate

    params = load_params()
    with tempfile.TemporaryDirectory(prefix="dpe-cg-") as tmp:
        model = f"data/rounds/{round_name}/model"
        if rev:
            model = str(get_at(rev, model, f"{tmp}/model"))
        return bits(evaluate(model, items, params.answer, round_name, params.model.dtype)["correct"].to_list())


def eval_bits(rev: str | None, round_name: str) -> str:
    """The evaluate stage's own graded results, in item order (no regrading)."""
    path = f"data/rounds/{round_name}/evaluation.parquet"
    import pyarrow.parquet as pq

    table = read_parquet_at(rev, path) if rev else pq.read_table(path)
    rows = sorted(table.select(["item_id", "correct"]).to_pylist(), key=lambda r: r["item_id"])
    return bits(r["correct"] for r in rows)


def grade_all(store: dict, sets: list[str], path: Path) -> None:
    """Grade r0 and every stored run's rounds on ``sets`` where not done yet (a single-file store, saved as it
    goes)."""
    for which in sets:
        key = set_key(which)
        store["items"][key] = items_meta(which)
        grades = store["grades"].setdefault(key, {})
        todo = [(None, "r0", store["r0"])] + [(run["commit"], r, info["model"]) for run in store["runs"].values()
                                              for r, info in graded_rounds(run["rounds"], which, store["rounds"])]
        for rev, round_name, md5 in todo:
            if md5 not in grades:
                grades[md5] = grade_round(rev, round_name, which)
                path.write_text(json.dumps(store, indent=0, sort_keys=True) + "\n")


def items_meta(which: str) -> dict:
    items = items_of(which)
    return {"categories": [it["category"] for it in items],
            "cells": [f"{it['category']}/{it['image_type']}" for it in items]}


def graded_rounds(rounds: dict, which: str, last: int) -> list[tuple[str, dict]]:
    """The rounds of a run graded on ``which``: every round, but on the costly test set only r0 and the last."""
    return [(r, info) for r, info in rounds.items() if which != "test" or r in ("r0", f"r{last}")]


def grade_round(rev: str | None, round_name: str, which: str) -> str:
    log.info("grading %s of %s on %s", round_name, rev or "the workspace", which)
    return eval_bits(rev, round_name) if which == "eval" else grade_model(rev, round_name, items_of(which))


# ---- the accumulating store: one file per (key, arm, seed) -----------------------------------------------------

UNITS = Path("benchmarks/continual_gains_runs")


def store_key(rounds: int, sets: list[str]) -> str:
    """What every number of a table depends on: the round stages' code, params.yaml, r0's model, the graded sets'
    draws, the grading code, the locked packages, the thread count, the instruction set and the rounds run."""
    import hashlib

    from pipeline.run.cpu import THREADS
    from pipeline.run.deps import code_hash

    lock = Path("requirements.lock")
    parts = [pipeline_code(), Path("params.yaml").read_text(), model_md5("HEAD", "r0"),
             *[set_key(w) for w in sorted(sets)], code_hash(__file__, "pipeline/diagnosis/evaluate.py"),
             lock.read_text() if lock.exists() else "", str(THREADS), instruction_set(), str(rounds)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def run_units(arms: list[str], seeds: list[int], rounds: int, sets: list[str], extra: dict, recipe: list[str],
              budget_minutes: float, logs: Path) -> Path:
    """Run and grade the (arm, seed) pairs the current key lacks, each saved as its own file; stop before a run
    the remaining budget (0: none) cannot fit, judged by the slowest finished run of this call."""
    key = store_key(rounds, sets)
    folder = UNITS / key
    r0 = model_md5("HEAD", "r0")
    if not (folder / "meta.json").exists():
        write_atomic(folder / "meta.json", {"key": key, "r0": r0, "rounds": rounds,
                                            "params": Path("params.yaml").read_text(),
                                            "instruction_set": instruction_set(), "sets": {w: set_key(w) for w in sets},
                                            "items": {set_key(w): items_meta(w) for w in sets}})
    began, slowest = time.perf_counter(), 0.0
    for arm in arms:
        for seed in seeds:
            path = folder / f"{arm}-s{seed}.json"
            if path.exists():
                continue
            left = budget_minutes * 60 - (time.perf_counter() - began)
            if budget_minutes and slowest and left < slowest:
                log.warning("stopping: %.0f s left of the budget, a run takes about %.0f s", left, slowest)
                return folder
            sets_of = arm_sets(arm, extra) + recipe
            started = time.perf_counter()
            run = run_one(f"cg-{arm}-s{seed}", sets_of, seed, rounds, logs)
            grades: dict[str, dict[str, str]] = {}
            for which in sets:
                for round_name, info in [("r0", {"model": r0}), *graded_rounds(run["rounds"], which, rounds)]:
                    md5 = info["model"]
                    if md5 in grades.get(set_key(which), {}):
                        continue
                    grade = known_grade(folder, set_key(which), md5) or grade_round(run["commit"], round_name, which)
                    grades.setdefault(set_key(which), {})[md5] = grade
            write_atomic(path, {"arm": arm, "seed": seed, "sets": sets_of, "commit": run["commit"],
                                "rounds": run["rounds"], "seconds": run["seconds"], "grades": grades})
            slowest = max(slowest, time.perf_counter() - started)
    return folder


# ---- the report ---------------------------------------------------------------------------------------------

def matrix(store: dict, which: str, arm: str, round_name: str) -> tuple[list[int], list[list[int]]]:
    """(seeds, per-item correctness per seed) of one arm's round on one set."""
    grades, out, seeds = store["grades"][which], [], []
    for run in sorted(store["runs"].values(), key=lambda r: r["seed"]):
        if run["arm"] != arm:
            continue
        md5 = run["rounds"].get(round_name, {"model": store["r0"]})["model"]  # runs stored before r0 was kept
        if md5 in grades:
            seeds.append(run["seed"])
            out.append([int(c) for c in grades[md5]])
    return seeds, out


def report(store: dict, which: str, arms: list[str], default: str = "default", compare: tuple = CONTROLS) -> str:
    """The arms' means per round, r_last − r0 with its interval over seeds and items, per category lower bounds
    (Bonferroni over the categories) and ``default`` against each arm of ``compare`` (the controls unless a screen
    names its own; Holm over them)."""
    import numpy as np

    from benchmarks.stats import bonferroni, holm, seeds_and_items

    which = which if which in store["items"] else set_key(which)  # a store of made-up runs names its set plainly
    if which not in store["items"]:
        raise SystemExit(f"--set {which.split('@')[0]}: these runs were not graded on it (graded: "
                         f"{', '.join(sorted(k.split('@')[0] for k in store['items']))}); pass --set with one of those")
    cats = np.array(store["items"][which]["categories"])
    cells = store["items"][which]["cells"]
    names = sorted(set(cats))
    rounds = [f"r{i}" for i in range(store["rounds"] + 1)]
    last = rounds[-1]
    level = bonferroni(0.05, len(names))
    lines = [f"Set `{which}` ({len(cats)} items); r0 {store['r0'][:8]} (unless an arm builds its own); mean over "
             "seeds [95% interval over seeds (Student's t) and items (`benchmarks.stats.seeds_and_items`)]", "",
             "| arm | seeds | " + " | ".join(rounds) + f" | {last} − r0 | gate steps |",
             "|---|---|" + "---|" * (len(rounds) + 2)]
    finals, cat_lines = {}, []
    for arm in arms:
        seeds, _ = matrix(store, which, arm, last)
        if not seeds:
            continue
        means = []
        for r in rounds:
            _, m = matrix(store, which, arm, r)
            means.append(float(np.mean(m)) if m else float("nan"))
        base = np.array(matrix(store, which, arm, "r0")[1], dtype=float)
        end = np.array(matrix(store, which, arm, last)[1], dtype=float)
        change = seeds_and_items(end - base, cells)
        finals[arm] = (dict(zip(seeds, end)), base)
        steps = [info.get("gate_step") for run in store["runs"].values() if run["arm"] == arm
                 for info in run["rounds"].values()]
        lines.append(f"| {arm} | {len(seeds)} | " + " | ".join("—" if m != m else f"{m:.3f}" for m in means)
                     + f" | {change} | {', '.join(f'{s:g}' for s in steps if s is not None) or '—'} |")
        per = {c: seeds_and_items((end - base)[:, cats == c], [x for x, k in zip(cells, cats) if k == c])
               for c in names}
        cat_lines.append(f"| {arm} | " + " | ".join(
            f"{per[c].mean:+.3f} (≥ {per[c].lower(level):+.3f}{'' if per[c].lower(level) >= MARGIN else ' loses?'})"
            for c in names) + " |")
    lines += ["", f"Per category, {last} − r0 with its one-sided lower bound at the Bonferroni level {level:g} "
              f"(0.05 over {len(names)} categories); `loses?`: the bound is below {MARGIN}, so a loss that large is "
              "not excluded:", "", "| arm | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)] + cat_lines
    if default in finals:
        others = [a for a in compare if a in finals and a != default]
        diffs = {}
        for a in others:
            common = sorted(set(finals[default][0]) & set(finals[a][0]))
            d = np.array([finals[default][0][s] - finals[a][0][s] for s in common])
            diffs[a] = seeds_and_items(d, cells)
        pvals = [diffs[a].p_at_most() for a in others]
        lines += ["", f"{default} against the controls at {last} (paired by seed; one-sided bounds at the Bonferroni "
                  f"level {bonferroni(0.05, len(others)):g}; Holm over {others}):", ""]
        for a, p, adj in zip(others, pvals, holm(pvals)):
            lines.append(f"* {default} − {a}: {diffs[a]}, one-sided lower bound "
                         f"{diffs[a].lower(bonferroni(0.05, len(others))):+.3f}, p {p:.3f}, Holm p {adj:.3f} "
                         f"({diffs[a].seeds} seeds)")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "grade", "report"])
    parser.add_argument("--arms", nargs="+", default=["default", "uniform", "static", "blind"])
    parser.add_argument("--arm", action="append", default=[], help="NAME=KEY=VALUE,KEY=VALUE: a lever's arm")
    parser.add_argument("--recipe", nargs="*", default=[], help="KEY=VALUE set in every arm")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(10)))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sets", nargs="+", default=["choose", "eval", "test"], choices=SETS)
    parser.add_argument("--set", default="test", choices=SETS, help="report: the set to report on")
    parser.add_argument("--budget-minutes", type=float, default=0, help="run: stop before a run that does not fit")
    parser.add_argument("--key", help="report: the key to pool (default: the current code's and params')")
    parser.add_argument("--results", help="a single-file store: every unit in one JSON file (run, grade, report)")
    parser.add_argument("--logs", default="data/benchmarks/continual_gains")
    parser.add_argument("--markdown")
    parser.add_argument("--default-arm", default="default", help="report: the arm compared with the controls")
    parser.add_argument("--compare", nargs="+", default=list(CONTROLS),
                        help="report: the arms --default-arm is compared with, paired by seed (Holm over them)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    extra = {name: sets.split(",") for name, _, sets in (a.partition("=") for a in args.arm)}
    arms = list(dict.fromkeys([*args.arms, *extra]))
    if args.results:
        store = legacy(args, extra)
    else:
        if args.command == "run":
            folder = run_units(args.arms, args.seeds, args.rounds, args.sets, extra, args.recipe,
                               args.budget_minutes, Path(args.logs))
        else:
            folder = UNITS / (args.key or store_key(args.rounds, args.sets))
        if not (folder / "meta.json").exists():
            sys.exit(f"no runs stored under {folder}: run them first (or pass --key of a stored table)")
        store = load_units(folder)
        print(f"key {folder.name}: " + ", ".join(
            f"{arm} {sum(r['arm'] == arm for r in store['runs'].values())} seeds" for arm in arms))
    text = report(store, args.set, arms, args.default_arm, args.compare)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)


def legacy(args, extra: dict) -> dict:
    """A single-file store (``--results``): run, grade and read every unit in that one file."""
    path = Path(args.results)
    store = json.loads(path.read_text()) if path.exists() else {"runs": {}, "grades": {}, "items": {}}
    store.setdefault("r0", model_md5("HEAD", "r0"))
    store.setdefault("rounds", args.rounds)
    if args.command == "run":
        for arm in args.arms:
            for seed in args.seeds:
                name = f"cg-{arm}-s{seed}"
                sets = arm_sets(arm, extra) + args.recipe
                done = store["runs"].get(name, {})
                if done.get("sets") == sets and done.get("code") == pipeline_code():
                    continue  # a run of other code is run again, not reused
                store["runs"][name] = run_one(name, sets, seed, args.rounds, Path(args.logs)) | {
                    "arm": arm, "seed": seed, "sets": sets, "code": pipeline_code()}
                path.write_text(json.dumps(store, indent=0, sort_keys=True) + "\n")
    if args.command in ("run", "grade"):
        grade_all(store, args.sets, path)
    return store


if __name__ == "__main__":
    main()
