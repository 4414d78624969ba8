"""DVC stage `diagnose@round`: grade the previous checkpoint on the probe set; write the diagnosis."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.answering import answer
from pipeline.diagnose import aggregate, grade_items, weakness_brief
from pipeline.models.vlm import load
from pipeline.runtime import round_seed, start, write_json, write_metrics


def main(argv=None):
    args, params = start(__doc__, argv, (("--round", {"required": True}), ("--model", {"required": True}),
                                         ("--probe", {"required": True}), ("--out", {"required": True}),
                                         ("--metrics", {"required": True})))
    cfg = params.diagnose
    items = pq.read_table(args.probe).to_pylist()
    model, processor = load(args.model)
    completions = answer(model, processor, items, batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens,
                         seed=round_seed(params.seed, args.round), desc=f"diagnose {args.round}")
    results = grade_items(items, [c[0] for c in completions])
    diagnosis = aggregate(results, cfg.prior_strength) | {"round": args.round, "model": args.model}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist([r | {"round": args.round} for r in results]), out / "results.parquet")
    write_json(out / "diagnosis.json", diagnosis)
    (out / "brief.md").write_text(weakness_brief(diagnosis, cfg.brief_cells))
    write_metrics(args.metrics, {"accuracy": {"overall": diagnosis["accuracy"]} | diagnosis["categories"],
                                 "judge_failures": diagnosis["judge_failures"]})


if __name__ == "__main__":
    main()
