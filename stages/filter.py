"""DVC stage `filter@round`: sample answers from the previous checkpoint; keep the pass-rate band."""

from pathlib import Path

import lancedb
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.answering import answer
from pipeline.difficulty import filter_samples
from pipeline.generate import ROLLOUT_SCHEMA, TRAINSET_SCHEMA
from pipeline.models.vlm import load
from pipeline.runtime import round_seed, start, write_metrics


def main(argv=None):
    args, params = start(__doc__, argv, tuple((f, {"required": True}) for f in (
        "--round", "--samples", "--model", "--out", "--metrics")))
    cfg = params.filter
    samples = lancedb.connect(args.samples).open_table("samples").to_arrow().to_pylist()
    model, processor = load(args.model)
    completions = answer(model, processor, samples, batch_size=max(1, 64 // cfg.n_samples),
                         max_new_tokens=params.diagnose.max_new_tokens, samples=cfg.n_samples,
                         temperature=cfg.temperature, seed=round_seed(params.seed, args.round), desc="rollouts")
    rollouts, trainset, counts = filter_samples(samples, completions, cfg.band_low, cfg.band_high, cfg.min_keep,
                                                args.model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rollouts, ROLLOUT_SCHEMA), out / "rollouts.parquet")
    pq.write_table(pa.Table.from_pylist(trainset, TRAINSET_SCHEMA), out / "trainset.parquet")
    write_metrics(args.metrics, counts)


if __name__ == "__main__":
    main()
