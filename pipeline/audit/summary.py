"""The audit's short Markdown summary: one table per level, the control arm's status and what a verdict means."""

from __future__ import annotations

import pyarrow as pa

LEGEND = ("Verdicts, at a 5% error rate for the round's verdicts together (one-sided bounds, paired over the "
          "evaluation items, Bonferroni over the table's rows; the intervals shown are the plain 95% ones): "
          "**fixed**: improved, and the lower bound of its margin over the control arm's untargeted change is above "
          "the retraining noise (the 95% quantile of how far two retrainings of the round differ, from its reseeded "
          "reruns, the control's own noise counted), and it ends above its accuracy at the run's start (r0); "
          "**improved**: improved, but nothing shows the targeting did it (no control, no margin beyond the noise, "
          "no noise measured, or not above r0's level); **regressed**: got worse; **unchanged**: neither is shown.")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def interval_text(row: dict, name: str) -> str:
    """A cells-table row's ``name`` with its interval (``+0.052 [-0.032, +0.136]``), or a dash when absent."""
    if row[name] is None:
        return "—"
    return f"{row[name]:+.3f} [{row[f'{name}_low']:+.3f}, {row[f'{name}_high']:+.3f}]"


def noise_text(row: dict) -> str:
    """A cells-table row's retraining noise (``±0.012``), or a dash when no rerun measured it."""
    return "—" if row.get("noise") is None else f"±{row['noise']:.3f}"


def _table(rows: list[dict]) -> list[str]:
    lines = ["| | quota | attempts | accepted | kept | trained | before | after | change | control change "
             "| vs control | noise | verdict |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['key']} | {r['quota']} | {r['attempts']} | {r['accepted']} | {r['kept']} | {r['trained']} "
                     f"| {_pct(r['before'])} | {_pct(r['after'])} | {interval_text(r, 'change')} "
                     f"| {interval_text(r, 'control_change')} | {interval_text(r, 'vs_control')} | {noise_text(r)} "
                     f"| {r['verdict']} |")
    return lines


def noise_line(round_name: str, reruns: int) -> str:
    if reruns:
        return f"Retraining noise: {reruns} reseeded rerun(s) of this round."
    return (f"Retraining noise: not measured, so no verdict is `fixed`; `dpe audit --ablate --round {round_name}` "
            "runs the reseeded reruns.")


def summary(round_name: str, prev: str, cells: pa.Table, control_message: str, samples: int, reruns: int = 0) -> str:
    rows = cells.to_pylist()
    categories = [r for r in rows if r["level"] == "category"]
    moved = [r for r in rows if r["level"] == "cell" and r["verdict"] != "unchanged"]
    verdicts = {}
    for r in categories:
        verdicts.setdefault(r["verdict"], []).append(r["key"])
    said = "; ".join(f"{v}: {', '.join(ks)}" for v, ks in sorted(verdicts.items()))
    lines = [f"# Audit of round {round_name} (from {prev})", "",
             f"{samples} generated samples, {sum(r['trained'] for r in categories)} trained on. Categories: {said}.",
             f"Control: {control_message}.", noise_line(round_name, reruns), "", "## Categories", ""]
    lines += _table(categories)
    lines += ["", "## Cells that moved", ""] + (_table(moved) if moved else ["No cell's change excludes zero."])
    chance = f"With {len(rows)} rows about {0.05 * len(rows):.1f} can exclude zero by chance alone (5% each)."
    return "\n".join(lines + ["", LEGEND, chance, ""])
