"""The pipeline's performance in one run: every number next to what it is measured against.

Sections (``--only`` picks some), each measured in its own process so they do not share threads or memory:

* ``noop``: `dvc status` and a no-op `dvc repro` of this workspace (every stage up to date), and of a
  throwaway clone of HEAD whose world has a ``--pool`` image pool (100,000 by default; its rounds are left
  out, the pool's stages are what grows with the pool): the time a user waits when nothing changed.
* ``round``: one round's wall time by stage: the stages of the last round of params.yaml forced one by one
  (``dvc repro --force --single-item``; they are deterministic, so the outs and dvc.lock do not change).
* ``agents``: agent calls per accepted sample of the world backend (``metrics/rN/generate.json``) against
  the minimum, one call per role.
* ``grpo``: GRPO prompts per second, full fine-tuning and LoRA (``benchmarks/grpo_throughput.py``).
* ``embed``: embedding throughput against the compute bound, the default tiny CLIP and ViT-B/32
  (``benchmarks/embed_throughput.py``).
* ``search``: top-10 search over ``--vectors`` vectors (1,000,000 by default), median latency and recall@10,
  with and without an image-type filter (``benchmarks/search_latency.py``).

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.perf --out /tmp/perf.json [--only embed search]
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

import yaml

from pipeline.run.repository import clone as clone_at
from pipeline.run.repository import restore_workspace

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("perf")
SECTIONS = ["noop", "round", "agents", "grpo", "embed", "search"]
ROUND_STAGES = ["diagnose", "mixture", "generate", "filter", "train", "evaluate"]


def timed(cmd: list[str], cwd: Path = REPO, env: dict | None = None) -> float:
    began = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed in {cwd}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return round(time.perf_counter() - began, 2)


def last_round() -> str:
    rounds = yaml.safe_load((REPO / "params.yaml").read_text())["rounds"]
    return max(rounds, key=lambda r: int(r[1:]))


def noop(pool: int) -> dict:
    """No-op `dvc repro` here and in a clone with a ``pool``-image world (built first, not timed as no-op)."""
    if subprocess.run(["dvc", "status", "--quiet"], cwd=REPO).returncode:
        raise RuntimeError("the workspace is not up to date: run `dvc repro` first")
    out = {"workspace": {"pool": yaml.safe_load((REPO / "params.yaml").read_text())["world"]["pool_size"],
                         "status_s": timed(["dvc", "status"]), "repro_s": timed(["dvc", "repro"])}}
    with tempfile.TemporaryDirectory(dir=REPO / "data") as tmp:
        clone = clone_at("HEAD", Path(tmp) / "repo", REPO)
        params = yaml.safe_load((clone / "params.yaml").read_text())
        params["world"]["pool_size"] = pool
        params["rounds"] = {}
        (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        cache = subprocess.run(["dvc", "cache", "dir"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        subprocess.run(["dvc", "cache", "dir", "--local", cache], cwd=clone, check=True)  # bootstrap from run-cache
        build = timed(["dvc", "repro"], cwd=clone)
        out["large_pool"] = {"pool": pool, "build_s": build, "status_s": timed(["dvc", "status"], cwd=clone),
                             "repro_s": timed(["dvc", "repro"], cwd=clone)}
    return out


def out_hashes() -> dict[str, str]:
    """Every out's hash in dvc.lock, by path."""
    lock = yaml.safe_load((REPO / "dvc.lock").read_text())
    return {o["path"]: o.get("md5", "") for stage in lock["stages"].values() for o in stage.get("outs", [])}


def round_times() -> dict:
    """Force the last round's stages one by one. Their outs must come back identical, except Lance tables: Lance
    names its data files with random UUIDs, so a rewritten table hashes anew whatever its rows (and the stage
    reading it reruns, to the same outs)."""
    name = last_round()
    before = out_hashes()
    stages = {s: timed(["dvc", "repro", "--force", "--single-item", f"{s}@{name}"]) for s in ROUND_STAGES}
    changed = sorted(p for p, h in out_hashes().items() if before.get(p) != h)
    differ = [p for p in changed if not p.endswith(".lance")]
    if differ:
        log.warning("outs changed after forcing round %s's stages, so a stage is not deterministic: %s", name, differ)
    restore_workspace(REPO)  # DVC autostages its lock
    return {"round": name, "stages_s": stages, "total_s": round(sum(stages.values()), 1),
            "outs_unchanged": not differ, "lance_rewritten": [p for p in changed if p.endswith(".lance")]}


