"""The layout tells the spiral: a stage's code lives in its phase's folder, in a module named after it, and the
stage's entry point calls into it; entry points stay thin; the top of pipeline/ holds folders; docstrings and
comments point only at files that exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The stages whose entry point is all of their code, with why: the only ones without a home module.
EXCEPTIONS = {
    "check": "validates the whole params file (pipeline/config/params.py's Params) and does nothing else",
    "round_zero": "writes two empty artifacts (the r0 mixture and dedup index) from their schemas",
}
MAX_LINES = 400
PATH_IN_TEXT = re.compile(r"\b((?:pipeline|stages|tests|benchmarks)/[\w/]+\.py)\b")


def code_files() -> list[Path]:
    return sorted(p for folder in ("pipeline", "stages", "tests", "benchmarks") for p in (REPO / folder).rglob("*.py"))


def phases() -> list[Path]:
    return sorted(p for p in (REPO / "pipeline").iterdir() if p.is_dir() and (p / "__init__.py").exists())


def home_of(entry: str) -> list[Path]:
    """The modules named after a stage's entry point ``stages/<entry>.py``: ``pipeline/<phase>/<entry>.py``, the
    phase's prefix dropped (``bootstrap_vlm`` lives in ``pipeline/bootstrap/vlm.py``)."""
    return [path for phase in phases() for name in {entry, entry.removeprefix(f"{phase.name}_")}
            if (path := phase / f"{name}.py").exists()]


def entry_points() -> dict[str, Path]:
    from pipeline.run import deps

    return {s.entry.stem: s.entry for s in deps.stages(REPO)}


def params_schema(entry: Path) -> type:
    """The params schema the entry point validates: the one ``StageParams`` subclass it imports."""
    import importlib

    from pipeline.config.sections import StageParams

    module = importlib.import_module(f"stages.{entry.stem}")
    found = {v for v in vars(module).values() if isinstance(v, type) and issubclass(v, StageParams)}
    found = found - {StageParams} or found
    assert len(found) == 1, f"stages/{entry.name} imports {len(found)} params schemas: {found}"
    return found.pop()


def test_every_stage_runs_its_home_module():
    """A stage's code lives in ``pipeline/<phase>/<stage>.py`` (one module, in one phase), and its entry point
    imports it; only the EXCEPTIONS have none."""
    from pipeline.run import deps

    entries = entry_points()
    assert set(EXCEPTIONS) <= set(entries), f"exceptions for stages that do not exist: {set(EXCEPTIONS) - set(entries)}"
    for name, entry in entries.items():
        homes = home_of(name)
        if name in EXCEPTIONS:
            assert not homes, f"stages/{name}.py is listed as an exception but has a home {homes}: drop the exception"
            continue
        assert len(homes) == 1, f"stages/{name}.py needs exactly one home pipeline/<phase>/{name}.py, found {homes}"
        assert homes[0] in deps.direct_imports(entry, REPO), (
            f"stages/{name}.py does not import its home {homes[0].relative_to(REPO)}")


def test_every_stage_params_schema_lives_in_its_phase_params():
    """Stages define no classes; the schema a stage validates is ``pipeline/<phase>/params.py``'s, of its home's
    phase."""
    import ast

    for name, entry in entry_points().items():
        classes = [n.name for n in ast.walk(ast.parse(entry.read_text())) if isinstance(n, ast.ClassDef)]
        assert not classes, f"stages/{name}.py defines {classes}: put a stage's Params in its phase's params.py"
        schema = params_schema(entry)
        if name in EXCEPTIONS:
            continue
        phase = home_of(name)[0].parent.name
        assert schema.__module__ == f"pipeline.{phase}.params", (
            f"stages/{name}.py validates {schema.__module__}.{schema.__name__}, not one of pipeline/{phase}/params.py")


def test_the_top_of_pipeline_holds_folders():
    modules = sorted(p.name for p in (REPO / "pipeline").glob("*.py") if p.name != "__init__.py")
    assert not modules, f"modules at the top of pipeline/ (put each in the folder of what it is for): {modules}"


def test_no_module_is_over_the_line_limit():
    long = {str(p.relative_to(REPO)): n for folder in ("pipeline", "stages", "benchmarks")
            for p in (REPO / folder).rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by what their parts do): {long}"


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
