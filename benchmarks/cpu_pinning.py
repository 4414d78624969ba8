"""Does pinning the CPU floats (``pipeline/run/cpu.py``) make the demo's metrics independent of the instruction set,
and what does it cost?

Clones the repository at ``--rev`` once per arm and runs ``dvc repro`` of the whole DAG there, one arm after
another (so the timings are side by side on one machine), then compares every metrics file with the ``pinned``
arm's and with the committed ones:

* ``pinned``: the project's default (AVX2 kernels in PyTorch, oneDNN and MKL; 2 threads);
* ``switched``: pinned, and every other library's own switch for the instruction sets above AVX2 turned off as
  well (NumPy's dispatch, Arrow's SIMD level, glibc's hardware capabilities): identical metrics mean no
  unpinned path used AVX-512, so a machine without it computes the same;
* ``native``: ``DPE_CPU=native``, the machine's widest kernels (what the pin trades away for speed).

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.cpu_pinning [--rev HEAD] [--arms pinned switched native]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import cpu
from pipeline.run.repository import clone as clone_at
from pipeline.run.repository import commit_of

REPO = Path(__file__).resolve().parents[1]
AVX512_NUMPY = "X86_V4 AVX512_ICL AVX512_SPR AVX512F AVX512CD AVX512VL AVX512BW AVX512DQ AVX512_SKX"
ARMS = {
    "pinned": {"DPE_CPU": "pinned"},
    "switched": {"DPE_CPU": "pinned", "NPY_DISABLE_CPU_FEATURES": AVX512_NUMPY, "ARROW_USER_SIMD_LEVEL": "AVX2",
                 "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F,-AVX512BW,-AVX512CD,-AVX512DQ,-AVX512VL"},
    "native": {"DPE_CPU": "native"},
}
COMMITTED_BY_AUDIT = ("audit.json", "ablation.json")  # written by dpe audit's experiments, not by dvc repro
log = logging.getLogger("benchmarks.cpu_pinning")


def metrics(folder: Path) -> dict[str, object]:
    """Every metrics file's flat keys, as ``<file>:<key>``."""
    out = {}
    for path in sorted((folder / "metrics").rglob("*.json")):
        for key, value in json.loads(path.read_text()).items():
            out[f"{path.relative_to(folder / 'metrics')}:{key}"] = value
    return out


def differences(a: dict, b: dict, ignore=("seconds", "finished", "time")) -> list[str]:
    """Keys whose values differ (timings left out)."""
    keys = sorted(set(a) | set(b))
    return [k for k in keys if not any(w in k for w in ignore) and a.get(k) != b.get(k)]


def run_arm(name: str, rev: str, workdir: Path) -> dict:
    clone = clone_at(rev, workdir / name, REPO)
    env = os.environ | ARMS[name] | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                                     "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", "DVC_NO_ANALYTICS": "1"}
    kernels = subprocess.run([sys.executable, "-c", "import stages, torch; from pipeline.run.cpu import describe; "
                              "print(describe())"], cwd=clone, env=env, capture_output=True, text=True).stdout.strip()
    began = time.perf_counter()
    done = subprocess.run(["dvc", "repro"], cwd=clone, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    (workdir / f"{name}.log").write_text(done.stdout + done.stderr)
    if done.returncode:
        raise RuntimeError(f"{name}: dvc repro failed; its log: {workdir / (name + '.log')}")
    log.info("%s: %.0f s (%s)", name, seconds, kernels)
    return {"seconds": round(seconds), "kernels": kernels, "metrics": metrics(clone)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--out", default="benchmarks/cpu_pinning.json")
    parser.add_argument("--keep", help="run in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    rev = commit_of(args.rev, REPO)
    if rev is None:
        raise SystemExit(f"--rev {args.rev}: no such commit")
    rev = rev[:7]
    committed = {}
    with tempfile.TemporaryDirectory(prefix="dpe-cpu-") as tmp:
        workdir = Path(args.keep or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        results = {name: run_arm(name, rev, workdir) for name in args.arms}
        committed = metrics(clone_at(rev, workdir / "committed", REPO))
    base = results.get("pinned")
    machine = cpu()
    report = {"rev": rev, "cpu": machine["model"], "avx512": machine["avx512"], "arms": {}}
    for name, result in results.items():
        report["arms"][name] = {
            "seconds": result["seconds"], "kernels": result["kernels"],
            "time_vs_pinned": round(result["seconds"] / base["seconds"], 3) if base else None,
            "differs_from_pinned": differences(base["metrics"], result["metrics"]) if base else None,
            "differs_from_committed": [k for k in differences(committed, result["metrics"])
                                       if not k.split(":")[0].endswith(COMMITTED_BY_AUDIT)]}
        print(f"{name:9s} {result['seconds']:5d} s  x{report['arms'][name]['time_vs_pinned']} of pinned  "
              f"{len(report['arms'][name]['differs_from_pinned'] or [])} metrics differ from pinned, "
              f"{len(report['arms'][name]['differs_from_committed'])} from the committed  ({result['kernels']})")
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
