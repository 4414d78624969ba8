"""The world checks that need training: can every cell be learnt, and does GRPO move a weak one?

* ``ceiling``: the same architecture, every category at full warm-up share (``bootstrap.vlm.skew: {}``), every SFT
  row a question example, ``--factor`` × the default warm-up steps (at most 3): every cell must reach
  ``skills.STRONG_AT`` on the whole dev set (400 items a cell; the one-sided 95% Wilson lower bound is printed
  beside it). A cell that fails it is not a blind spot but a capacity limit, and does not belong in the world.
* r0's own checks (above the prior, top-answer share, shuffle gap, zero-pass share, window, strong cells) run in
  the ``bootstrap_vlm`` stage (``pipeline/bootstrap/checks.py``, ``metrics/r0/bootstrap.json``); on other seeds
  and on native against AVX2-emulated floats: ``benchmarks/profile_robustness.py``.
* ``movability``: one round of GRPO on one weak cell only (``mixture.strategy: static`` on that cell, the dose a
  weak cell gets in one round at the default budget, no gate) per round seed, through
  ``benchmarks/continual_gains.py`` (arm ``move-<category>``); ``report`` reads its store: the cell's gain over
  seeds and items must have a lower bound above 0, and no other cell may lose significantly (Holm over the cells).

Each ceiling unit (seed, instruction set) is one JSON file in ``benchmarks/world_checks/``, keyed by the code, the
params it reads, ``requirements.lock``, the thread count and the instruction set, written atomically: a run picks
up the units not yet done and a code change starts new ones:

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.world_checks ceiling --seeds 0 --isa native avx2 --factor 3
    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.continual_gains run --arms move-text --seeds 0 1 2 --rounds 1
    .venv/bin/python -m benchmarks.world_checks report
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from pathlib import Path

import yaml

from benchmarks.units import run_unit, write_atomic

ROOT = Path(__file__).resolve().parents[1]
STORE = ROOT / "benchmarks" / "world_checks"
AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "MKL_CBWR": "AVX2"}
ISAS = {"native": {"DPE_CPU": "native"}, "avx2": {"DPE_CPU": "pinned"} | AVX2}
MAX_FACTOR = 3

log = logging.getLogger("world_checks")


def ceiling_params(raw: dict, factor: float, seed: int) -> dict:
    """params.yaml's values with every category at full share, every SFT row a question example and ``factor`` ×
    the warm-up steps."""
    if not 0 < factor <= MAX_FACTOR:
        raise SystemExit(f"--factor {factor}: the ceiling may use at most {MAX_FACTOR}x the default warm-up steps")
    out = json.loads(json.dumps(raw))
    vlm = out["bootstrap"]["vlm"]
    vlm.update(skew={}, weak={}, steps=int(vlm["steps"] * factor), examples=out["world"]["sft_size"])
    out["seed"] = seed
    return out


def unit_key(params: dict, isa: str) -> str:
    """What a unit's result belongs to: the code, the params it reads, the locked packages, threads and ISA."""
    from benchmarks.common import pipeline_code
    from pipeline.run.cpu import THREADS

    lock = (ROOT / "requirements.lock").read_text() if (ROOT / "requirements.lock").exists() else ""
    parts = [pipeline_code(), json.dumps({k: params[k] for k in ("seed", "world", "bootstrap", "answer")},
                                         sort_keys=True), lock, str(THREADS), isa]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def run_ceiling_unit(params: dict) -> dict:
    """Warm up at full share in this process and grade every cell of the dev set: per cell n, accuracy, bound."""
    from pipeline.answers.engines import TransformersEngine
    from pipeline.answers.results import counts
    from pipeline.bootstrap.checks import Z_ONE_SIDED
    from pipeline.bootstrap.vlm import warm_up
    from pipeline.config.params import Params
    from pipeline.stats.evidence import wilson
    from pipeline.storage.artifacts import read_table
    from pipeline.storage.schemas import CAPTIONS, WORLD_ITEMS

    cfg = Params.model_validate(params)
    rows = read_table("data/world/sft.parquet", WORLD_ITEMS).to_pylist()
    model, processor, stats, _ = warm_up(rows, read_table("data/world/clip.parquet", CAPTIONS).to_pylist(), cfg)
    dev = read_table("data/world/dev.parquet", WORLD_ITEMS).to_pylist()
    results = TransformersEngine(model, processor).greedy_results(dev, max_new_tokens=cfg.answer.max_new_tokens)
    cells = {}
    for cat, itype, n, k in counts(results, ["category", "image_type"]).iter_rows():
        cells[f"{cat}/{itype}"] = {"n": n, "accuracy": k / n, "low": wilson(k, n, Z_ONE_SIDED)[0]}
    import torch

    return {"cells": cells, "train_loss": stats["train_loss"], "kernels": torch.backends.cpu.get_cpu_capability(),
            "steps": cfg.bootstrap.vlm.steps}


