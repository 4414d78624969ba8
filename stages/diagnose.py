"""DVC stage `diagnose@round`: grade the previous checkpoint on (a fresh subset of) the probe set;
write the per-item results, the diagnosis and the weakness brief."""

from pathlib import Path

from pipeline.diagnosis.diagnose import diagnose, probe_items, weakness_brief
from pipeline.diagnosis.params import DiagnoseParams
from pipeline.run.runtime import start, write_metrics
from pipeline.storage.artifacts import write_json, write_parquet
from pipeline.storage.schemas import RESULTS


def main(argv=None):
    args, params = start(__doc__, DiagnoseParams, argv,
                         required=("--round", "--model", "--results", "--diagnosis", "--brief", "--metrics"))
    seed = params.seed_of(args.round)
    items = probe_items(params.probe, params.evaluation, seed)
    results, diagnosis = diagnose(args.model, items, params.diagnose, params.answer, args.round, seed,
                                    params.model.dtype)
    write_parquet(args.results, results.to_arrow(), RESULTS)
    write_json(args.diagnosis, diagnosis)
    Path(args.brief).write_text(weakness_brief(diagnosis, params.diagnose.brief_cells))
    gaps = {c.key: c.shuffle.gap for c in diagnosis.cells if c.shuffle is not None}
    if diagnosis.shuffle is not None:
        gaps["overall"] = diagnosis.shuffle.gap
    write_metrics(args.metrics, {"accuracy": {"overall": diagnosis.accuracy} | diagnosis.categories,
                                 "judge_failures": diagnosis.judge_failures, "items": len(items),
                                 **({"shuffle_gap": gaps} if gaps else {})})


if __name__ == "__main__":
    main()
