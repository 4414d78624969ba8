"""DVC stage `testset`: fresh world items for the claims, read by no stage (pipeline/world/testset.py)."""

from pipeline.config.sections import Seeded
from pipeline.run.runtime import start
from pipeline.world.params import TestSetConfig, WorldConfig
from pipeline.world.testset import write_test_set


class Params(Seeded):
    world: WorldConfig = WorldConfig()
    testset: TestSetConfig = TestSetConfig()


def main(argv=None):
    args, params = start(__doc__, Params, argv, required=("--exclude", "--out", "--manifest"))
    write_test_set(params.world, params.seed, params.testset, args.exclude.split(","), args.out, args.manifest)


if __name__ == "__main__":
    main()
