"""DVC stage `audit@round`: which data the round made for which weakness and what changed, against a control arm.

Writes the cells table (per cell and category: quota, attempts, accepted, kept and trained samples with their
ids, evaluation accuracy before and after with 95% intervals, the control arm's change, the paired difference,
a verdict), every sample's lineage, a Markdown summary and metrics, with label precision where the truth is
known or a person reviewed the round (--reviews: data/reviews, whose <round>.json `dpe review --import` writes).
The control arm is the DVC experiment `audit.control` names, the reseeded reruns (retraining noise) those
`dpe audit --ablate` runs; `dpe audit` reruns this stage when their commits change (pipeline/audit/audit.py).
"""

from pipeline.audit.audit import FLAGS, audit_round
from pipeline.audit.params import AuditParams
from pipeline.run.runtime import start


def main(argv=None):
    args, params = start(__doc__, AuditParams, argv, required=FLAGS)
    audit_round(args, params)


if __name__ == "__main__":
    main()
