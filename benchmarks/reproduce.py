"""Does a fresh clone's ``make demo`` reproduce the committed metrics, byte for byte?

Clones the repository at a commit (default HEAD) into a temporary folder and runs ``make demo`` there: a fresh
virtual environment installed from ``requirements.lock``, then ``dvc repro`` of the whole DAG from nothing. Then
compares every metrics file the demo writes with the one committed at that commit, byte for byte. The audit
stage's ``metrics/<round>/audit.json`` and ``ablation.json`` are left out: the committed ones come from
``dpe audit`` runs (the control arm, the ablations), which the demo does not run.

CPU training gives different floats on another instruction set or thread count, so the report names this
machine's CPU model, whether it has AVX-512, and the torch thread count; compare like with like.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.reproduce [--rev HEAD] [--keep DIR] [--report out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LEFT_OUT = ("audit.json", "ablation.json")  # written by dpe audit's experiments, not by the demo alone
log = logging.getLogger("benchmarks.reproduce")


def cpu() -> dict:
    flags = ""
    model = platform.processor()
    info = Path("/proc/cpuinfo")
    if info.exists():
        text = info.read_text()
        model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")),
                     model)
        flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return {"model": model, "avx512": "avx512f" in flags, "cores": os.cpu_count()}


def committed_metrics(rev: str, clone: Path) -> dict[str, bytes]:
    """Every file under metrics/ at ``rev`` but the audit's, by path."""
    listed = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, "metrics"], cwd=clone, check=True,
                            capture_output=True, text=True).stdout.split()
    return {path: subprocess.run(["git", "show", f"{rev}:{path}"], cwd=clone, check=True,
                                 capture_output=True).stdout
            for path in listed if Path(path).name not in LEFT_OUT}


def compare(clone: Path, committed: dict[str, bytes]) -> dict[str, str]:
    """path -> equal | different | missing (the demo did not write it)."""
    out = {}
    for path, data in sorted(committed.items()):
        made = clone / path
        out[path] = "missing" if not made.exists() else "equal" if made.read_bytes() == data else "different"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--keep", type=Path, help="clone here and keep it (default: a temporary folder, removed)")
    parser.add_argument("--report", type=Path, help="write the comparison as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    rev = subprocess.run(["git", "rev-parse", args.rev], cwd=REPO, check=True, capture_output=True,
                         text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="dpe-reproduce-") as tmp:
        clone = args.keep or Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        subprocess.run(["git", "checkout", "-q", rev], cwd=clone, check=True)
        committed = committed_metrics(rev, clone)
        for path in committed:  # so a file the demo does not write shows as missing, not as equal
            (clone / path).unlink()
        log.info("clone of %s in %s: make demo (install, then dvc repro from nothing)", rev[:10], clone)
        began = time.perf_counter()
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        demo = subprocess.run(["make", "demo"], cwd=clone, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - began
        if demo.returncode:
            raise SystemExit(f"make demo failed after {seconds:.0f} s:\n{demo.stdout[-3000:]}\n{demo.stderr[-3000:]}")
        threads = subprocess.run([str(clone / ".venv/bin/python"), "-c", "import torch; print(torch.get_num_threads())"],
                                 capture_output=True, text=True).stdout.strip()
        result = compare(clone, committed)
    equal = sum(v == "equal" for v in result.values())
    report = {"rev": rev, "cpu": cpu(), "torch_threads": threads, "demo_seconds": round(seconds),
              "files": len(result), "equal": equal, "not_equal": {k: v for k, v in result.items() if v != "equal"}}
    log.info("make demo took %.0f s; %d of %d committed metrics files equal byte for byte", seconds, equal,
             len(result))
    for path, verdict in result.items():
        if verdict != "equal":
            log.info("  %s: %s", path, verdict)
    if args.report:
        args.report.write_text(json.dumps(report, indent=1) + "\n")
    if equal != len(result):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
