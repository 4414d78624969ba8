"""DVC stage `world`: render the embedded world (pool source, scene records, probe, eval, dev, corpora)."""

from pipeline.run.runtime import start, write_metrics
from pipeline.world.params import WorldParams
from pipeline.world.world import WorldFiles, build_world

FILES = tuple(f"--{name}" for name in WorldFiles.__dataclass_fields__)


def main(argv=None):
    args, params = start(__doc__, WorldParams, argv, required=FILES + ("--metrics",))
    files = WorldFiles(**{flag[2:]: getattr(args, flag[2:]) for flag in FILES})
    write_metrics(args.metrics, {"images": build_world(params.world, params.seed, files)})


if __name__ == "__main__":
    main()
