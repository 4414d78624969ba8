"""Each generated sample's chain, in one row: source URI → pool image and version → retrieval → edits → the
agent calls and models that made it → the model's pass rate → whether it was kept and which checkpoint trained
on it.

Pure polars over a round's artifacts (samples, attempts, rollouts, trainset, the ingest's listed ids), so
`dpe samples` and the audit read lineage the same way.
"""

from __future__ import annotations

import json

import polars as pl
import pyarrow as pa

from pipeline.training.params import left_out

COLUMNS = ["sample_id", "cell", "question", "answer", "source_uri", "source_image_id", "pool_version",
           "retrieval_query", "retrieval_score", "edit_ops", "backend", "role_models", "agent_calls", "tokens",
           "pass_rate", "kept", "filled", "trained_in"]


def edit_ops(edits: str | None) -> str:
    """The edit operations' names, in order (``[{"op": "noise", ...}]`` -> ``noise``).

    >>> edit_ops('[{"op": "crop", "box": [0, 0, 8, 8]}, {"op": "blur", "radius": 1}]')
    'crop, blur'
    """
    return ", ".join(e.get("op", "?") for e in json.loads(edits or "[]"))


def call_totals(calls: str | None) -> tuple[int, int]:
    """(agent calls, prompt + completion tokens) of one attempt's call log.

    >>> call_totals('[{"role": "writer", "prompt_tokens": 120, "completion_tokens": 30}, {"role": "validator"}]')
    (2, 150)
    """
    log = json.loads(calls or "[]")
    return len(log), sum(int(c.get("prompt_tokens") or 0) + int(c.get("completion_tokens") or 0) for c in log)


def lineage(samples: pa.Table, rollouts: pa.Table, trainset: pa.Table, round_name: str,
            attempts: pa.Table | None = None, listed: pa.Table | None = None,
            ablated: list[str] = ()) -> pl.DataFrame:
    """One row per generated sample: its chain, its pass rate over the rollouts (null when it had none) and
    ``trained_in`` (``<round>/model`` for samples the round trained on, else null; a kept sample of a cell
    ``ablated`` left out was not trained on). Without ``attempts`` or ``listed`` their columns are null."""
    frame = pl.from_arrow(samples.drop_columns([c for c in ("image", "edit_outputs") if c in samples.schema.names]))
    rates = (pl.from_arrow(rollouts.select(["sample_id", "correct"])).group_by("sample_id")
             .agg(pl.col("correct").cast(pl.Float64).mean().alias("pass_rate")))
    kept = pl.from_arrow(trainset.select(["sample_id", "filled"])).with_columns(pl.lit(True).alias("kept"))
    if attempts is not None:
        totals = [call_totals(c) for c in attempts.column("calls").to_pylist()]
        calls = pl.DataFrame({"attempt_id": attempts.column("attempt_id").to_pylist(),
                              "agent_calls": [t[0] for t in totals], "tokens": [t[1] for t in totals]},
                             schema={"attempt_id": pl.String, "agent_calls": pl.Int64, "tokens": pl.Int64})
    else:
        calls = pl.DataFrame(schema={"attempt_id": pl.String, "agent_calls": pl.Int64, "tokens": pl.Int64})
    sources = (pl.from_arrow(listed.select(["image_id", "source"])).rename({"image_id": "source_image_id",
                                                                              "source": "source_uri"})
               if listed is not None else pl.DataFrame(schema={"source_image_id": pl.String, "source_uri": pl.String}))
    gone = pl.col("cell").map_elements(lambda cell: left_out(list(ablated), cell), return_dtype=pl.Boolean)
    trained = pl.col("kept") & ~gone.fill_null(False)
    return (frame.join(rates, on="sample_id", how="left").join(kept, on="sample_id", how="left")
            .join(calls, on="attempt_id", how="left").join(sources, on="source_image_id", how="left")
            .with_columns(pl.col("kept").fill_null(False), pl.col("filled").fill_null(False),
                          pl.col("edits").map_elements(edit_ops, return_dtype=pl.String).alias("edit_ops"))
            .with_columns(pl.when(trained).then(pl.lit(f"{round_name}/model")).otherwise(None).alias("trained_in"))
            .select(COLUMNS).sort("sample_id"))
