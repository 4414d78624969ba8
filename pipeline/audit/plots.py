"""The report's figures as inline SVG (matplotlib, Agg): no script, no network, the same bytes for the same
data (fixed hash salt, no date)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({"svg.hashsalt": "dpe", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False})


def svg(fig) -> str:
    """The figure as an <svg> element to paste into HTML."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def accuracy_lines(series: dict[str, dict[str, list[tuple[str, float]]]]) -> str:
    """One panel per category: accuracy by round, a line per arm (the run first). ``series``: arm -> category ->
    [(round, accuracy)]."""
    categories = sorted({c for arm in series.values() for c in arm})
    cols = min(4, len(categories)) or 1
    rows = -(-len(categories) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False, sharey=True, layout="constrained")
    for ax, category in zip(axes.flat, categories):
        for i, (arm, by_category) in enumerate(series.items()):
            points = by_category.get(category, [])
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", linestyle="-" if i == 0 else "--",
                    label=arm)
        ax.set_title(category)
        ax.set_ylim(0, 1)
    for ax in list(axes.flat)[len(categories):]:
        ax.axis("off")
    axes.flat[0].legend(loc="lower left", fontsize=7)
    return svg(fig)


def round_progress(points: list[dict]) -> str:
    """Overall accuracy by round with its 95% interval, and each round's change paired over the same items with
    its 95% interval, on axes zoomed to the data so that a change of two points is visible. ``points``: per
    round {round, accuracy, low, high, change, change_low, change_high} (no change for the first)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 2.8), layout="constrained")
    names = [p["round"] for p in points]
    acc = [p["accuracy"] for p in points]
    left.errorbar(names, acc, yerr=[[a - p["low"] for a, p in zip(acc, points)],
                                    [p["high"] - a for a, p in zip(acc, points)]], marker="o", capsize=4)
    lows, highs = min(p["low"] for p in points), max(p["high"] for p in points)
    left.set_ylim(lows - 0.01, highs + 0.01)
    left.set_title("overall accuracy (95% interval)")
    changed = [p for p in points if p.get("change") is not None]
    if changed:
        x = [p["round"] for p in changed]
        d = [p["change"] for p in changed]
        colours = ["tab:green" if p["change_low"] > 0 else "tab:red" if p["change_high"] < 0 else "tab:gray"
                   for p in changed]
        right.bar(x, d, color=colours)
        right.errorbar(x, d, yerr=[[v - p["change_low"] for v, p in zip(d, changed)],
                                   [p["change_high"] - v for v, p in zip(d, changed)]], fmt="none", ecolor="k",
                       capsize=4)
        right.axhline(0, color="k", linewidth=0.8)
        limit = max(0.03, max(max(abs(p["change_low"]), abs(p["change_high"])) for p in changed) + 0.005)
        right.set_ylim(-limit, limit)
    right.set_title("change from the previous round (paired, 95%)")
    return svg(fig)


def mixture_bars(quotas: dict[str, dict[str, int]]) -> str:
    """Stacked quota per category, a bar per round. ``quotas``: round -> category -> samples."""
    rounds = list(quotas)
    categories = sorted({c for q in quotas.values() for c in q})
    fig, ax = plt.subplots(figsize=(1.2 * len(rounds) + 3, 3))
    bottom = [0] * len(rounds)
    for category in categories:
        values = [quotas[r].get(category, 0) for r in rounds]
        ax.bar(rounds, values, bottom=bottom, label=category)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel("samples (quota)")
    ax.legend(bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=7)
    return svg(fig)


def pass_rate_histograms(rates: dict[str, list[float]], band: tuple[float, float]) -> str:
    """The model's pass rate over its rollouts of each generated sample, a panel per round; the keep band shaded."""
    fig, axes = plt.subplots(1, len(rates), figsize=(3 * len(rates), 2.4), squeeze=False, sharey=True,
                             layout="constrained")
    for ax, (round_name, values) in zip(axes.flat, rates.items()):
        ax.axvspan(band[0], band[1], color="tab:green", alpha=0.12)
        ax.hist(values, bins=[i / 10 for i in range(11)], color="tab:blue")
        ax.set_title(f"{round_name} ({len(values)} samples)")
        ax.set_xlabel("pass rate")
    return svg(fig)


def training_curves(curves: dict[str, dict[str, list[tuple[int, float]]]]) -> str:
    """A panel per series (reward, KL, loss...), a line per round. ``curves``: round -> series -> [(step, value)]."""
    names = sorted({s for c in curves.values() for s in c})
    cols = min(3, len(names)) or 1
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), squeeze=False, layout="constrained")
    for ax, name in zip(axes.flat, names):
        for round_name, series in curves.items():
            points = series.get(name, [])
            ax.plot([p[0] for p in points], [p[1] for p in points], label=round_name)
        ax.set_title(name)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    return svg(fig)


def heatmap(cells: list[str], categories: list[str], values: list[list[float | None]],
            marked: list[list[bool]], title: str) -> str:
    """The ablation matrix: data cell (row) × category (column), red hurt, blue helped, * the interval excludes 0."""
    import numpy as np

    data = np.array([[np.nan if v is None else v for v in row] for row in values], dtype=float)
    limit = max(0.05, float(np.nanmax(np.abs(data))) if np.isfinite(data).any() else 0.05)
    fig, ax = plt.subplots(figsize=(0.9 * len(categories) + 2.5, 0.42 * len(cells) + 1.5))
    image = ax.imshow(data, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(categories)), categories, rotation=30, ha="right")
    ax.set_yticks(range(len(cells)), cells)
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            if v is not None:
                ax.text(j, i, f"{v:+.2f}" + ("*" if marked[i][j] else ""), ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label="accuracy: full-data runs − round without the cell")
    ax.set_title(title)
    return svg(fig)
