"""Does the embedded default's round r0 meet its skill profile on any CPU and for any seed?

CPU training gives different floats on different instruction sets, and the profile's margins are a few
points, so this runs the `bootstrap_vlm` recipe of params.yaml for every (seed, instruction set) pair, each in
its own process: ``native`` as the machine is, and ``avx2`` with the variables that keep PyTorch, oneDNN and
MKL off AVX-512 (emulating a machine without it; the row shows the kernels PyTorch really dispatched to).
Each row is the stage's own profile (``metrics/r0/bootstrap.json``'s measures on that seed's probe set).

The warm-up (minutes) is cached per (seed, instruction set) under ``--cache``; the top-up and the profile
rerun every time, so changing ``bootstrap.vlm.weak`` or the top-up's rule costs minutes, not the warm-up, per row;
each row's log (the top-up's profile after every chunk) is kept as ``log-s<seed>-<isa>.txt`` there:

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.profile_robustness --seeds 0 1 --isa native avx2
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
ISAS = {"native": {}, "avx2": AVX2}


def params_for(seed: int):
    from pipeline.config.params import parse_params

    return parse_params(yaml.safe_load(Path("params.yaml").read_text()) | {"seed": seed})


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--isa", nargs="+", choices=sorted(ISAS), default=["native", "avx2"])
    parser.add_argument("--cache", type=Path, default=Path("data/benchmarks/profile"))
    parser.add_argument("--out", type=Path, help="write every row's full measures as JSON here")
    parser.add_argument("--one", nargs=2, metavar=("SEED", "ISA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pipeline").setLevel(logging.INFO)
    if args.one:
        print("RESULT " + json.dumps(one(int(args.one[0]), args.one[1], args.cache)))
        return
    args.cache.mkdir(parents=True, exist_ok=True)
    results = []
    for seed in args.seeds:
        for isa in args.isa:
            done = subprocess.run([sys.executable, __file__, "--one", str(seed), isa, "--cache", str(args.cache)],
                                  env=os.environ | ISAS[isa], capture_output=True, text=True)
            (args.cache / f"log-s{seed}-{isa}.txt").write_text(done.stderr)  # the top-up's chunk history
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
            if done.returncode or not lines:
                sys.exit(f"seed {seed}, {isa} failed:\n{done.stderr[-3000:]}")
            results.append(json.loads(lines[-1][len("RESULT "):]))
            logging.warning("seed %d %s: checks met %d", seed, isa, results[-1]["skills"]["checks.met"])
    print("| seed | instruction set (kernels) | top-up: chunk kept | weak (dev): chance-normalised / shuffle-gap "
          "lower bound | strong (dev accuracy) | failed checks | met |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(row(r))
    print(f"\nmet {sum(r['skills']['checks.met'] for r in results)} of {len(results)}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
