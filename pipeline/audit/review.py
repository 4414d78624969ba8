"""A person checks a round's labels where no backend knows the truth: ``dpe review``.

``page`` writes one self-contained HTML file of a stratified random sample of the round's samples (image,
question, options, label, lineage) with a correct / wrong / unclear choice each; its button saves the marks as
a JSON download and shows the same JSON to copy. ``read_marks`` checks an imported file against the round, and
``data/reviews/<round>.json`` keeps it (in git, beside the code: a person's judgement, not a stage's output);
the audit stage reads that folder, so importing marks reruns the audits, which report label precision per cell
with Wilson intervals (``precision``).
"""

from __future__ import annotations

import base64
import html
import json
import random
from collections import defaultdict
from pathlib import Path

from pipeline.stats.evidence import wilson

MARKS = ("correct", "wrong", "unclear")


class ReviewError(ValueError):
    """An imported marks file that does not fit the round; the message names the file and what is wrong."""


def pick(samples: list[dict], n: int, seed: int) -> list[dict]:
    """``n`` samples drawn at random within each cell, the cells taken in turn (so a small cell is not missed)."""
    rng = random.Random(f"review:{seed}")
    by_cell: dict[str, list[dict]] = defaultdict(list)
    for s in sorted(samples, key=lambda s: s["sample_id"]):
        by_cell[s["cell"]].append(s)
    for rows in by_cell.values():
        rng.shuffle(rows)
    picked, cells = [], sorted(by_cell)
    while len(picked) < n and any(by_cell.values()):
        for cell in cells:
            if by_cell[cell] and len(picked) < n:
                picked.append(by_cell[cell].pop())
    return picked


SCRIPT = """
function marks() {
  const out = {};
  for (const input of document.querySelectorAll("input[type=radio]:checked")) out[input.name] = input.value;
  return out;
}
function save() {
  const text = JSON.stringify({round: document.body.dataset.round, marks: marks()}, null, 1);
  document.getElementById("marks-json").value = text;
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], {type: "application/json"}));
  link.download = "review-" + document.body.dataset.round + ".json";
  document.body.appendChild(link);
  link.click();
  document.getElementById("status").textContent = Object.keys(marks()).length + " marks saved";
}
"""
STYLE = ("body{font:14px sans-serif;margin:2em;max-width:1100px} .sample{display:flex;gap:1em;border-top:1px solid "
         "#ccc;padding:.8em 0} .sample img{width:224px;image-rendering:pixelated} .muted{color:#666;font-size:12px} "
         "label{margin-right:1em} button{font-size:16px;padding:.4em 1em} textarea{width:100%;height:8em}")


def page(rows: list[dict], round_name: str) -> str:
    """The review page for ``rows`` (samples with their lineage); no network, one file."""
    items = []
    for i, r in enumerate(rows):
        uri = base64.b64encode(r["image"]).decode()
        options = "".join(f"<li>{chr(65 + k)}. {html.escape(o)}</li>" for k, o in enumerate(r["options"] or []))
        choices = "".join(f'<label><input type="radio" name="{html.escape(r["sample_id"])}" value="{m}" '
                          f'id="{m}-{i}"> {m}</label>' for m in MARKS)
        items.append(
            f'<div class="sample" id="sample-{i}"><img alt="sample {i}" src="data:image/png;base64,{uri}"><div>'
            f"<p><b>{html.escape(r['question'])}</b></p><ol type='A'>{options}</ol>"
            f"<p>label: <b>{html.escape(r['answer'])}</b></p><p>{choices}</p>"
            f"<p class='muted'>{html.escape(r['cell'])} · source {html.escape(r['source_image_id'][:12])} · edits "
            f"{html.escape(', '.join(e['op'] for e in json.loads(r['edits'] or '[]')) or 'none')} · by "
            f"{html.escape(', '.join(sorted(set(json.loads(r['role_models'] or '{}').values()))))}</p></div></div>")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Review {round_name}</title>"
            f"<style>{STYLE}</style><script>{SCRIPT}</script></head><body data-round='{html.escape(round_name)}'>"
            f"<h1>Review of round {html.escape(round_name)}: {len(rows)} samples</h1>"
            "<p>Is each label right for its image and question? Mark it, then save: the marks download as a JSON "
            "file (also shown below, to copy). Import them with <code>dpe review --import FILE --round "
            f"{html.escape(round_name)}</code>.</p>{''.join(items)}"
            "<p><button id='save' onclick='save()'>Save marks</button> <span id='status'></span></p>"
            "<textarea id='marks-json' readonly></textarea></body></html>")


