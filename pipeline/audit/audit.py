"""The `audit@round` stage: which data the round made for which weakness and what changed, against a control
arm. ``audit_round`` reads the round's artifacts (the stage's flags, ``FLAGS``) and writes the cells table,
the lineage, the summary and the metrics."""

from __future__ import annotations

import pyarrow.parquet as pq
import yaml

from pipeline.audit.ablation import reseeded
from pipeline.audit.cells import CELLS, audit_cells, paired_items, sample_counts, verdict_counts
from pipeline.audit.control import FOUND, find_control
from pipeline.audit.lineage import lineage
from pipeline.audit.params import AuditParams
from pipeline.audit.review import label_quality
from pipeline.audit.summary import summary
from pipeline.run.runtime import write_metrics
from pipeline.storage import artifacts, schemas

FLAGS = ("--round", "--prev", "--mixture", "--attempts", "--samples", "--rollouts", "--trainset", "--listed",
         "--before", "--after", "--start", "--cells", "--lineage", "--summary", "--metrics", "--reviews")


def audit_round(args, params: AuditParams) -> None:
    ablated = params.train.ablate.get(args.round, [])
    samples = artifacts.read_table(args.samples, schemas.SAMPLES)
    attempts = artifacts.read_table(args.attempts, schemas.ATTEMPTS)
    trainset = artifacts.read_table(args.trainset, schemas.TRAINSET)
    before = artifacts.read_table(args.before, schemas.RESULTS)
    after = artifacts.read_table(args.after, schemas.RESULTS)
    with open(args.params) as fh:
        raw = yaml.safe_load(fh)
    control = find_control(params.audit.control, params.audit.control_set, args.before, args.after, raw)
    reruns = reseeded(args.round, params.audit.noise_runs)
    start_table = artifacts.read_table(args.start, schemas.RESULTS)
    items = paired_items(before, after, control.before, control.after, start_table, list(reruns.values()))
    counts = sample_counts(artifacts.read_json(args.mixture, schemas.Mixture).quotas, attempts, samples, trainset,
                           ablated)
    cells = audit_cells(args.round, counts, items)
    artifacts.write_parquet(args.cells, cells, CELLS)
    frame = lineage(samples, artifacts.read_table(args.rollouts, schemas.ROLLOUTS), trainset, args.round, attempts,
                    pq.read_table(args.listed, columns=["image_id", "source"]), ablated)
    frame.write_parquet(args.lineage)
    labels, label_lines = label_quality(args.reviews, args.round, samples, trainset)
    with open(args.summary, "w") as fh:
        fh.write(summary(args.round, args.prev, cells, control.message, samples.num_rows, len(reruns)) + label_lines)
    write_metrics(args.metrics, {"samples": samples.num_rows, "trained": frame["trained_in"].is_not_null().sum(),
                                 "control": {"status": control.status, "commit": control.commit or ""},
                                 "noise": {"runs": len(reruns), "commits": " ".join(reruns)},
                                 "verdicts": verdict_counts(cells), "with_control": control.status == FOUND, **labels})
