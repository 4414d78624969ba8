"""Does a fresh clone's ``make demo`` reproduce the committed metrics, byte for byte?

Clones the repository at a commit (default HEAD) into a temporary folder and runs ``make demo`` there: a fresh
virtual environment installed from ``requirements.lock``, then ``dvc repro`` of the whole DAG from nothing. Then
compares every metrics file the demo writes with the one committed at that commit, byte for byte. The audit
stage's ``metrics/<round>/audit.json`` and ``ablation.json`` are left out: the committed ones come from
``dpe audit`` runs (the control arm, the ablations), which the demo does not run.

CPU training gives different floats on another instruction set or thread count, so the report names this
machine's CPU model, whether it has AVX-512, and the torch thread count; compare like with like.

A stage that records wall time (the round gate's ``gate.seconds``) never repeats it: a JSON file whose only
differing keys end in ``.seconds`` is reported as such, apart from equal and different ones. ``--made DIR``
compares the metrics an earlier run left in DIR instead of running the demo: the A/B of two commits' code
(run the demo of the first with ``--keep DIR``, then compare DIR with the second's committed metrics).

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.reproduce [--rev HEAD] [--keep DIR] [--report out.json]
    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.reproduce --rev HEAD --made DIR
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import cpu
from pipeline.run.repository import clone as clone_at
from pipeline.run.repository import commit_of, files_at, show

REPO = Path(__file__).resolve().parents[1]
LEFT_OUT = ("audit.json", "ablation.json")  # written by dpe audit's experiments, not by the demo alone
log = logging.getLogger("benchmarks.reproduce")


def committed_metrics(rev: str, clone: Path) -> dict[str, bytes]:
    """Every file under metrics/ at ``rev`` but the audit's, by path."""
    return {path: show(rev, path, clone) for path in files_at(rev, "metrics", clone) if Path(path).name not in LEFT_OUT}


def verdict(made: bytes | None, committed: bytes) -> str:
    """equal | missing | wall time only: <keys> (a JSON file whose only differing keys are ``*.seconds``, the
    wall time a stage records, which no rerun repeats) | different.

    >>> verdict(b'{"a": 1, "gate.seconds": 3.0}', b'{"a": 1, "gate.seconds": 4.5}')
    'wall time only: gate.seconds'
    >>> verdict(b'{"a": 2}', b'{"a": 1}'), verdict(None, b"x"), verdict(b"x", b"x")
    ('different', 'missing', 'equal')
    """
    if made is None:
        return "missing"
    if made == committed:
        return "equal"
    try:
        a, b = json.loads(made), json.loads(committed)
    except ValueError:
        return "different"
    if not isinstance(a, dict) or not isinstance(b, dict):
        return "different"
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return f"wall time only: {', '.join(keys)}" if all(k.endswith(".seconds") for k in keys) else "different"


def compare(made: Path, committed: dict[str, bytes]) -> dict[str, str]:
    """path -> verdict of the file under ``made`` against the committed bytes."""
    return {path: verdict((made / path).read_bytes() if (made / path).exists() else None, data)
            for path, data in sorted(committed.items())}


def demo(rev: str, clone: Path, committed: dict[str, bytes]) -> dict:
    """``make demo`` in a fresh clone of ``rev`` at ``clone``; its time and torch's thread count there."""
    clone_at(rev, clone, REPO)
    for path in committed:  # so a file the demo does not write shows as missing, not as equal
        (clone / path).unlink()
    log.info("clone of %s in %s: make demo (install, then dvc repro from nothing)", rev[:10], clone)
    began = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    done = subprocess.run(["make", "demo"], cwd=clone, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode:
        raise SystemExit(f"make demo failed after {seconds:.0f} s:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    threads = subprocess.run([str(clone / ".venv/bin/python"), "-c", "import torch; print(torch.get_num_threads())"],
                             capture_output=True, text=True).stdout.strip()
    return {"demo_seconds": round(seconds), "torch_threads": threads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--keep", type=Path, help="clone here and keep it (default: a temporary folder, removed)")
    parser.add_argument("--made", type=Path, help="no demo: compare the metrics an earlier run left in this folder "
                        "(its --keep) with those committed at --rev: an A/B of two commits' code")
    parser.add_argument("--report", type=Path, help="write the comparison as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    rev = commit_of(args.rev, REPO)
    if rev is None:
        raise SystemExit(f"--rev {args.rev}: no such commit")
    committed = committed_metrics(rev, REPO)
    if args.made:
        ran, result = {"made": str(args.made)}, compare(args.made, committed)
    else:
        with tempfile.TemporaryDirectory(prefix="dpe-reproduce-") as tmp:
            clone = args.keep or Path(tmp) / "clone"
            ran = demo(rev, clone, committed)
            result = compare(clone, committed)
    equal = sum(v == "equal" for v in result.values())
    timing = sum(v.startswith("wall time only") for v in result.values())
    report = {"rev": rev, "cpu": cpu(), **ran, "files": len(result), "equal": equal, "wall_time_only": timing,
              "not_equal": {k: v for k, v in result.items() if v != "equal"}}
    log.info("%d of %d committed metrics files equal byte for byte, %d more but for wall time", equal, len(result),
             timing)
    for path, verdict_ in result.items():
        if verdict_ != "equal":
            log.info("  %s: %s", path, verdict_)
    if args.report:
        args.report.write_text(json.dumps(report, indent=1) + "\n")
    if equal + timing != len(result):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
