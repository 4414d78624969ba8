"""Figures the benchmarks write next to their tables."""

from __future__ import annotations

from pathlib import Path


def plot_curves(summary: dict[str, dict], path: Path, dashed: tuple[str, ...] = ("uniform", "static")) -> None:
    """Each arm's weak-category accuracy against its cumulative samples, one panel per budget (the controls
    ``dashed``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = [b for b, arms in summary.items() if arms]
    fig, axes = plt.subplots(1, len(budgets), figsize=(5.5 * len(budgets), 4), squeeze=False)
    for ax, budget in zip(axes[0], budgets):
        for arm, s in summary[budget].items():
            xs, ys = zip(*s["curve"])
            ax.plot(xs, ys, marker="o", label=f"{arm} (n={len(s['seeds'])})",
                    linestyle="--" if arm in dashed else "-")
        ax.set_xlabel(f"cumulative {budget} samples")
        ax.set_ylabel("weak-category accuracy (eval)")
        ax.set_title(f"equal {budget} budget")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
