"""Each generated sample's chain, in one row: pool image and version → retrieval → edits → the agents and models
that made it → the model's pass rate → whether it was kept and which checkpoint trained on it.

Pure polars over a round's artifacts (samples, rollouts, trainset), so `dpe samples` and the audit read
lineage the same way.
"""

from __future__ import annotations

import json

import polars as pl
import pyarrow as pa

COLUMNS = ["sample_id", "cell", "question", "answer", "source_image_id", "pool_version", "retrieval_query",
           "retrieval_score", "edit_ops", "backend", "role_models", "pass_rate", "kept", "filled", "trained_in"]


def edit_ops(edits: str | None) -> str:
    """The edit operations' names, in order (``[{"op": "noise", ...}]`` -> ``noise``).

    >>> edit_ops('[{"op": "crop", "box": [0, 0, 8, 8]}, {"op": "blur", "radius": 1}]')
    'crop, blur'
    """
    return ", ".join(e.get("op", "?") for e in json.loads(edits or "[]"))


def lineage(samples: pa.Table, rollouts: pa.Table, trainset: pa.Table, round_name: str) -> pl.DataFrame:
    """One row per generated sample: its chain, its pass rate over the rollouts (null when it had none) and
    ``trained_in`` (``<round>/model`` for samples the round trained on, else null)."""
    frame = pl.from_arrow(samples.drop_columns([c for c in ("image", "edit_outputs") if c in samples.schema.names]))
    rates = (pl.from_arrow(rollouts.select(["sample_id", "correct"])).group_by("sample_id")
             .agg(pl.col("correct").cast(pl.Float64).mean().alias("pass_rate")))
    kept = pl.from_arrow(trainset.select(["sample_id", "filled"])).with_columns(pl.lit(True).alias("kept"))
    return (frame.join(rates, on="sample_id", how="left").join(kept, on="sample_id", how="left")
            .with_columns(pl.col("kept").fill_null(False), pl.col("filled").fill_null(False),
                          pl.col("edits").map_elements(edit_ops, return_dtype=pl.String).alias("edit_ops"),
                          pl.when(pl.col("kept")).then(pl.lit(f"{round_name}/model")).otherwise(None)
                          .alias("trained_in"))
            .select(COLUMNS).sort("sample_id"))
