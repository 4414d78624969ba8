"""The layout tells the spiral: a stage's code lives in its phase's folder, in a module named after it;
stage entry points stay thin; docstrings and comments point only at files that exist."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

# stage -> where a newcomer finds its code
STAGE_HOME = {
    "world": "pipeline/world/build.py",
    "bootstrap_clip": "pipeline/bootstrap/clip.py",
    "bootstrap_vlm": "pipeline/bootstrap/vlm.py",
    "bootstrap_report": "pipeline/models/card.py",
    "ingest": "pipeline/pool/ingest.py",
    "embed": "pipeline/pool/embed.py",
    "evaluate_base": "pipeline/diagnosis/evaluate.py",
    "round_zero": "pipeline/generation/dedup.py",
    "diagnose": "pipeline/diagnosis/diagnose.py",
    "mixture": "pipeline/mixture.py",
    "generate": "pipeline/generation/generate.py",
    "filter": "pipeline/training/filter.py",
    "train": "pipeline/training/train.py",
    "evaluate": "pipeline/diagnosis/evaluate.py",
    "audit": "pipeline/audit/cells.py",
}
PATH_IN_TEXT = re.compile(r"\b((?:pipeline|stages|tests|benchmarks)/[\w/]+\.py)\b")


def code_files() -> list[Path]:
    return sorted(p for folder in ("pipeline", "stages", "tests", "benchmarks") for p in (REPO / folder).rglob("*.py"))


def test_every_stage_has_a_home_in_its_phase_folder():
    stages = set(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"])
    assert stages == set(STAGE_HOME), "a new stage needs a home here (and in the README's layout)"
    assert [home for home in STAGE_HOME.values() if not (REPO / home).exists()] == []


def test_stage_entry_points_are_thin():
    fat = {p.name: n for p in (REPO / "stages").glob("*.py") if (n := len(p.read_text().splitlines())) > 60}
    assert not fat, f"stage modules over 60 lines (move the logic into pipeline/): {fat}"


def test_paths_named_in_code_exist_and_no_issue_numbers():
    stale, issues = [], []
    for path in code_files():
        text = path.read_text()
        stale += [f"{path.relative_to(REPO)}: {ref}" for ref in PATH_IN_TEXT.findall(text) if not (REPO / ref).exists()]
        issues += [f"{path.relative_to(REPO)}" for _ in re.finditer(r"\bissue \d+", text, re.IGNORECASE)]
    assert not stale, f"code points at files that do not exist: {stale}"
    assert not issues, f"code cites issue numbers (say what, not which ticket): {issues}"
