"""Does diagnosis-driven data beat the same budget of untargeted data? Every point is a `dvc exp run`.

Arms: the mixture strategies ``dpe_step``, ``softmax_error`` and ``dro``, and two controls: ``uniform`` (every
cell the same quota) and ``static`` (r0's weak categories, half each, never re-diagnosed). Every run starts
from the same world and r0 (their params do not change); ``round_seed`` varies the rounds' draws (probe
subset, generation, rollouts, GRPO). Rounds beyond params.yaml's are appended (``++rounds.r3={prev: r2}``).

Two budgets, since the pass-rate filter is itself a form of targeting: ``generated`` (params.yaml's
``mixture.budget`` generated per round in every arm, the filter keeps what it keeps) and ``trained``
(``filter.min_keep = filter.max_keep = --keep``: every arm trains on exactly that many samples per round).

Runs go one after another in this workspace (two trainings at once run 3× slower on a small CPU); each run's
metrics and trainset are read right after it and accumulated in ``--results`` (JSON, keyed by experiment
name), so an interrupted series continues where it stopped and a finished run is never repeated. At the end
the workspace goes back to HEAD's params, lock and outs. The report (stdout, ``--markdown``, ``--plot``):
per arm, final accuracy per category and on r0's weak categories with 95% t intervals over seeds, paired
differences against ``uniform``, the cumulative samples each arm needs to reach ``uniform``'s final
weak-category accuracy, and the diagnostics of why (quota share on the weak cells, their survival through
the pass-rate band, what the other categories lost). Every run's final model is also graded on the dev set
(params.yaml's ``probe.source``, the set diagnosis reads), read from the experiment's commit in the DVC cache:
a default is chosen on those numbers, never on the evaluation set's:

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.data_efficiency --seeds 0 1 2 3 4 --rounds 3 \\
        --markdown /tmp/data_efficiency.md --plot benchmarks/data_efficiency.png
    .venv/bin/python -m benchmarks.data_efficiency --report-only   # the report of what --results holds
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

from benchmarks.common import cpu, model_md5
from benchmarks.plots import plot_curves
from benchmarks.stats import samples_to_reach
from pipeline.bootstrap.skills import STRONG_AT
from pipeline.run.repository import exp_commit, get_at, head, is_committed, restore_workspace, run_experiment
from pipeline.stats.compare import accuracy_of
from pipeline.stats.evidence import Interval, interval, paired_differences

log = logging.getLogger("data_efficiency")
ARMS = ["dpe_step", "softmax_error", "dro", "uniform", "static"]
BUDGETS = ["generated", "trained"]
CONTROL = "uniform"


# ---- one run ------------------------------------------------------------------------------------------------

def run_name(budget: str, arm: str, seed: int, rounds: int) -> str:
    return f"de-{budget}-{arm}-r{rounds}-s{seed}"


def round_names(rounds: int) -> list[str]:
    return [f"r{i}" for i in range(1, rounds + 1)]


def overrides(budget: str, arm: str, seed: int, rounds: int, keep: int, weak: list[str], present: set[str]
              ) -> list[str]:
    """The `dvc exp run -S` values of one run (hydra syntax: ``++`` adds a key or replaces a whole value)."""
    sets = [f"mixture.strategy={arm}", f"round_seed={seed}"]
    sets += [f"++rounds.r{i}={{prev: r{i - 1}}}" for i in range(1, rounds + 1) if f"r{i}" not in present]
    if arm == "static":
        share = round(1 / len(weak), 6)
        sets.append("++mixture.static={" + ", ".join(f"{c}: {share}" for c in weak) + "}")
    if budget == "trained":
        sets += [f"filter.min_keep={keep}", f"filter.max_keep={keep}"]
    return sets


def weak_categories(bootstrap: dict) -> list[str]:
    """r0's weak categories: those its world checks hold to the weak profile (``vlm.checks.<category>.normalised``),
    or, for a base without them, those below the strong line on the bootstrap's probe profile."""
    marked = sorted({k.split(".")[2] for k in bootstrap if k.startswith("vlm.checks.") and k.endswith(".normalised")})
    prefix = "vlm.probe_accuracy."
    return marked or sorted(k[len(prefix):] for k, v in bootstrap.items()
                            if k.startswith(prefix) and k != prefix + "overall" and v < STRONG_AT)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def read_round(name: str, weak: list[str]) -> dict:
    """What one round of the run now in the workspace did: its metrics and its samples per category."""
    import pyarrow.parquet as pq

    from pipeline.storage.lake import open_path

    metrics = Path("metrics") / name
    quotas = {k[len("quota."):]: v for k, v in read_json(metrics / "mixture.json").items() if k.startswith("quota.")}
    generated = Counter(open_path(Path("data/rounds") / name / "samples.lance").to_arrow()
                        .column("category").to_pylist())
    trainset = pq.read_table(Path("data/rounds") / name / "trainset.parquet", columns=["category", "filled"])
    kept = Counter(trainset.column("category").to_pylist())
    budget = sum(quotas.values())
    return {"accuracy": accuracy_of(read_json(metrics / "evaluate.json")),
            "quotas": quotas,
            "weak_quota_share": sum(q for c, q in quotas.items() if c.split("/")[0] in weak) / max(budget, 1),
            "generated": sum(generated.values()), "generated_by_category": dict(generated),
            "kept": trainset.num_rows, "kept_by_category": dict(kept),
            "filled": sum(trainset.column("filled").to_pylist()),
            "train_steps": read_json(metrics / "train.json").get("steps")}


