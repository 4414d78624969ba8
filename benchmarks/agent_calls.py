"""Agent calls and tokens per accepted sample: the openai backend on a folder of ordinary photos.

Ingests and embeds ``tests/fixtures/photos`` (13 usable photos, one truncated) into a temporary lake with
the bootstrap CLIP (``--clip``), then runs one round's generation, without DVC, through the openai backend
against two sets of servers on 127.0.0.1, one after the other:

- ``scripted``: every role played by a script over real HTTP (``tests.servers.photo_agents``: the writer
  and the validator answer from the image's brightness, so they agree); what is counted is the protocol's
  own cost when every role does its job (its token counts are the script's fixed 50 + 9 per call);
- ``real``: the planner on llama.cpp serving SmolLM2-135M, the vision roles on `transformers serve` of the
  round-0 VLM (``--vlm``). Such small models cannot do the roles, so few or no samples are accepted; the
  row shows what an attempt costs in calls and real tokens, and what it is rejected for.

The world backend's numbers come from `dvc repro` (``metrics/rN/generate.json``).

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.agent_calls [--clip data/models/clip \\
        --vlm data/rounds/r0/model --quota 4 --attempts 3]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from pipeline.generation.attempt import RoundInputs
from pipeline.generation.generate import generate, total_calls
from pipeline.generation.openai_agents import OpenAIBackend
from pipeline.generation.params import GenerateConfig, OpenAIAgentsConfig
from pipeline.pool.embed import embed_pool
from pipeline.pool.ingest import ingest
from pipeline.pool.params import EmbedConfig, SearchConfig
from pipeline.pool.search import PoolSearch
from tests.servers import Endpoint, llama_cpp, photo_agents, transformers_serve

REPO = Path(__file__).resolve().parents[1]

TYPES = {"photo": "a photograph", "document": "a scanned document", "chart": "a chart or plot"}
QUOTAS = ("colour/photo", "counting/photo")


def run(name: str, cfg: OpenAIAgentsConfig, pool, vectors, clip_dir: str, quota: int, attempts: int) -> dict:
    ctx = RoundInputs(backend=OpenAIBackend(cfg, list(GenerateConfig().edits)), search=PoolSearch(vectors, clip_dir),
                      pool_manifest=pool, brief="Colour and counting on photographs are weak.",
                      diagnosis_hash="b" * 16, round_name="r1", seed=0, top_k=8)
    began = time.perf_counter()
    _, rows, counts = generate({cell: quota for cell in QUOTAS}, ctx, attempts)
    return {"setup": name, **counts, "calls": total_calls(counts), "seconds": round(time.perf_counter() - began, 1)}


def report(row: dict) -> str:
    per = row["accepted"] or row["attempts"]
    unit = "accepted" if row["accepted"] else "attempt (none accepted)"
    roles = ", ".join(f"{k.removeprefix('calls.')} {v}" for k, v in sorted(row.items()) if k.startswith("calls."))
    reasons = ", ".join(f"{k.removeprefix('rejected.')} {v}" for k, v in sorted(row.items())
                        if k.startswith("rejected."))
    return (f"| {row['setup']} | {row['attempts']} | {row['accepted']} | {row['calls']} ({roles}) | "
            f"{row['calls'] / per:.2f} per {unit} | {row['tokens.prompt'] / per:.0f} + "
            f"{row['tokens.completion'] / per:.0f} | {row['seconds']} | {reasons or '-'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", default=str(REPO / "data/models/clip"))
    parser.add_argument("--vlm", default=str(REPO / "data/rounds/r0/model"))
    parser.add_argument("--quota", type=int, default=4, help="samples wanted per cell (two cells)")
    parser.add_argument("--attempts", type=int, default=3, help="attempts per wanted sample")
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pool, _ = ingest([str(REPO / "tests/fixtures/photos")], str(work / "lake"), 10**7)
        vectors, _ = embed_pool(pool, args.clip, TYPES, EmbedConfig(), SearchConfig())
        shared = dict(max_retries=1, reply_retries=1, max_tokens=200, timeout=300)
        rows = []
        endpoint = Endpoint(script=photo_agents)
        try:
            cfg = OpenAIAgentsConfig(base_url=endpoint.url, model="scripted", **shared)
            rows.append(run("scripted", cfg, pool, vectors, args.clip, args.quota, args.attempts))
        finally:
            endpoint.close()
        if not args.skip_real:
            with llama_cpp() as text_url, transformers_serve(args.vlm, work / "serve") as vision_url:
                cfg = OpenAIAgentsConfig(base_url=vision_url, model=args.vlm,
                                         roles={"planner": {"base_url": text_url, "model": "smollm2"}}, **shared)
                rows.append(run("real", cfg, pool, vectors, args.clip, args.quota, args.attempts))
    print("| setup | attempts | accepted | calls (by role) | calls | tokens prompt + completion (same unit) | "
          "seconds | rejected |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(report(row))


if __name__ == "__main__":
    main()
