"""DVC stage `generate@round`: fill the quotas with targeted samples from the pinned pool, one process per
round (a second is refused), attempts in `generate.concurrency` threads (pipeline/generation/generate.py)."""

import logging
import sys

from pipeline.answers.structured import EndpointRefused
from pipeline.generation.dedup import Seen
from pipeline.generation.generate import Budget, RoundState, generate, round_inputs
from pipeline.generation.journal import Journal, RoundBusy, code_key, hold, run_key
from pipeline.generation.params import GenerateParams
from pipeline.run.runtime import file_hash, start, write_metrics
from pipeline.storage import artifacts, schemas


def main(argv=None):
    args, params = start(__doc__, GenerateParams, argv, required=(
        "--round", "--mixture", "--diagnosis", "--brief", "--pool", "--vectors", "--clip", "--probe", "--seen-before",
        "--samples", "--attempts", "--seen", "--metrics"), optional=("--listed",))
    try:
        hold(args.attempts)  # before anything is read: the round's one writer
    except RoundBusy as err:
        sys.exit(f"generate@{args.round}: {err}")
    cfg = params.generate
    pool_manifest, vectors = artifacts.read_manifest(args.pool), artifacts.read_manifest(args.vectors)
    inputs = round_inputs(params, args, pool_manifest, vectors)
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
