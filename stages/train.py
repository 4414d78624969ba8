"""DVC stage `train@round`: GRPO from the previous round's model on the round's training set, then the round
gate (train.gate: a dev check the round must pass, or a weaker step of it, or the previous model is carried
over); the round's model (full weights or a LoRA adapter), its training curves (a DVC plot) and metrics.
A killed run resumes from the last trainer checkpoint in --state (scratch, not an out). --reference: the
base model, the KL reference under train.reference: base."""

import sys

from pipeline.run.runtime import start, write_metrics
from pipeline.storage import artifacts, schemas
from pipeline.training.curves import write_curves
from pipeline.training.params import TrainParams
from pipeline.training.train import blind, launch, launched, leave_out, train_round

FLAGS = ("--round", "--trainset", "--model", "--out", "--state", "--curves", "--metrics")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args, params = start(__doc__, TrainParams, argv, required=FLAGS, optional=("--reference",))
    seed = params.seed_of(args.round) + params.train.reseed
    if params.train.processes > 1 and not launched():
        sys.exit(launch(argv, args, params, seed))
    rows = artifacts.read_table(args.trainset, schemas.TRAINSET).to_pylist()
    ablated = params.train.ablate.get(args.round, [])
    kept = leave_out(rows, ablated)
    if params.train.blind:
        kept = blind(kept)
    if params.train.reference == "base" and not args.reference:
        sys.exit("train.reference: base needs --reference <the base round's model folder> (dvc.yaml passes r0's)")
    reference = args.reference if params.train.reference == "base" else None
    result = train_round(kept, args.trainset, args.model, args.out, args.state, params, seed, reference)
    if result is not None:
        stats, history = result
        if ablated:
            stats |= {"ablated": len(rows) - len(kept), "ablated_cells": ",".join(ablated)}
        if params.train.blind:
            stats["blind"] = len(kept)
        write_curves(args.curves, history)
        write_metrics(args.metrics, stats)


if __name__ == "__main__":
    main()
