"""DVC stage `round_zero`: what round r0 hands the first round, so every round has a previous one to read:
an empty mixture (``dro`` updates the previous round's shares) and an empty dedup index (generation
rejects samples that repeat any earlier round's)."""

from pipeline.config.sections import StageParams
from pipeline.run.runtime import start
from pipeline.storage.artifacts import write_json, write_parquet
from pipeline.storage.schemas import SEEN, Mixture


def main(argv=None):
    args, _ = start(__doc__, StageParams, argv, required=("--mixture", "--seen"))
    write_json(args.mixture, Mixture(strategy="none", budget=0, quotas={}, shares={}))
    write_parquet(args.seen, [], SEEN)


if __name__ == "__main__":
    main()
