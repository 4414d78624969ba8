"""DVC stage `mixture@round`: turn the round's diagnosis into integer quotas per weakness cell."""

from pipeline.config.sections import StageParams
from pipeline.mixture.mixture import MixtureConfig, make_mixture
from pipeline.run.runtime import start, write_metrics
from pipeline.storage.artifacts import read_json, write_json
from pipeline.storage.schemas import Diagnosis, Mixture


class Params(StageParams):
    mixture: MixtureConfig = MixtureConfig()


def main(argv=None):
    args, params = start(__doc__, Params, argv, required=("--diagnosis", "--previous", "--out", "--metrics"))
    previous = read_json(args.previous, Mixture).shares
    mixture = make_mixture(read_json(args.diagnosis, Diagnosis), params.mixture, previous)
    write_json(args.out, mixture)
    write_metrics(args.metrics, {"quota": mixture.quotas, "cells": len(mixture.quotas)})


if __name__ == "__main__":
    main()