def agents() -> dict:
    out = {}
    for path in sorted((REPO / "metrics").glob("r*/generate.json")):
        metrics = json.loads(path.read_text())
        roles = sorted(k.split(".", 1)[1] for k in metrics if k.startswith("calls."))
        out[path.parent.name] = {"per_accepted": metrics["per_accepted.calls"], "roles": roles,
                                 "minimum": len(roles), "ratio": metrics["per_accepted.calls"] / len(roles),
                                 "accepted": metrics["accepted"], "attempts": metrics["attempts"]}
    return out


def script(name: str, *args: str) -> dict:
    """A benchmark script of this folder, in its own process, with its numbers as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cmd = [sys.executable, str(REPO / "benchmarks" / name), *args, "--json", str(out)]
        began = time.perf_counter()
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"})
        if done.returncode:
            raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
        result = json.loads(out.read_text())
        return result | {"seconds": round(time.perf_counter() - began, 1)}


def report(results: dict) -> str:
    lines = ["| measure | value | against | ratio |", "|---|---|---|---|"]
    if "noop" in results:
        w, big = results["noop"]["workspace"], results["noop"].get("large_pool")
        lines.append(f"| no-op `dvc repro`, whole DAG, {w['pool']:,}-image pool | {w['repro_s']:.1f} s | "
                     f"`dvc status` {w['status_s']:.1f} s | {w['repro_s'] / w['status_s']:.1f}× |")
        if big:
            lines.append(f"| no-op `dvc repro`, world to r0 (no rounds), {big['pool']:,}-image pool | "
                         f"{big['repro_s']:.1f} s | building it: {big['build_s']:.0f} s | "
                         f"{big['repro_s'] / big['build_s']:.3f} |")
    if "round" in results:
        r = results["round"]
        parts = ", ".join(f"{s} {t:.0f} s" for s, t in r["stages_s"].items())
        same = "outs identical" if r["outs_unchanged"] else "OUTS CHANGED"
        lines.append(f"| round {r['round']} wall time, every stage forced | {r['total_s']:.0f} s | {parts} | {same} "
                     f"(Lance tables rewritten: {len(r['lance_rewritten'])}) |")
    for name, a in results.get("agents", {}).items():
        lines.append(f"| agent calls per accepted sample, world backend, {name} | {a['per_accepted']:.2f} | "
                     f"minimum {a['minimum']} (one per role: {', '.join(a['roles'])}) | {a['ratio']:.2f}× |")
    if "grpo" in results:
        g = results["grpo"]
        lines.append(f"| GRPO prompts/s, full fine-tuning | {g['full']['prompts_per_second']:.2f} | LoRA "
                     f"{g['lora']['prompts_per_second']:.2f} | LoRA/full {g['lora_vs_full_speed']:.2f} |")
    for key in ("embed_tiny", "embed_vit"):
        if key in results:
            e = results[key]
            lines.append(f"| embedding, {e['model']} ({e['dtype']}) | {e['pipeline_ips']:.0f} images/s | compute bound "
                         f"{e['bound_ips']:.0f} images/s | {e['share_of_bound']:.0%} |")
            lines.append(f"| embedding, {e['model']}: the encoder alone on preprocessed batches | "
                         f"{e['encoder_ips']:.0f} images/s | compute bound | {e['encoder_ips'] / e['bound_ips']:.0%} "
                         f"(the pipeline reaches {e['pipeline_ips'] / e['encoder_ips']:.0%} of it) |")
    if "search" in results:
        s = results["search"]
        for name, row in s["searches"].items():
            lines.append(f"| search {s['rows']:,} vectors, {name} | {row['median_ms']:.2f} ms median | recall@10 "
                         f"{row['recall_at_10']:.3f} | — |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=SECTIONS)
    parser.add_argument("--pool", type=int, default=100_000)
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--out", help="write the numbers as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    results: dict = {}
    for section in args.only:
        log.info("measuring %s", section)
        if section == "noop":
            results["noop"] = noop(args.pool)
        elif section == "round":
            results["round"] = round_times()
        elif section == "agents":
            results["agents"] = agents()
        elif section == "grpo":
            results["grpo"] = script("grpo_throughput.py", "--steps", "8")
        elif section == "embed":
            results["embed_tiny"] = script("embed_throughput.py", "--model", "tiny")
            results["embed_vit"] = script("embed_throughput.py", "--model", "vit-b-32", "--images", "384")
        elif section == "search":
            results["search"] = script("search_latency.py", "--rows", str(args.vectors), "--queries", "100")
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=1))
    sys.stdout.write(report(results))


if __name__ == "__main__":
    main()