def ceiling(seeds: list[int], isas: list[str], factor: float) -> None:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    for seed in seeds:
        params = ceiling_params(raw, factor, seed)
        for isa in isas:
            key = unit_key(params, isa)
            path = STORE / f"ceiling-{key}-s{seed}-{isa}.json"
            if path.exists():
                log.info("%s done", path.name)
                continue
            result = run_unit(["benchmarks.world_checks", "one", json.dumps(params)], ISAS[isa], ROOT,
                              f"ceiling seed {seed} {isa}")
            write_atomic(path, {"key": key, "seed": seed, "isa": isa, "factor": factor} | result, indent=1)
            log.warning("wrote %s", path.name)


def ceiling_table(units: list[dict]) -> str:
    from pipeline.bootstrap.skills import STRONG_AT

    cells = sorted({c for u in units for c in u["cells"]})
    lines = ["| cell | " + " | ".join(f"s{u['seed']} {u['isa']} ({u['kernels']}, {u['steps']} steps)" for u in units)
             + " |", "|---|" + "---|" * len(units)]
    fails = []
    for cell in cells:
        row = []
        for u in units:
            c = u["cells"].get(cell)
            row.append("—" if c is None else f"{c['accuracy']:.3f} (≥{c['low']:.3f}, n={c['n']})")
            if c is not None and c["accuracy"] < STRONG_AT:
                fails.append(f"{cell} s{u['seed']} {u['isa']}")
        lines.append(f"| {cell} | " + " | ".join(row) + " |")
    verdict = "every cell reaches {:.2f}".format(STRONG_AT) if not fails else "below {:.2f}: {}".format(
        STRONG_AT, ", ".join(fails))
    return "\n".join(lines) + f"\n\nCeiling: {verdict}."


def report() -> None:
    units = [json.loads(p.read_text()) for p in sorted(STORE.glob("ceiling-*.json"))]
    if not units:
        print("no ceiling units stored yet")
        return
    by_key: dict[str, list[dict]] = {}
    for u in units:
        by_key.setdefault(u["key"], []).append(u)
    for key, group in by_key.items():
        print(f"### Ceiling, key {key} ({len(group)} units)\n")
        print(ceiling_table(sorted(group, key=lambda u: (u["seed"], u["isa"]))))
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("ceiling")
    c.add_argument("--seeds", type=int, nargs="+", default=[0])
    c.add_argument("--isa", nargs="+", choices=sorted(ISAS), default=["native", "avx2"])
    c.add_argument("--factor", type=float, default=MAX_FACTOR)
    one = sub.add_parser("one")
    one.add_argument("params")
    sub.add_parser("report")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.cmd == "one":
        from pipeline.run.cpu import pin

        pin()
        print("RESULT " + json.dumps(run_ceiling_unit(json.loads(args.params))))
    elif args.cmd == "ceiling":
        ceiling(args.seeds, args.isa, args.factor)
    else:
        report()


if __name__ == "__main__":
    main()
