"""Does the embedded default's round r0 pass its world checks on any CPU and for any seed?

CPU training gives different floats on different instruction sets, and the checks' margins are a few points,
so this runs the `bootstrap_vlm` recipe of params.yaml for every (seed, instruction set) pair, each in its own
process: ``native`` (``DPE_CPU=native``: the machine's widest kernels) and ``avx2`` (the stages' pinned AVX2
floats, ``pipeline/run/cpu.py``; the row shows the kernels PyTorch really dispatched to). Each row is the stage's
own profile and r0's world checks on that seed's dev set (``metrics/r0/bootstrap.json``'s ``vlm.checks.*``).

Each (seed, instruction set) is one unit file in ``benchmarks/profile_robustness/``, keyed like the world checks'
ceiling units (the code, the params it reads, ``requirements.lock``, threads, instruction set) and written
atomically: a run does the units the current key lacks, so the next session continues it, and ``report`` prints
the current key's units. The warm-up (minutes) is cached per (seed, instruction set, code) under ``--cache``;
each unit's log (the top-up's profile after every chunk) is kept there as ``log-s<seed>-<isa>.txt``:

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.profile_robustness run --seeds 0 1 --isa native avx2
    .venv/bin/python -m benchmarks.profile_robustness report --seeds 0 1 --isa native avx2
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import yaml

from benchmarks.units import run_unit, write_atomic
from benchmarks.world_checks import ISAS, ROOT, unit_key

STORE = ROOT / "benchmarks" / "profile_robustness"


def raw_params(seed: int) -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text()) | {"seed": seed}


def params_for(seed: int):
    from pipeline.config.params import parse_params

    return parse_params(raw_params(seed))


def unit_path(seed: int, isa: str) -> Path:
    """Where the current code's and params' unit of (seed, instruction set) is stored."""
    return STORE / f"r0-{unit_key(raw_params(seed), isa)}-s{seed}-{isa}.json"


def one(seed: int, isa: str, cache: Path) -> dict:
    """The profile of one (seed, instruction set): world and warm-up from the cache when there."""
    import torch

    from pipeline.bootstrap.vlm import finish_base, warm_up
    from pipeline.models.checkpoint import load
    from pipeline.storage.artifacts import read_table
    from pipeline.storage.schemas import CAPTIONS, WORLD_ITEMS
    from pipeline.world.world import WorldFiles, build_world

    params = params_for(seed)
    files = WorldFiles.under(cache / f"world-s{seed}")
    if not files.clip.exists():
        build_world(params.world, seed, files)
    items = lambda path: read_table(path, WORLD_ITEMS).to_pylist()  # noqa: E731
    rows, captions = items(files.sft), read_table(files.clip, CAPTIONS).to_pylist()
    from benchmarks.common import pipeline_code

    warm = cache / f"warmup-s{seed}-{isa}-{pipeline_code()}"  # a warm-up of other code is not reused
    began = time.perf_counter()
    if (warm / "used.json").exists():
        model, processor = load(warm, device=None)
        used, stats = set(json.loads((warm / "used.json").read_text())), {"train_loss": float("nan")}
    else:
        model, processor, stats, used = warm_up(rows, captions, params)
        model.save_pretrained(warm)
        processor.save_pretrained(warm)
        (warm / "used.json").write_text(json.dumps(sorted(used)))
    warm_s = time.perf_counter() - began
    out = cache / f"r0-s{seed}-{isa}"
    skills = finish_base(model, processor, rows, used, items(files.dev), items(files.probe), params, str(out), stats)
    card = json.loads((out / "card.json").read_text())
    return {"seed": seed, "isa": isa, "kernels": torch.backends.cpu.get_cpu_capability(),
            "warm_up_s": round(warm_s, 1), "top_up": {k: v for k, v in card["facts"].items()
                                                       if k.startswith(("top-up", "chance-normalised",
                                                                        "profile margin"))},
            "skills": skills}


def row(r: dict) -> str:
    s, acc = r["skills"], r["skills"]["probe_accuracy"]
    weak = sorted({k.split(".")[1] for k in s if k.startswith("checks.") and k.endswith(".normalised")})
    cells = "; ".join(f"{c} {s[f'checks.{c}.normalised']:.2f} / {s[f'checks.{c}.shuffle_gap_low']:.2f}" for c in weak)
    strong = ", ".join(f"{c} {s[f'checks.{c}.accuracy']:.2f}" for c in sorted(acc) if c != "overall" and c not in weak)
    tu = r["top_up"]
    return (f"| {r['seed']} | {r['isa']} ({r['kernels']}) | {tu.get('top-up chunk kept')} of "
            f"{tu.get('top-up chunks run')} | {cells or 'none'} | {strong} | {s['checks.failed'] or 'none'} | "
            f"**{s['checks.met']}** |")


def run(seeds: list[int], isas: list[str], cache: Path) -> None:
    """Bootstrap and check every (seed, instruction set) the current key lacks, one process and one file each."""
    cache.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        for isa in isas:
            path = unit_path(seed, isa)
            if path.exists():
                logging.warning("%s done", path.name)
                continue
            unit = run_unit(["benchmarks.profile_robustness", "one", str(seed), isa, "--cache", str(cache)],
                            ISAS[isa], ROOT, f"seed {seed}, {isa}",
                            log=cache / f"log-s{seed}-{isa}.txt")  # the top-up's chunk history
            write_atomic(path, unit, indent=1)
            logging.warning("seed %d %s: checks met %d (%s)", seed, isa, unit["skills"]["checks.met"], path.name)


def table(units: list[dict]) -> str:
    lines = ["| seed | instruction set (kernels) | top-up: chunk kept | weak (dev): chance-normalised / shuffle-gap "
             "lower bound | strong (dev accuracy) | failed checks | met |", "|---|---|---|---|---|---|---|"]
    lines += [row(u) for u in units]
    return "\n".join(lines + ["", f"met {sum(u['skills']['checks.met'] for u in units)} of {len(units)}"])


def report(seeds: list[int], isas: list[str]) -> None:
    """The current key's units of ``seeds`` × ``isas``, and the ones not measured yet."""
    found, missing = [], []
    for seed in seeds:
        for isa in isas:
            path = unit_path(seed, isa)
            (found.append(json.loads(path.read_text())) if path.exists() else missing.append(f"s{seed} {isa}"))
    print(table(found))
    if missing:
        print(f"\nnot measured with this code and params: {', '.join(missing)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "report", "one"])
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)  # one: SEED ISA
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--isa", nargs="+", choices=sorted(ISAS), default=["native", "avx2"])
    parser.add_argument("--cache", type=Path, default=Path("data/benchmarks/profile"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pipeline").setLevel(logging.INFO)
    if args.command == "one":
        from pipeline.run.cpu import pin

        pin()  # as stages/__init__.py does, before torch loads (a no-op under DPE_CPU=native)
        print("RESULT " + json.dumps(one(int(args.args[0]), args.args[1], args.cache)))
    elif args.command == "run":
        run(args.seeds, args.isa, args.cache)
        report(args.seeds, args.isa)
    else:
        report(args.seeds, args.isa)


if __name__ == "__main__":
    main()
