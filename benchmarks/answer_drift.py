"""Which answers do the rounds move? For the runs `continual_gains.py` stored, each category's accuracy and its
most frequent answer (and that answer's share of all answers) at r0 and at the last round, on the evaluation
set, next to the share of the labels' own most frequent answer.

Nearly every answer in the embedded world is a small count, so every category shares one answer space: a
category the model answers mostly with one number (its answer prior) moves when any other category's training
shifts the prior, whatever its own data says. This table shows whether that is what the rounds did:

    .venv/bin/python -m benchmarks.answer_drift --arms default push
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from pipeline.run.repository import read_parquet_at

RESULTS = "data/rounds/{round}/evaluation.parquet"


def answer_profile(rows: list[dict]) -> dict[str, dict]:
    """category -> accuracy, the model's most frequent answer and its share, the labels' most frequent share.

    >>> answer_profile([{"category": "a", "parsed": "5", "reference": "5", "correct": True},
    ...                 {"category": "a", "parsed": "5", "reference": "3", "correct": False}])["a"]
    {'accuracy': 0.5, 'top': '5', 'top_share': 1.0, 'label_top_share': 0.5}
    """
    out = {}
    for category in sorted({r["category"] for r in rows}):
        mine = [r for r in rows if r["category"] == category]
        top, count = Counter(r["parsed"] for r in mine).most_common(1)[0]
        label_count = Counter(r["reference"] for r in mine).most_common(1)[0][1]
        out[category] = {"accuracy": sum(r["correct"] for r in mine) / len(mine), "top": top,
                         "top_share": count / len(mine), "label_top_share": label_count / len(mine)}
    return out


def mean_profile(profiles: list[dict[str, dict]]) -> dict[str, dict]:
    """The runs' mean accuracy and top-answer share per category, and each run's top answer."""
    return {c: {"accuracy": sum(p[c]["accuracy"] for p in profiles) / len(profiles),
                "top_share": sum(p[c]["top_share"] for p in profiles) / len(profiles),
                "tops": "/".join(p[c]["top"] for p in profiles), "label_top_share": profiles[0][c]["label_top_share"]}
            for c in profiles[0]}


def report(store: dict, arms: list[str]) -> str:
    last = f"r{store['rounds']}"
    lines = []
    for arm in arms:
        runs = sorted((r for r in store["runs"].values() if r["arm"] == arm), key=lambda r: r["seed"])
        if not runs:
            continue
        rows = {name: [read_parquet_at(run["commit"], RESULTS.format(round=name)).to_pylist() for run in runs]
                for name in ("r0", last)}
        before, after = (mean_profile([answer_profile(r) for r in rows[name]]) for name in ("r0", last))
        lines += [f"**{arm}** ({len(runs)} seeds, evaluation set): accuracy and the model's most frequent answer "
                  f"(its share of the category's answers; each seed's top answer at {last})", "",
                  f"| category | labels' top share | r0 accuracy | r0 top answer | {last} accuracy | {last} top "
                  f"answers | {last} top share |", "|---|---|---|---|---|---|---|"]
        for c, b in before.items():
            a = after[c]
            lines.append(f"| {c} | {b['label_top_share']:.2f} | {b['accuracy']:.3f} | {b['tops'].split('/')[0]} "
                         f"({b['top_share']:.2f}) | {a['accuracy']:.3f} | {a['tops']} | {a['top_share']:.2f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", default=["default"])
    parser.add_argument("--results", default="benchmarks/continual_gains.json")
    args = parser.parse_args()
    print(report(json.loads(Path(args.results).read_text()), args.arms))


if __name__ == "__main__":
    main()
