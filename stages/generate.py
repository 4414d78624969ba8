"""DVC stage `generate@round`: fill the quotas with targeted samples from the pinned pool. It leads the round
and writes the outs; helpers (--follow, dpe work) make some attempts (pipeline/generation/claims.py)."""

import logging
from pathlib import Path

from pipeline import artifacts, schemas
from pipeline.generation.agents import make_backend
from pipeline.generation.claims import RoundDone, join
from pipeline.generation.dedup import Seen
from pipeline.generation.generate import Budget, Context, failure_images, generate
from pipeline.generation.journal import Journal, run_key
from pipeline.generation.params import GenerateParams as Params
from pipeline.pool.ingest import listed_ids
from pipeline.pool.restore import ensure_pinned
from pipeline.pool.search import PoolSearch
from pipeline.runtime import file_hash, start, write_metrics
from pipeline.structured import EndpointRefused


def main(argv=None):
    args, params = start(__doc__, Params, argv, required=(
        "--round", "--mixture", "--diagnosis", "--brief", "--pool", "--vectors", "--clip", "--probe", "--seen-before",
        "--samples", "--attempts", "--seen", "--metrics"), optional=("--listed", "--threads"), switches=("--follow",))
    cfg = params.generate
    diagnosis = artifacts.read_json(args.diagnosis, schemas.Diagnosis)
    pool_manifest, vectors = artifacts.read_manifest(args.pool), artifacts.read_manifest(args.vectors)
    listed = listed_ids(args.listed) if args.listed else None
    ensure_pinned(params, pool_manifest, listed, vectors, args.clip)  # a fresh clone has manifests, not the lake
    allowed = None if listed is None or len(listed) == pool_manifest.rows else listed
    ctx = Context(backend=make_backend(params),
                  search=PoolSearch(vectors, args.clip, params.search.nprobes, allowed=allowed),
                  pool_manifest=pool_manifest, brief=Path(args.brief).read_text(),
                  diagnosis_hash=file_hash(args.diagnosis), round_name=args.round,
                  seed=params.seed_of(args.round), top_k=cfg.top_k,
                  failures={c.key: tuple(e.model_dump() for e in c.examples) for c in diagnosis.cells},
                  failure_images=failure_images(diagnosis, args.probe, params.probe), image_queries=cfg.image_queries,
                  seen=Seen.from_table(artifacts.read_table(args.seen_before, schemas.SEEN), cfg.dedup))
    key = run_key(args.round, file_hash(args.mixture), file_hash(args.diagnosis), file_hash(args.brief),
                  ctx.pool_manifest.model_dump_json(), vectors.model_dump_json(),
                  ctx.search.model_id, cfg.model_dump_json(), str(params.search.nprobes), str(ctx.seed),
                  file_hash(args.seen_before), file_hash(args.probe), file_hash(args.listed) if args.listed else "")
    shared = join(args.attempts, key, args.follow)  # before the journal is read: see Claims.close
    journal = Journal(args.samples, args.attempts, key, cfg.checkpoint_every, follow=not shared.leads)
    try:
        counts = generate(artifacts.read_json(args.mixture, schemas.Mixture).quotas, ctx, cfg.max_attempts_per_sample,
                          journal, Budget.of(cfg), cfg.concurrency, shared, int(args.threads) if args.threads else None)[2]
    except EndpointRefused as err:
        logging.getLogger("pipeline").error("%s. The attempts finished so far are kept; a rerun resumes them.", err)
        raise SystemExit(1)
    except RoundDone:  # a helper: the leader finished the round meanwhile
        counts = None
    if shared.leads and counts is not None:
        artifacts.write_parquet(args.seen, ctx.seen.table(), schemas.SEEN)
        write_metrics(args.metrics, counts)
    shared.close(counts)


if __name__ == "__main__":
    main()
