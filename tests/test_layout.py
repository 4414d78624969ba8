"""The layout tells the spiral: a stage's code lives in its phase's folder, in a module named after it, and the
stage's entry point calls into it; entry points stay thin; docstrings and comments point only at files that exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# stage -> where a newcomer finds its code (the README's layout says the same)
STAGE_HOME = {
    "check": "pipeline/config/params.py",
    "world": "pipeline/world/build.py",
    "testset": "pipeline/world/testset.py",
    "bootstrap_clip": "pipeline/bootstrap/clip.py",
    "bootstrap_vlm": "pipeline/bootstrap/vlm.py",
    "bootstrap_report": "pipeline/models/card.py",
    "ingest": "pipeline/pool/ingest.py",
    "embed": "pipeline/pool/embed.py",
    "evaluate_base": "pipeline/diagnosis/evaluate.py",
    "round_zero": "stages/round_zero.py",  # two empty artifacts: the entry point is all of it
    "diagnose": "pipeline/diagnosis/diagnose.py",
    "mixture": "pipeline/mixture/mixture.py",
    "generate": "pipeline/generation/generate.py",
    "filter": "pipeline/training/filter.py",
    "train": "pipeline/training/round.py",
    "evaluate": "pipeline/diagnosis/evaluate.py",
    "audit": "pipeline/audit/cells.py",
}
PATH_IN_TEXT = re.compile(r"\b((?:pipeline|stages|tests|benchmarks)/[\w/]+\.py)\b")


def code_files() -> list[Path]:
    return sorted(p for folder in ("pipeline", "stages", "tests", "benchmarks") for p in (REPO / folder).rglob("*.py"))


def test_every_stage_calls_into_its_home():
    """A home the stage no longer uses (its logic moved, or a new stage left unlisted) fails here."""
    from pipeline.run import deps

    stages = {s.name.removesuffix("@*"): s for s in deps.stages(REPO)}
    assert set(stages) == set(STAGE_HOME), "a new stage needs a home here (and in the README's layout)"
    for name, home in STAGE_HOME.items():
        entry = stages[name].entry
        assert entry == REPO / home or REPO / home in deps.direct_imports(entry, REPO), (
            f"stage {name}: stages/{entry.name} does not import its home {home}")


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


def test_benchmarks_run_as_modules():
    """``benchmarks`` is a package: every command runs a benchmark as ``python -m benchmarks.<name>``, and no
    benchmark edits ``sys.path`` to reach the project."""
    by_path = re.compile(r"python3? +benchmarks/\w+\.py")
    docs = [REPO / "README.md", REPO / "benchmarks/RESULTS.md", REPO / "Makefile", *code_files()]
    assert (REPO / "benchmarks/__init__.py").exists()
    run_by_path = [f"{p.relative_to(REPO)}: {m}" for p in docs for m in by_path.findall(p.read_text())]
    assert not run_by_path, f"benchmarks run by path (use python -m benchmarks.<name>): {run_by_path}"
    edits = [p.name for p in (REPO / "benchmarks").glob("*.py") if "sys.path.insert" in p.read_text()]
    assert not edits, f"benchmarks that edit sys.path: {edits}"
