"""DVC stage `testset`: fresh world items for the claims, read by no stage (pipeline/world/testset.py)."""

from pipeline.run.runtime import start
from pipeline.world.params import TestsetParams
from pipeline.world.testset import write_test_set


def main(argv=None):
    args, params = start(__doc__, TestsetParams, argv, required=("--exclude", "--out", "--manifest"))
    write_test_set(params.world, params.seed, params.testset, args.exclude.split(","), args.out, args.manifest)


if __name__ == "__main__":
    main()
