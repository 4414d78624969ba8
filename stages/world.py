"""DVC stage `world`: render the embedded world (pool source, scene records, probe, eval, corpora)."""

from pipeline.runtime import start, write_metrics
from pipeline.world.build import build_world


def main(argv=None):
    args, params = start(__doc__, argv, (("--out", {"required": True}), ("--metrics", {"required": True})))
    counts = build_world(params.world, params.seed, args.out)
    write_metrics(args.metrics, {"images": counts})


if __name__ == "__main__":
    main()
