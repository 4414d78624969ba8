"""DVC stage `mixture@round`: turn the round's diagnosis into integer quotas per weakness cell.

With ``--start`` it writes round r0's empty mixture instead, so every round has a previous mixture to
read (``dro`` updates the previous round's shares)."""

import json
from pathlib import Path

from pipeline.mixture import make_mixture
from pipeline.runtime import start, write_json, write_metrics


def main(argv=None):
    args, params = start(__doc__, argv, (("--diagnosis", {}), ("--previous", {}), ("--start", {"action": "store_true"}),
                                         ("--out", {"required": True}), ("--metrics", {})))
    if args.start:
        write_json(args.out, {"strategy": "none", "budget": 0, "quotas": {}, "shares": {}})
        return
    diagnosis = json.loads(Path(args.diagnosis).read_text())
    previous = json.loads(Path(args.previous).read_text())["shares"] if args.previous else {}
    mixture = make_mixture(diagnosis, params.mixture, previous)
    write_json(args.out, mixture)
    write_metrics(args.metrics, {"quota": mixture["quotas"], "cells": len(mixture["quotas"])})


if __name__ == "__main__":
    main()
