"""DVC stage `mixture@round`: turn the round's diagnosis into integer quotas per weakness cell."""

from pipeline.mixture.mixture import make_mixture
from pipeline.mixture.params import MixtureParams
from pipeline.run.runtime import start, write_metrics
from pipeline.storage.artifacts import read_json, write_json
from pipeline.storage.schemas import Diagnosis, Mixture


def main(argv=None):
    args, params = start(__doc__, MixtureParams, argv, required=("--diagnosis", "--previous", "--out", "--metrics"))
    previous = read_json(args.previous, Mixture).shares
    mixture = make_mixture(read_json(args.diagnosis, Diagnosis), params.mixture, previous)
    write_json(args.out, mixture)
    write_metrics(args.metrics, {"quota": mixture.quotas, "cells": len(mixture.quotas)})


if __name__ == "__main__":
    main()
