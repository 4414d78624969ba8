"""DVC stage `evaluate@round`: per-category accuracy of a checkpoint on the held-out evaluation set,
and the accuracy history across rounds (the previous round's history plus this round) for the plot."""

from pipeline import history
from pipeline.answering import answer
from pipeline.diagnose import aggregate, grade_items
from pipeline.itemsets import load_items
from pipeline.models.vlm import load
from pipeline.runtime import start, write_metrics


def main(argv=None):
    args, params = start(__doc__, argv, (("--model", {"required": True}), ("--metrics", {"required": True}),
                                         ("--round", {"required": True}), ("--history", {"required": True}),
                                         ("--previous-history", {})))
    cfg = params.evaluation
    items = load_items(cfg.source, cfg.kind, cfg.columns)
    model, processor = load(args.model)
    completions = answer(model, processor, items, batch_size=cfg.batch_size,
                         max_new_tokens=params.diagnose.max_new_tokens, desc="evaluate")
    summary = aggregate(grade_items(items, [c[0] for c in completions]), prior_strength=0.0)
    accuracy = {"overall": summary["accuracy"]} | summary["categories"]
    write_metrics(args.metrics, {"accuracy": accuracy, "items": summary["items"]})
    history.write(args.history, history.extend(history.read(args.previous_history), args.round, accuracy))


if __name__ == "__main__":
    main()
