"""DVC stage `diagnose@round`: grade the previous checkpoint on (a fresh subset of) the probe set;
write the per-item results, the diagnosis and the weakness brief."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.answering import answer
from pipeline.diagnose import aggregate, grade_items, weakness_brief
from pipeline.itemsets import load_items, overlap, resample
from pipeline.judges import make_judge
from pipeline.models.vlm import load
from pipeline.runtime import round_seed, start, write_json, write_metrics


def main(argv=None):
    args, params = start(__doc__, argv, (("--round", {"required": True}), ("--model", {"required": True}),
                                         ("--out", {"required": True}), ("--metrics", {"required": True})))
    cfg, probe, evaluation = params.diagnose, params.probe, params.evaluation
    items = load_items(probe.source, probe.kind, probe.columns)
    shared = overlap(items, load_items(evaluation.source, evaluation.kind, evaluation.columns))
    if shared:
        raise SystemExit(f"probe.source and evaluation.source share {shared} items (same image and question); "
                         "the probe steers rounds, so remove them from one of the two")
    seed = round_seed(params.seed, args.round)
    if probe.resample:
        items = resample(items, probe.share, seed)
    model, processor = load(args.model)
    completions = answer(model, processor, items, batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens,
                         seed=seed, desc=f"diagnose {args.round}")
    results = grade_items(items, [c[0] for c in completions], make_judge(cfg))
    diagnosis = aggregate(results, cfg.prior_strength, min_n=cfg.min_n, by_error_type=cfg.by_error_type) | {
        "round": args.round, "model": args.model}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist([r | {"round": args.round} for r in results]), out / "results.parquet")
    write_json(out / "diagnosis.json", diagnosis)
    (out / "brief.md").write_text(weakness_brief(diagnosis, cfg.brief_cells))
    write_metrics(args.metrics, {"accuracy": {"overall": diagnosis["accuracy"]} | diagnosis["categories"],
                                 "judge_failures": diagnosis["judge_failures"], "items": len(items)})


if __name__ == "__main__":
    main()