def run_key(r0: str, sets: list[str]) -> str:
    """What a stored run must match to count: the r0 it started from, its overrides and the code that ran it."""
    from benchmarks.common import pipeline_code

    return hashlib.sha256(json.dumps([r0, sets, pipeline_code()]).encode()).hexdigest()[:12]


def current_runs(store: dict) -> dict[str, dict]:
    """The stored runs of the store's r0 that finished every round. A changed r0 (a new top-up, another
    CPU's floats) restarts the series run by run; until a run is redone its old result stays in the file but
    never mixes into the report, whose intervals and differences assume one shared start."""
    return {n: r for n, r in store["runs"].items()
            if r["key"] == run_key(store["r0"], r["overrides"]) and len(r["rounds"]) == store["rounds"]}


def run_one(name: str, sets: list[str], rounds: int, weak: list[str], log_dir: Path) -> dict:
    log.info("%s: %s", name, " ".join(sets))
    began = time.perf_counter()
    commit = run_experiment(name, sets, log_dir / f"{name}.log")
    seconds = round(time.perf_counter() - began, 1)
    return {"seconds": seconds, "rounds": {r: read_round(r, weak) for r in round_names(rounds)}, "exp_commit": commit}


DEV_SHARE = 0.25  # of every probe cell (48 of 192: 624 items); continual_gains.py chooses on its `choose` half


def dev_items() -> list[dict]:
    """A fixed stratified quarter of the dev set (the same items for every run)."""
    from pipeline.config.params import load_params
    from pipeline.diagnosis.itemsets import load_items, resample

    probe = load_params().probe
    return resample(load_items(probe.source, probe.kind, probe.columns), DEV_SHARE, "data-efficiency-dev")


def dev_accuracy(model_rev: str | None, round_name: str) -> dict[str, float]:
    """Accuracy of one round's model on the dev set, greedy, as the evaluate stage grades. ``model_rev``: the
    commit whose outs hold the model (read from the DVC cache, the workspace untouched); None: the workspace."""
    from pipeline.answers.results import accuracy_table
    from pipeline.config.params import load_params
    from pipeline.diagnosis.evaluate import evaluate

    params = load_params()
    model = f"data/rounds/{round_name}/model"
    with tempfile.TemporaryDirectory(prefix="dpe-dev-") as tmp:
        if model_rev:
            model = str(get_at(model_rev, model, f"{tmp}/model"))
        return accuracy_table(evaluate(model, dev_items(), params.answer, round_name, params.model.dtype))


def add_dev(store: dict, results_path: Path) -> None:
    """Grade r0 and every current run's final model on the dev set, where not done yet (saved as it goes)."""
    if "dev_base" not in store:
        store["dev_base"], store["dev_items"] = dev_accuracy(None, "r0"), len(dev_items())
    for name, run in sorted(current_runs(store).items()):
        if "dev" not in run:
            log.info("dev set: %s", name)
            commit = run.get("exp_commit") or exp_commit(name, run["commit"])
            run["dev"] = dev_accuracy(commit, f"r{store['rounds']}")
            results_path.write_text(json.dumps(store, indent=1, sort_keys=True) + "\n")


