"""DVC stage `evaluate@round`: per-category accuracy of a checkpoint on the held-out evaluation set."""

import pyarrow.parquet as pq

from pipeline.answering import answer
from pipeline.diagnose import aggregate, grade_items
from pipeline.models.vlm import load
from pipeline.runtime import start, write_metrics


def main(argv=None):
    args, params = start(__doc__, argv, tuple((f, {"required": True}) for f in ("--model", "--eval", "--metrics")))
    items = pq.read_table(args.eval).to_pylist()
    model, processor = load(args.model)
    completions = answer(model, processor, items, batch_size=params.evaluate.batch_size,
                         max_new_tokens=params.diagnose.max_new_tokens, desc="evaluate")
    summary = aggregate(grade_items(items, [c[0] for c in completions]), prior_strength=0.0)
    write_metrics(args.metrics, {"accuracy": {"overall": summary["accuracy"]} | summary["categories"],
                                 "items": summary["items"]})


if __name__ == "__main__":
    main()
