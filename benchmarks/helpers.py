"""Generate helpers against a slow endpoint: what a second worker on a round (``dpe work``) buys.

Runs the generate stage of the committed round r1 (its command from dvc.yaml; its mixture scaled to ``--samples``
samples; its diagnosis, pool, vectors and CLIP from ``dvc repro``) into a temporary folder, with
``generate.backend: openai`` pointed at scripted agents on 127.0.0.1 that answer every call after ``--latency``
seconds (``tests.servers.photo_agents``: the five roles over real HTTP; the endpoint serves requests in parallel,
like vLLM or a hosted API). Setups, one after the other, each from an empty output folder:

- ``1 worker x 1 thread``: the stage alone, one attempt in flight;
- ``1 worker x 2 threads``: the stage alone, two in flight (the same machine's other way to go faster);
- ``leader + helper, 1 thread each``: the stage and ``--follow`` (what ``dpe work`` runs), two in flight;
- ``leader + helper, 2 threads each``: four in flight.

It prints seconds, the speed-up over the first setup, attempts made by each worker, and whether the attempts and
samples equal the first setup's, id for id (they must: helpers change who makes an attempt, never its result).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/helpers.py [--latency 1.0 --samples 16]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from pipeline import (
    artifacts,
    schemas,  # noqa: E402
)
from pipeline.cli import stage_argv  # noqa: E402
from tests.servers import Endpoint, photo_agents  # noqa: E402

SETUPS = (("1 worker x 1 thread", 1, 1), ("1 worker x 2 threads", 1, 2),
          ("leader + helper, 1 thread each", 2, 1), ("leader + helper, 2 threads each", 2, 2))


def inputs(work: Path, url: str, samples: int) -> list[str]:
    """generate@r1's command from dvc.yaml, with a scaled mixture and params pointing at ``url`` (its outs are
    set per setup by ``run``)."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["generate"] |= {"backend": "openai", "concurrency": 4, "checkpoint_every": 4}
    params["generate"]["openai"] |= {"base_url": url, "model": "scripted", "max_retries": 0, "timeout": 60}
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    argv = stage_argv("generate@r1", REPO)
    mixture = artifacts.read_json(REPO / argv[argv.index("--mixture") + 1], schemas.Mixture)
    scale = samples / sum(mixture.quotas.values())
    quotas = {cell: q for cell, n in mixture.quotas.items() if (q := round(n * scale))}
    artifacts.write_json(work / "mixture.json", mixture.model_copy(update={"quotas": quotas,
                                                                         "budget": sum(quotas.values())}))
    return with_values(argv, {"--mixture": work / "mixture.json"}) + ["--params", str(work / "params.yaml")]


def with_values(argv: list[str], values: dict[str, Path]) -> list[str]:
    """``argv`` with the value after each flag in ``values`` replaced."""
    return [str(values[argv[i - 1]]) if i and argv[i - 1] in values else arg for i, arg in enumerate(argv)]


def run(args: list[str], out: Path, workers: int, threads: int) -> dict:
    command = with_values(args, {"--samples": out / "samples.lance", "--attempts": out / "attempts.lance",
                                 "--seen": out / "seen.parquet", "--metrics": out / "m.json"})
    command += ["--threads", str(threads)]
    env = os.environ | {"TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "DPE_THREADS": "1"}
    began = time.perf_counter()
    procs = [subprocess.Popen(command + (["--follow"] if i else []), cwd=REPO, text=True, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for i in range(workers)]
    logs = [p.communicate()[0] for p in procs]
    seconds = time.perf_counter() - began
    if any(p.returncode for p in procs):
        raise SystemExit("a worker failed:\n" + "\n".join(log[-2000:] for log in logs))
    made = [int(m.group(1)) if (m := re.search(r"this worker made (\d+)", log)) else 0 for log in logs]
    return {"seconds": seconds, "made": made, "metrics": json.loads((out / "m.json").read_text()),
            "attempts": [r["attempt_id"] for r in artifacts.read_table(out / "attempts.lance", schemas.ATTEMPTS)
                         .to_pylist()],
            "samples": [r["sample_id"] for r in artifacts.read_table(out / "samples.lance", schemas.SAMPLES)
                        .to_pylist()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds the endpoint takes per call")
    parser.add_argument("--samples", type=int, default=16, help="samples wanted, about (r1's mixture scaled; cells that round to 0 are left out)")
    opts = parser.parse_args()

    def slow(body: dict) -> str:
        time.sleep(opts.latency)
        return photo_agents(body)

    endpoint = Endpoint(script=slow)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            args = inputs(Path(tmp), endpoint.url, opts.samples)
            for i, (name, workers, threads) in enumerate(SETUPS):
                rows.append((name, run(args, Path(tmp) / f"out{i}", workers, threads)))
    finally:
        endpoint.close()
    base = rows[0][1]
    print(f"latency {opts.latency} s per call, {len(base['attempts'])} attempts, "
          f"{base['metrics']['accepted']} accepted, {len(endpoint.requests)} calls in all setups")
    print("| setup | seconds | speed-up | attempts made per worker | same attempts and samples |")
    print("|---|---|---|---|---|")
    for name, row in rows:
        same = row["attempts"] == base["attempts"] and row["samples"] == base["samples"]
        print(f"| {name} | {row['seconds']:.1f} | {base['seconds'] / row['seconds']:.2f}x | "
              f"{' + '.join(map(str, row['made']))} | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
