"""Training you can watch: trl's log history as a DVC plot and a summary in the round's metrics.

The plot file is long-format CSV (step, series, value), one line per logged step and series, drawn by the
``training_curves`` template (one panel per series): ``dvc plots show metrics/r1/train_curves.csv``.
"""

from __future__ import annotations

import csv
from pathlib import Path

# series name -> trl's GRPOTrainer log key
SERIES = {
    "reward": "reward", "reward_std": "reward_std", "zero_std_share": "frac_reward_zero_std", "kl": "kl",
    "loss": "loss", "completion_length": "completions/mean_length",
}
FIELDS = ["step", "series", "value"]


def curve_rows(history: list[dict]) -> list[dict]:
    return [{"step": h["step"], "series": name, "value": round(float(h[key]), 6)}
            for h in history if "reward" in h for name, key in SERIES.items() if key in h]


def summary(history: list[dict]) -> dict:
    """Per series: first, last and mean over the logged steps (the metrics file's ``curves.*``)."""
    out: dict = {}
    for name, key in SERIES.items():
        values = [float(h[key]) for h in history if "reward" in h and key in h]
        if values:
            out[name] = {"first": values[0], "last": values[-1], "mean": sum(values) / len(values)}
    return out


def write_curves(path: str | Path, history: list[dict]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, FIELDS)
        writer.writeheader()
        writer.writerows(curve_rows(history))
