"""DVC stage `generate@round`: fill the quotas with targeted samples from the pinned pool."""

import json
import shutil
from pathlib import Path

import lancedb
import pyarrow as pa

from pipeline import lake
from pipeline.agents import BACKENDS
from pipeline.generate import ATTEMPT_SCHEMA, SAMPLE_SCHEMA, generate
from pipeline.runtime import file_hash, round_seed, start, write_metrics
from pipeline.search import PoolSearch


def main(argv=None):
    args, params = start(__doc__, argv, tuple((f, {"required": True}) for f in (
        "--round", "--mixture", "--diagnosis", "--brief", "--pool", "--vectors", "--clip", "--scenes", "--out",
        "--metrics")))
    cfg = params.generate
    quotas = json.loads(Path(args.mixture).read_text())["quotas"]
    backend = BACKENDS[cfg.backend](args.scenes, list(cfg.edits))
    search = PoolSearch(lake.Manifest.read(args.vectors), args.clip, params.search.nprobes)
    samples, attempts, counts = generate(
        quotas, Path(args.brief).read_text(), file_hash(args.diagnosis), backend, search,
        lake.Manifest.read(args.pool), round_name=args.round, seed=round_seed(params.seed, args.round),
        top_k=cfg.top_k, max_attempts_per_sample=cfg.max_attempts_per_sample)
    shutil.rmtree(args.out, ignore_errors=True)
    db = lancedb.connect(args.out)
    db.create_table("samples", pa.Table.from_pylist(samples, SAMPLE_SCHEMA))
    db.create_table("attempts", pa.Table.from_pylist(attempts, ATTEMPT_SCHEMA))
    write_metrics(args.metrics, counts)


if __name__ == "__main__":
    main()