# ---- the comparison -----------------------------------------------------------------------------------------

def weak_accuracy(accuracy: dict[str, float], weak: list[str]) -> float:
    return sum(accuracy[c] for c in weak) / len(weak)


def curve(run: dict, base: dict[str, float], weak: list[str], budget: str) -> list[tuple[float, float]]:
    """(cumulative samples, weak-category accuracy) from r0 on: generated samples, or trained ones when the
    comparison holds the trained budget equal."""
    points, total = [(0.0, weak_accuracy(base, weak))], 0.0
    for r in sorted(run["rounds"], key=lambda n: int(n[1:])):
        total += run["rounds"][r]["kept" if budget == "trained" else "generated"]
        points.append((total, weak_accuracy(run["rounds"][r]["accuracy"], weak)))
    return points


def mean_curve(curves: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    return [(sum(c[i][0] for c in curves) / len(curves), sum(c[i][1] for c in curves) / len(curves))
            for i in range(min(map(len, curves)))]


def final(run: dict) -> dict[str, float]:
    return run["rounds"][max(run["rounds"], key=lambda n: int(n[1:]))]["accuracy"]


def summarize(runs: dict[str, dict], base: dict[str, float], weak: list[str], budget: str) -> dict:
    """Per arm of one budget: intervals over seeds, paired differences against the control, samples to reach
    the control's final weak accuracy, and the diagnostics."""
    by_arm: dict[str, dict[int, dict]] = {}
    for run in runs.values():
        if run["budget"] == budget:
            by_arm.setdefault(run["arm"], {})[run["seed"]] = run
    out = {}
    control = by_arm.get(CONTROL, {})
    control_weak = {s: weak_accuracy(final(r), weak) for s, r in control.items()}
    target = sum(control_weak.values()) / len(control_weak) if control_weak else None
    # A control that ends at or below r0 sets no level to reach: every curve starts there, at 0 samples.
    control_gained = target is not None and target > weak_accuracy(base, weak)
    control_samples = mean_curve([curve(r, base, weak, budget) for r in control.values()])[-1][0] if control else None
    for arm, seeds in sorted(by_arm.items(), key=lambda kv: ARMS.index(kv[0]) if kv[0] in ARMS else 99):
        finals = {s: final(r) for s, r in seeds.items()}
        cats = sorted(c for c in base if c != "overall")
        weak_final = {s: weak_accuracy(a, weak) for s, a in finals.items()}
        others = [c for c in cats if c not in weak]
        rounds = [rr for r in seeds.values() for rr in r["rounds"].values()]
        gen_weak = sum(v for rr in rounds for c, v in rr["generated_by_category"].items() if c in weak)
        kept_weak = sum(v for rr in rounds for c, v in rr["kept_by_category"].items() if c in weak)
        gen_all = sum(rr["generated"] for rr in rounds)
        kept_all = sum(rr["kept"] for rr in rounds)
        mean = mean_curve([curve(r, base, weak, budget) for r in seeds.values()])
        reach = samples_to_reach(mean, target) if control_gained else None
        out[arm] = {
            "seeds": sorted(seeds),
            "final": {c: interval([a[c] for a in finals.values()]) for c in ["overall"] + cats},
            "weak": interval(list(weak_final.values())),
            "others_change": interval([sum(a[c] - base[c] for c in others) / len(others) for a in finals.values()]),
            "vs_control_weak": (interval(paired_differences(weak_final, control_weak))
                                if arm != CONTROL and control_weak else None),
            "vs_control_overall": (interval(paired_differences({s: a["overall"] for s, a in finals.items()},
                                                               {s: final(r)["overall"] for s, r in control.items()}))
                                   if arm != CONTROL and control else None),
            "curve": mean,
            "samples_to_control_final": reach,
            "control_gained": control_gained,
            "samples_ratio": (reach / control_samples) if reach is not None and control_samples else None,
            "weak_quota_share": sum(rr["weak_quota_share"] for rr in rounds) / len(rounds),
            "weak_generated_share": gen_weak / max(gen_all, 1),
            "weak_kept_share": kept_weak / max(kept_all, 1),
            "weak_survival": kept_weak / max(gen_weak, 1),
            "other_survival": (kept_all - kept_weak) / max(gen_all - gen_weak, 1),
            "kept_per_round": kept_all / len(rounds),
            "minutes_per_run": sum(r["seconds"] for r in seeds.values()) / len(seeds) / 60,
            "dev": (dev_summary(seeds, {} if arm == CONTROL else control, weak)
                    if all("dev" in r for r in seeds.values()) else None),
        }
    return out


def dev_summary(seeds: dict[int, dict], control: dict[int, dict], weak: list[str]) -> dict:
    """The final models on the dev set: what a default is chosen on (``control`` empty for the control)."""
    control = {s: r for s, r in control.items() if "dev" in r}
    weak_dev = {s: weak_accuracy(r["dev"], weak) for s, r in seeds.items()}
    overall = {s: r["dev"]["overall"] for s, r in seeds.items()}
    return {"weak": interval(list(weak_dev.values())), "overall": interval(list(overall.values())),
            "vs_control_weak": (interval(paired_differences(
                weak_dev, {s: weak_accuracy(r["dev"], weak) for s, r in control.items()})) if control else None),
            "vs_control_overall": (interval(paired_differences(
                overall, {s: r["dev"]["overall"] for s, r in control.items()})) if control else None)}


def fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, Interval):
        return str(value)
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown(summary: dict[str, dict], base: dict[str, float], weak: list[str], meta: dict) -> str:
    cats = sorted(c for c in base if c != "overall")
    lines = [f"r0 ({meta['r0']}): weak categories {', '.join(weak)}; evaluation accuracy "
             + ", ".join(f"{c} {base[c]:.3f}" for c in ["overall"] + cats), ""]
    for budget, arms in summary.items():
        if not arms:
            continue
        lines += [f"**Equal {budget} budget** ({meta['rounds']} rounds; mean [95% t interval] over seeds):", "",
                  "| arm | seeds | weak (r0: %.3f) | overall | Δ weak vs uniform (paired) | Δ overall vs uniform "
                  "| other categories' change | samples to uniform's final weak (ratio) |" % weak_accuracy(base, weak),
                  "|---|---|---|---|---|---|---|---|"]
        for arm, s in arms.items():
            if not s["control_gained"]:
                reach = f"— ({CONTROL} ends at or below r0)"
            elif s["samples_to_control_final"] is None:
                reach = "never"
            else:
                reach = f"{s['samples_to_control_final']:.0f} ({s['samples_ratio']:.2f})"
            lines.append(f"| {arm} | {len(s['seeds'])} | {s['weak']} | {s['final']['overall']} | "
                         f"{fmt(s['vs_control_weak'])} | {fmt(s['vs_control_overall'])} | {s['others_change']} | "
                         f"{reach} |")
        if meta.get("dev_base") and any(s["dev"] for s in arms.values()):
            dev_base = meta["dev_base"]
            lines += ["", f"The final models on the dev set (`probe.source`, {meta['dev_items']} items; the set a "
                      "default is chosen on):", "",
                      f"| arm | dev weak (r0: {weak_accuracy(dev_base, weak):.3f}) | Δ dev weak vs uniform | "
                      f"dev overall (r0: {dev_base['overall']:.3f}) | Δ dev overall vs uniform |",
                      "|---|---|---|---|---|"]
            for arm, s in arms.items():
                if s["dev"]:
                    d = s["dev"]
                    lines.append(f"| {arm} | {d['weak']} | {fmt(d['vs_control_weak'])} | {d['overall']} | "
                                 f"{fmt(d['vs_control_overall'])} |")
        lines += ["", "| arm | " + " | ".join(cats) + " |", "|---|" + "---|" * len(cats)]
        for arm, s in arms.items():
            lines.append(f"| {arm} | " + " | ".join(fmt(s["final"][c]) for c in cats) + " |")
        lines += ["", "| arm | weak cells' quota share | weak share generated | weak share kept | weak kept/generated "
                  "| others kept/generated | kept per round | minutes per run |", "|---|---|---|---|---|---|---|---|"]
        for arm, s in arms.items():
            lines.append(f"| {arm} | {s['weak_quota_share']:.2f} | {s['weak_generated_share']:.2f} | "
                         f"{s['weak_kept_share']:.2f} | {s['weak_survival']:.2f} | {s['other_survival']:.2f} | "
                         f"{s['kept_per_round']:.1f} | {s['minutes_per_run']:.1f} |")
        lines.append("")
    return "\n".join(lines)


