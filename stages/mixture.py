"""DVC stage `mixture@round`: turn the round's diagnosis into integer quotas per weakness cell."""

import json
from pathlib import Path

from pipeline.mixture import make_quotas
from pipeline.runtime import start, write_json, write_metrics


def main(argv=None):
    args, params = start(__doc__, argv, (("--diagnosis", {"required": True}), ("--out", {"required": True}),
                                         ("--metrics", {"required": True})))
    cfg = params.mixture
    diagnosis = json.loads(Path(args.diagnosis).read_text())
    quotas = make_quotas(diagnosis, cfg.strategy, cfg.budget, cfg.floor)
    write_json(args.out, {"strategy": cfg.strategy, "budget": cfg.budget, "quotas": quotas})
    write_metrics(args.metrics, {"quota": quotas, "cells": len(quotas)})


if __name__ == "__main__":
    main()
