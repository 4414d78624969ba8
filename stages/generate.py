"""DVC stage `generate@round`: fill the quotas with targeted samples from the pinned pool, one process per
round (a second is refused), attempts in `generate.concurrency` threads (pipeline/generation/generate.py)."""

import logging
import sys
from pathlib import Path

from pipeline.answers.structured import EndpointRefused
from pipeline.generation.agents import make_backend
from pipeline.generation.attempt import RoundInputs
from pipeline.generation.dedup import Seen
from pipeline.generation.generate import Budget, RoundState, generate, probe_facts
from pipeline.generation.journal import Journal, RoundBusy, code_key, hold, run_key
from pipeline.generation.params import GenerateParams as Params
from pipeline.pool.ingest import listed_ids
from pipeline.pool.restore import ensure_pinned
from pipeline.pool.search import PoolSearch
from pipeline.run.runtime import file_hash, start, write_metrics
from pipeline.storage import artifacts, schemas


def main(argv=None):
    args, params = start(__doc__, Params, argv, required=(
        "--round", "--mixture", "--diagnosis", "--brief", "--pool", "--vectors", "--clip", "--probe", "--seen-before",
        "--samples", "--attempts", "--seen", "--metrics"), optional=("--listed",))
    try:
        hold(args.attempts)  # before anything is read: the round's one writer
    except RoundBusy as err:
        sys.exit(f"generate@{args.round}: {err}")
    cfg = params.generate
    diagnosis = artifacts.read_json(args.diagnosis, schemas.Diagnosis)
    pool_manifest, vectors = artifacts.read_manifest(args.pool), artifacts.read_manifest(args.vectors)
    listed = listed_ids(args.listed) if args.listed else None
    ensure_pinned(params, pool_manifest, listed, vectors, args.clip)  # a fresh clone has manifests, not the lake
    allowed = None if listed is None or len(listed) == pool_manifest.rows else listed
    inputs = RoundInputs(
        backend=make_backend(params), search=PoolSearch(vectors, args.clip, params.search.nprobes, allowed=allowed),
        pool_manifest=pool_manifest, brief=Path(args.brief).read_text(), diagnosis_hash=file_hash(args.diagnosis),
        round_name=args.round, seed=params.seed_of(args.round), top_k=cfg.top_k, image_queries=cfg.image_queries,
        validators=cfg.validators,
        failures={c.key: tuple(e.model_dump() for e in c.examples) for c in diagnosis.cells},
        **probe_facts(diagnosis, args.probe, params.probe))
    state = RoundState(seen=Seen.from_table(artifacts.read_table(args.seen_before, schemas.SEEN), cfg.dedup))
    key = run_key(args.round, file_hash(args.mixture), file_hash(args.diagnosis), file_hash(args.brief),
                  pool_manifest.model_dump_json(), vectors.model_dump_json(),
                  inputs.search.model_id, cfg.model_dump_json(), str(params.search.nprobes), str(inputs.seed),
                  file_hash(args.seen_before), file_hash(args.probe), file_hash(args.listed) if args.listed else "",
                  code_key(__file__, inputs.backend))
    journal = Journal(args.samples, args.attempts, key, cfg.checkpoint_every)
    try:
        counts = generate(artifacts.read_json(args.mixture, schemas.Mixture).quotas, inputs,
                          cfg.max_attempts_per_sample, journal, Budget.of(cfg), cfg.concurrency, state)[2]
    except EndpointRefused as err:
        logging.getLogger("pipeline").error("%s. The attempts finished so far are kept; a rerun resumes them.", err)
        raise SystemExit(1)
    artifacts.write_parquet(args.seen, state.seen.table(), schemas.SEEN)
    write_metrics(args.metrics, counts)


if __name__ == "__main__":
    main()
