"""`dpe report`: one static HTML file per run that opens offline. Accuracy per category across rounds (the run and
its control arms), the mixture's evolution, pass-rate histograms, training curves, each round's audit and ablation
matrix, calls/tokens/cost, and a gallery of generated samples with their images, questions, answers, pass rates
and lineage. Plots are inline SVG and images data URIs: no script, no CDN, nothing fetched."""

from __future__ import annotations

import base64
import csv
import html
import json
import logging
from pathlib import Path

import polars as pl

from pipeline.audit import plots
from pipeline.audit.cells import CELLS
from pipeline.audit.lineage import COLUMNS
from pipeline.audit.summary import interval_text, noise_text
from pipeline.run.repository import ExperimentError, head, read_text_at
from pipeline.stats.compare import accuracy_of
from pipeline.storage import artifacts, schemas
from pipeline.storage.lake import open_path
from pipeline.training.gate import decision as gate_text

log = logging.getLogger(__name__)

STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .5em}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.fixed{background:#c8f0c8}.improved{background:#e6f5d6}.regressed{background:#f8d0d0}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:1em}
.card{border:1px solid #ddd;border-radius:6px;padding:.5em;font-size:.8em}
.card img{width:100%;image-rendering:pixelated;background:#eee}.muted{color:#777}svg{max-width:100%;height:auto}"""


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _esc(value) -> str:
    return html.escape("" if value is None else str(value))


def run_accuracy(rounds: list[str], metrics_dir: Path) -> dict[str, list[tuple[str, float]]]:
    """category -> [(round, accuracy)] of the run in the workspace."""
    out: dict[str, list[tuple[str, float]]] = {}
    for round_name in rounds:
        for category, value in accuracy_of(_json(metrics_dir / round_name / "evaluate.json")).items():
            out.setdefault(category, []).append((round_name, value))
    return out


def round_points(rounds: list[str], rounds_dir: Path) -> list[dict]:
    """Overall evaluation accuracy per round (Wilson 95%) and its change from the previous round, paired over
    the items both graded (t 95%), from each round's graded evaluation results."""
    from pipeline.stats.evidence import interval, wilson

    points, previous = [], None
    for round_name in rounds:
        path = rounds_dir / round_name / "evaluation.parquet"
        if not path.exists():
            continue
        graded = {r["item_id"]: int(r["correct"]) for r in pl.read_parquet(path, columns=["item_id", "correct"]).to_dicts()}
        n, k = len(graded), sum(graded.values())
        low, high = wilson(k, n)
        point = {"round": round_name, "accuracy": k / n, "low": low, "high": high, "change": None}
        if previous:
            common = sorted(set(graded) & set(previous))
            if len(common) > 1:
                change = interval([graded[i] - previous[i] for i in common])
                point |= {"change": change.mean, "change_low": change.low, "change_high": change.high}
        points.append(point)
        previous = graded
    return points


def arm_accuracy(arm: str, metrics_dir: Path) -> dict[str, list[tuple[str, float]]] | None:
    """The same for a DVC experiment, read at its commit; None when it is not there."""
    from pipeline.audit.control import resolve

    try:
        commit = resolve(arm)
        import yaml

        rounds = ["r0"] + list((yaml.safe_load(read_text_at(commit, "params.yaml")) or {}).get("rounds") or {})
        out: dict[str, list[tuple[str, float]]] = {}
        for round_name in rounds:
            try:
                metrics = json.loads(read_text_at(commit, f"{metrics_dir.as_posix()}/{round_name}/evaluate.json"))
            except ExperimentError:
                continue
            for category, value in accuracy_of(metrics).items():
                out.setdefault(category, []).append((round_name, value))
        return out
    except ExperimentError as err:
        log.warning("report: arm %s left out: %s", arm, err)
        return None


def category_quotas(rounds: list[str], rounds_dir: Path) -> dict[str, dict[str, int]]:
    out = {}
    for round_name in rounds:
        mixture = artifacts.read_json(rounds_dir / round_name / "mixture.json", schemas.Mixture)
        by_category: dict[str, int] = {}
        for cell, quota in mixture.quotas.items():
            by_category[cell.split("/")[0]] = by_category.get(cell.split("/")[0], 0) + quota
        out[round_name] = by_category
    return out


def curves(rounds: list[str], metrics_dir: Path) -> dict[str, dict[str, list[tuple[int, float]]]]:
    out: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for round_name in rounds:
        path = metrics_dir / round_name / "train_curves.csv"
        if path.exists():
            for row in csv.DictReader(path.open()):
                out.setdefault(round_name, {}).setdefault(row["series"], []).append((int(row["step"]),
                                                                                     float(row["value"])))
    return out


def _table(headers: list[str], rows: list[list], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(f'<td class="num">{_esc(v)}</td>' if isinstance(v, (int, float)) else f"<td>{_esc(v)}</td>"
                        for v in row)
        body.append(f'<tr class="{classes[i] if classes else ""}">{cells}</tr>')
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def audit_section(round_name: str, rounds_dir: Path) -> str:
    path = rounds_dir / round_name / "audit" / "cells.parquet"
    if not path.exists():
        return f"<p class='muted'>{round_name}: no audit yet (dvc repro audit@{round_name})</p>"
    rows = [r for r in artifacts.read_table(path, CELLS).to_pylist() if r["level"] == "category"]
    summary = rounds_dir / round_name / "audit" / "summary.md"
    said = [line for line in summary.read_text().splitlines() if line.startswith(("Control:", "Retraining noise:"))]
    return f"<h3>{round_name}</h3>" + "".join(f"<p>{_esc(line)}</p>" for line in said) + _table(
        ["category", "quota", "attempts", "accepted", "kept", "trained", "before", "after", "change",
         "control change", "vs control", "noise", "verdict"],
        [[r["key"], r["quota"], r["attempts"], r["accepted"], r["kept"], r["trained"], round(r["before"], 3),
          round(r["after"], 3), interval_text(r, "change"), interval_text(r, "control_change"), interval_text(r, "vs_control"),
          noise_text(r), r["verdict"]] for r in rows], [r["verdict"] for r in rows])


def ablation_section(round_name: str, metrics_dir: Path) -> str:
    matrix = _json(metrics_dir / round_name / "ablation.json")
    if not matrix:
        return ""
    cells = list(matrix["cells"])
    categories = sorted({k for row in matrix["cells"].values() for k in row["categories"]} - {"overall"}) + ["overall"]
    values = [[matrix["cells"][c]["categories"].get(k, {}).get("effect") for k in categories] for c in cells]
    marked = [[bool(matrix["cells"][c]["categories"].get(k, {}).get("significant")) for k in categories]
              for c in cells]
    noise = matrix.get("noise", {}).get("largest_change", {})
    runs = len(matrix.get("noise", {}).get("runs", []))
    labels = [f"{c} ({matrix['cells'][c]['samples']})" for c in cells]
    return (f"<h3>{round_name}: which data did what</h3>" + plots.heatmap(
        labels, categories, values, marked, f"{round_name}: accuracy attributable to each cell's samples")
        + "<p class='muted'>Each row is one DVC experiment retraining the round without that cell's kept samples "
        "(count in brackets), against the mean of the full-data runs; * its 95% interval, paired over the evaluation "
        "items, excludes zero and the effect is larger than any full-data retraining with another seed strayed "
        f"from that mean ({runs} runs; largest "
        "changes: " + ", ".join(f"{k} ±{v:.3f}" for k, v in noise.items()) + ").</p>")


def usage_rows(rounds: list[str], metrics_dir: Path) -> list[list]:
    rows = []
    for round_name in rounds:
        m = _json(metrics_dir / round_name / "generate.json")
        calls = sum(v for k, v in m.items() if k.startswith("calls."))
        rows.append([round_name, m.get("attempts", 0), m.get("accepted", 0), calls, m.get("tokens.prompt", 0),
                     m.get("tokens.completion", 0), m.get("cost", "—")])
    return rows


def _share(metrics: dict, key: str) -> str:
    """A share with its interval when the metrics hold one (``key.low``/``key.high``), else the share, else —."""
    if key not in metrics:
        return "—"
    if f"{key}.low" in metrics:
        return f"{metrics[key]:.3f} [{metrics[f'{key}.low']:.3f}, {metrics[f'{key}.high']:.3f}]"
    return f"{metrics[key]:.3f}"


def quality_rows(rounds: list[str], metrics_dir: Path) -> list[list]:
    """Per round: validator agreement, diversity, and label precision (the backend's truth, a person's review)."""
    rows = []
    for round_name in rounds:
        gen, kept = _json(metrics_dir / round_name / "generate.json"), _json(metrics_dir / round_name / "filter.json")
        audit = _json(metrics_dir / round_name / "audit.json")
        review = {k.removeprefix("review.all."): v for k, v in audit.items() if k.startswith("review.all.")}
        reviewed = "—" if review.get("precision") is None else (
            f"{review['precision']:.3f} [{review['low']:.3f}, {review['high']:.3f}] of {review['n']}")
        rows.append([round_name, _share(gen, "agreement"), _share(gen, "diversity.sources"),
                     _share(gen, "diversity.questions"), _share(gen, "diversity.clip_spread"),
                     _share(gen, "label_precision.accepted"), _share(kept, "label_precision.kept"), reviewed])
    return rows


def gallery(round_name: str, rounds_dir: Path, limit: int) -> str:
    """The round's samples, the trained-on first, each with its image and lineage."""
    lineage_path = rounds_dir / round_name / "audit" / "lineage.parquet"
    samples_path = rounds_dir / round_name / "samples.lance"
    if not lineage_path.exists() or not samples_path.exists():
        return ""
    chain = pl.read_parquet(lineage_path, columns=COLUMNS).sort(["kept", "sample_id"], descending=[True, False])
    chain = chain.head(limit)
    ids = set(chain["sample_id"].to_list())
    table = open_path(samples_path).to_arrow().select(["sample_id", "image"])
    images = {s: b for s, b in zip(table.column("sample_id").to_pylist(), table.column("image").to_pylist())
              if s in ids}
    cards = []
    for r in chain.iter_rows(named=True):
        uri = base64.b64encode(images.get(r["sample_id"]) or b"").decode()
        models = ", ".join(sorted(set(json.loads(r["role_models"] or "{}").values()))) or r["backend"]
        rate = "—" if r["pass_rate"] is None else f"{r['pass_rate']:.2f}"
        cards.append(
            f'<div class="card"><img alt="sample {_esc(r["sample_id"][:12])}" src="data:image/png;base64,{uri}">'
            f"<b>{_esc(r['question'])}</b><br>answer: <b>{_esc(r['answer'])}</b> · pass rate {rate}<br>"
            f"<span class='muted'>{_esc(r['cell'])} · {_esc(r['source_uri'] or r['source_image_id'][:12])} "
            f"@ v{_esc(r['pool_version'])} · edits: {_esc(r['edit_ops'] or 'none')} · by {_esc(models)} · "
            f"{_esc(r['trained_in'] or 'not trained on')}</span></div>")
    return f"<h3>{round_name}</h3><div class='gallery'>{''.join(cards)}</div>"


def progress_section(rounds: list[str], rounds_dir: Path, metrics_dir: Path) -> str:
    """The overall accuracy per round and each round's paired change, with the round gate's decision."""
    points = round_points(rounds, rounds_dir)
    if not points:
        return "<p class='muted'>no graded evaluation results</p>"
    rows = []
    for p in points:
        decision = gate_text(_json(metrics_dir / p["round"] / "train.json"))
        change = "" if p["change"] is None else f"{p['change']:+.3f} [{p['change_low']:+.3f}, {p['change_high']:+.3f}]"
        rows.append([p["round"], f"{p['accuracy']:.3f} [{p['low']:.3f}, {p['high']:.3f}]", change, decision])
    return plots.round_progress(points) + _table(["round", "overall (95%)", "change from previous (paired, 95%)",
                                                  "round gate"], rows)


def write_report(params, out: Path, arms: list[str], limit: int, rounds_dir: Path, metrics_dir: Path) -> Path:
    rounds = [r for r in params.rounds if (metrics_dir / r / "evaluate.json").exists()]
    if not rounds:
        raise FileNotFoundError(f"no evaluated round under {metrics_dir}: run dvc repro first")
    series = {"this run": run_accuracy(["r0"] + rounds, metrics_dir)}
    for arm in arms:
        found = arm_accuracy(arm, metrics_dir)
        if found:
            series[arm] = found
    rates = {}
    for r in rounds:
        path = rounds_dir / r / "audit" / "lineage.parquet"
        if path.exists():
            rates[r] = [x for x in pl.read_parquet(path, columns=["pass_rate"])["pass_rate"].to_list() if x is not None]
    commit = head(short=True)
    parts = [f"<h1>DPE run report</h1><p>commit {_esc(commit or 'none')} · mixture {_esc(params.mixture.strategy)} "
             f"(budget {params.mixture.budget}) · rounds {_esc(', '.join(rounds))} · arms: "
             f"{_esc(', '.join(series))}</p>",
             "<h2>Does each round help?</h2>", progress_section(["r0"] + rounds, rounds_dir, metrics_dir),
             "<h2>Evaluation accuracy per category</h2>", plots.accuracy_lines(series),
             "<h2>Mixture</h2>", plots.mixture_bars(category_quotas(rounds, rounds_dir))]
    if rates:
        parts += ["<h2>Pass rates of the generated samples</h2>",
                  plots.pass_rate_histograms(rates, (params.filter.band_low, params.filter.band_high))]
    trained = curves(rounds, metrics_dir)
    if trained:
        parts += ["<h2>Training curves</h2>", plots.training_curves(trained)]
    parts += ["<h2>Audit: which data fixed which weakness</h2>"] + [audit_section(r, rounds_dir) for r in rounds]
    parts += [ablation_section(r, metrics_dir) for r in rounds]
    parts += ["<h2>Quality of the generated data</h2>",
              "<p class='muted'>agreement: of the drafts the validator checked, the share it agreed with; distinct "
              "sources and questions per accepted sample; CLIP spread: the chosen images' mean pairwise distance "
              "over that of as many random pool images; label precision (95%) where the backend knew the truth, "
              "and where a person reviewed the round (<code>dpe review</code>)</p>",
              _table(["round", "agreement", "distinct sources", "distinct questions", "CLIP spread",
                      "right labels, accepted", "right labels, trained", "right labels, reviewed"],
                     quality_rows(rounds, metrics_dir))]
    parts += ["<h2>Agent calls, tokens and cost</h2>",
              _table(["round", "attempts", "accepted", "calls", "prompt tokens", "completion tokens", "cost"],
                     usage_rows(rounds, metrics_dir))]
    parts += ["<h2>Generated samples</h2>"] + [gallery(r, rounds_dir, limit) for r in rounds]
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>DPE report {_esc(commit)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    return out
