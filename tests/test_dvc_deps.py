"""dvc.yaml's code deps cannot go stale: every project module a stage imports (directly, transitively,
or through a registry it loads from) is covered by one of the stage's deps, a file or a folder above it.
Otherwise a changed prompt or grader would leave that stage's results stale without a word."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from pipeline import registry

REPO = Path(__file__).resolve().parents[1]
REGISTRIES = [r for r in vars(registry).values() if isinstance(r, registry.Registry)]
# The embedded world's own code and its bootstrap may use the world; nothing generic may.
WORLD_USERS = ("pipeline/world/", "pipeline/bootstrap/")


def module_path(name: str) -> Path | None:
    """The file of a project module (``pipeline.x.y`` or ``stages.z``), None for anything else."""
    if name.split(".")[0] not in ("pipeline", "stages"):
        return None
    base = REPO / name.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path
    return None


def direct_imports(path: Path) -> set[Path]:
    """Project modules a file imports anywhere in it (top level or inside a function), with the packages
    on the way (``import pipeline.pool.embed`` runs ``pipeline/__init__.py`` and ``pipeline/pool/__init__.py``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    found = set()
    for name in names:
        parts = name.split(".")
        found.update(p for p in (module_path(".".join(parts[:i])) for i in range(1, len(parts) + 1)) if p)
    return found


def closure(start: Path) -> set[Path]:
    """Every project module ``start`` runs, following imports and the registries it loads from."""
    seen, todo = set(), [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(direct_imports(path))
        for reg in REGISTRIES:
            if path == module_path(reg.owner):
                todo.extend(p for p in (module_path(t.split(":")[0]) for t in reg.entries.values()) if p)
    return seen


def stages() -> dict[str, tuple[Path, list[str]]]:
    """Stage name -> (its entry point, its deps), from dvc.yaml (foreach stages once, by name)."""
    out = {}
    for name, stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].items():
        body = stage.get("do", stage)
        module = body["cmd"].split("python -m ", 1)[1].split()[0]
        out[name] = (module_path(module), body["deps"])
    return out


def uncovered(modules: set[Path], deps: list[str]) -> list[str]:
    def covers(dep: str, rel: str) -> bool:
        return rel == dep or rel.startswith(dep.rstrip("/") + "/")

    rels = sorted(str(m.relative_to(REPO)) for m in modules if m.read_text().strip())  # empty __init__: no code
    return [rel for rel in rels if not any(covers(dep, rel) for dep in deps)]


@pytest.mark.parametrize("stage", sorted(stages()))
def test_stage_deps_cover_its_imports(stage):
    entry, deps = stages()[stage]
    assert entry is not None, f"stage {stage}: its cmd names no module under stages/"
    missing = uncovered(closure(entry), deps)
    assert not missing, f"stage {stage}: dvc.yaml deps miss {missing} (imported by stages/{entry.name})"


def test_the_check_sees_lazy_and_registry_imports():
    """A stage importing a registry's owner runs the registry's targets: the world's judge is one."""
    assert REPO / "pipeline/world/judge.py" in closure(REPO / "stages/diagnose.py")  # through registry.JUDGES
    assert REPO / "pipeline/pool/scale.py" in closure(REPO / "stages/ingest.py")  # a lazy import in a branch
    assert uncovered({REPO / "pipeline/prompts.py"}, ["pipeline/grading.py"]) == ["pipeline/prompts.py"]
    assert uncovered({REPO / "pipeline/pool/embed.py"}, ["pipeline/pool"]) == []


def test_generic_code_does_not_import_the_world():
    offenders = []
    for path in sorted((REPO / "pipeline").rglob("*.py")):
        rel = str(path.relative_to(REPO))
        if rel.startswith(WORLD_USERS):
            continue
        world = [str(p.relative_to(REPO)) for p in direct_imports(path) if "pipeline/world/" in str(p)]
        if world:
            offenders.append(f"{rel} imports {world}")
    assert not offenders, "generic modules import the embedded world: " + "; ".join(offenders)
