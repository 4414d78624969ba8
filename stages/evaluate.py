"""DVC stage `evaluate@round`: per-category accuracy of a checkpoint on the held-out evaluation set,
its graded results, and the accuracy history across rounds (the previous round's plus this one)."""

from pipeline.answers.results import accuracy_table
from pipeline.diagnosis import evaluate as ev
from pipeline.diagnosis.itemsets import load_items
from pipeline.diagnosis.params import EvaluateParams
from pipeline.run.runtime import start, write_metrics
from pipeline.storage.artifacts import write_parquet
from pipeline.storage.schemas import RESULTS


def main(argv=None):
    args, params = start(__doc__, EvaluateParams, argv,
                         required=("--round", "--model", "--results", "--metrics", "--history"),
                         optional=("--previous-history",))
    cfg = params.evaluation
    results = ev.evaluate(args.model, load_items(cfg.source, cfg.kind, cfg.columns), params.answer, args.round,
                          params.model.dtype)
    write_parquet(args.results, results.to_arrow(), RESULTS)
    accuracy = accuracy_table(results)
    write_metrics(args.metrics, {"accuracy": accuracy, "items": results.height})
    ev.write(args.history, ev.extend(ev.read(args.previous_history), args.round, accuracy))


if __name__ == "__main__":
    main()