def read_marks(path: str | Path, round_name: str, sample_ids: set[str]) -> dict[str, str]:
    """The marks of an exported file, checked: the round it names, known samples, known marks."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ReviewError(f"{path}: not a marks file ({err}); export one from the page of `dpe review`") from None
    if not isinstance(data, dict) or not isinstance(data.get("marks"), dict):
        raise ReviewError(f"{path}: no 'marks' mapping; export one from the page of `dpe review`")
    if data.get("round") != round_name:
        raise ReviewError(f"{path}: marks of round {data.get('round')!r}, not {round_name!r}; import it with "
                          f"--round {data.get('round')}")
    unknown = sorted(set(data["marks"]) - sample_ids)
    if unknown:
        raise ReviewError(f"{path}: {len(unknown)} samples round {round_name} does not have (first: {unknown[0]}); "
                          "the round was regenerated since the page was made: review it again")
    bad = sorted({m for m in data["marks"].values() if m not in MARKS})
    if bad:
        raise ReviewError(f"{path}: marks {bad}; use {list(MARKS)}")
    return dict(sorted(data["marks"].items()))


def precision(marks: dict[str, str], cells: dict[str, str]) -> dict[str, dict]:
    """Per cell and overall (key ""): right labels among the samples marked correct or wrong, with the Wilson
    95% interval and how many were unclear."""
    groups: dict[str, list[str]] = defaultdict(list)
    for sample_id, mark in marks.items():
        groups[cells[sample_id]].append(mark)
        groups[""].append(mark)
    out = {}
    for cell, got in sorted(groups.items()):
        judged = [m for m in got if m != "unclear"]
        right = judged.count("correct")
        low, high = wilson(right, len(judged))
        out[cell] = {"precision": right / len(judged) if judged else None, "low": low, "high": high,
                     "n": len(judged), "unclear": len(got) - len(judged)}
    return out


def label_quality(reviews: str | Path, round_name: str, samples, trainset) -> tuple[dict, str]:
    """(metrics, Markdown) of what the audit knows about the round's labels: the precision of the accepted and
    the trained samples where the backend knew the truth (``label_correct``), and of the samples a person marked
    (``<reviews>/<round>.json``), per cell, with Wilson intervals."""
    from pipeline.stats.evidence import label_precision

    metrics = label_precision(samples.column("label_correct").to_pylist(), "accepted")
    metrics |= label_precision(trainset.column("label_correct").to_pylist(), "trained")
    lines = []
    if metrics:
        shown = [f"{stage} {metrics[f'label_precision.{stage}']:.3f} [{metrics[f'label_precision.{stage}.low']:.3f}, "
                 f"{metrics[f'label_precision.{stage}.high']:.3f}] of {metrics[f'label_precision.{stage}.n']}"
                 for stage in ("accepted", "trained") if f"label_precision.{stage}" in metrics]
        lines.append("Labels right by the backend's ground truth: " + "; ".join(shown) + ".")
    marked = Path(reviews) / f"{round_name}.json"
    if marked.exists():
        marks = json.loads(marked.read_text())["marks"]
        cells = dict(zip(samples.column("sample_id").to_pylist(), samples.column("cell").to_pylist()))
        found = precision({k: v for k, v in marks.items() if k in cells}, cells)
        for cell, row in found.items():
            for key, value in row.items():
                metrics[f"review.{cell or 'all'}.{key}"] = value
        lines.append(f"Labels a person reviewed ({marked}), right among those judged:")
        lines += [f"- {cell or 'all'}: " + ("none judged" if row["precision"] is None else
                  f"{row['precision']:.3f} [{row['low']:.3f}, {row['high']:.3f}] of {row['n']}") +
                  f" ({row['unclear']} unclear)" for cell, row in found.items()]
    return metrics, ("\n## Labels\n\n" + "\n".join(lines) + "\n") if lines else ""