def machine() -> str:
    import torch

    return f"{cpu()['model']}, {torch.get_num_threads()} threads, kernels {torch.backends.cpu.get_cpu_capability()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", default=ARMS, choices=ARMS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budgets", nargs="+", default=BUDGETS, choices=BUDGETS)
    parser.add_argument("--keep", type=int, default=32, help="trained budget: samples kept per round in every arm")
    parser.add_argument("--results", default="benchmarks/data_efficiency.json")
    parser.add_argument("--logs", default="data/benchmarks/data_efficiency")
    parser.add_argument("--markdown", help="write the report here too")
    parser.add_argument("--plot", help="PNG of weak-category accuracy against cumulative samples")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--no-dev", action="store_true", help="skip grading the final models on the dev set")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    results_path = Path(args.results)
    store = json.loads(results_path.read_text()) if results_path.exists() else {"runs": {}}
    if not args.report_only:
        if not is_committed(["params.yaml", "dvc.yaml"]):
            sys.exit("params.yaml or dvc.yaml has uncommitted changes: commit or stash them (every run starts "
                     "from HEAD's params plus its own overrides)")
        if subprocess.run(["dvc", "status", "--quiet"]).returncode:
            sys.exit("the workspace is not up to date: run `dvc repro` first (every run shares its r0)")
        present = set(yaml.safe_load(Path("params.yaml").read_text())["rounds"])
        weak = weak_categories(read_json(Path("metrics/r0/bootstrap.json")))
        store |= {"r0": model_md5(None, "r0"), "weak": weak, "base": accuracy_of(read_json(Path("metrics/r0/evaluate.json"))),
                  "machine": machine(), "rounds": args.rounds}
        log_dir = Path(args.logs)
        log_dir.mkdir(parents=True, exist_ok=True)
        commit = head(short=True)
        todo = [(b, a, s) for s in args.seeds for b in args.budgets for a in args.arms]
        try:
            for i, (budget, arm, seed) in enumerate(todo, 1):
                name = run_name(budget, arm, seed, args.rounds)
                sets = overrides(budget, arm, seed, args.rounds, args.keep, weak, present)
                key = run_key(store["r0"], sets)
                if store["runs"].get(name, {}).get("key") == key:
                    continue
                log.info("run %d of %d", i, len(todo))
                run = run_one(name, sets, args.rounds, weak, log_dir)
                store["runs"][name] = {"budget": budget, "arm": arm, "seed": seed, "key": key, "commit": commit,
                                       "overrides": sets} | run
                results_path.write_text(json.dumps(store, indent=1, sort_keys=True) + "\n")
        finally:
            restore_workspace()
    if not store["runs"]:
        sys.exit(f"{results_path} holds no runs yet")
    if not args.no_dev:
        add_dev(store, results_path)
    weak, base = store["weak"], store["base"]
    runs = current_runs(store)
    if len(runs) < len(store["runs"]):
        log.warning("%d stored runs are left out of the report: another r0 or number of rounds than %s's",
                    len(store["runs"]) - len(runs), store["r0"][:8])
    summary = {b: summarize(runs, base, weak, b) for b in BUDGETS}
    report = markdown(summary, base, weak, {"r0": store["r0"][:8], "rounds": store["rounds"],
                                                     "dev_base": store.get("dev_base"),
                                                     "dev_items": store.get("dev_items")})
    report += f"\nMachine: {store['machine']}.\n"
    sys.stdout.write(report)
    if args.markdown:
        Path(args.markdown).write_text(report)
    if args.plot:
        plot_curves(summary, Path(args.plot), (CONTROL, "static"))


if __name__ == "__main__":
    main()
