"""DVC stage `world`: render the embedded world (pool source, scene records, probe, eval, dev, corpora)."""

from pipeline.config.sections import Seeded
from pipeline.run.runtime import start, write_metrics
from pipeline.world.build import WorldFiles, build_world
from pipeline.world.params import WorldConfig


class Params(Seeded):
    world: WorldConfig = WorldConfig()


FILES = tuple(f"--{name}" for name in WorldFiles.__dataclass_fields__)


def main(argv=None):
    args, params = start(__doc__, Params, argv, required=FILES + ("--metrics",))
    files = WorldFiles(**{flag[2:]: getattr(args, flag[2:]) for flag in FILES})
    write_metrics(args.metrics, {"images": build_world(params.world, params.seed, files)})


if __name__ == "__main__":
    main()
