"""Which stages a change reruns: every project module a stage runs (its imports, followed through function
bodies and the registries it loads from), read from the source, against the code deps dvc.yaml gives it.

``dpe check --deps`` prints the table (module -> the stages it reruns); the tests require every module a stage
runs to be covered by one of its deps, so a changed prompt or grader never leaves a stage's results stale, and
that the deps stay narrow (a training change reruns no stage before training).
"""

from __future__ import annotations

import ast
import shlex
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.config import registry

REGISTRIES = [r for r in vars(registry).values() if isinstance(r, registry.Registry)]


@dataclass(frozen=True)
class Stage:
    name: str  # as dvc.yaml names it; a foreach stage once, as ``diagnose@*``
    entry: Path | None  # its module under stages/
    deps: tuple[str, ...]
    params: tuple[str, ...]


def module_path(name: str, root: Path) -> Path | None:
    """The file of a project module (``pipeline.x.y`` or ``stages.z``), None for anything else."""
    if name.split(".")[0] not in ("pipeline", "stages"):
        return None
    base = root / name.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path
    return None


def direct_imports(path: Path, root: Path) -> set[Path]:
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
        found.update(p for p in (module_path(".".join(parts[:i]), root) for i in range(1, len(parts) + 1)) if p)
    return found


def packages_of(path: Path, root: Path) -> list[Path]:
    """The ``__init__.py`` of every package above ``path`` in ``root``: running ``python -m stages.world`` runs
    ``stages/__init__.py`` first."""
    if not path.is_relative_to(root):
        return []
    return [p / "__init__.py" for p in path.parents if p.is_relative_to(root) and p != root
            and (p / "__init__.py").exists()]


def closure(start: Path, root: Path) -> set[Path]:
    """Every project module ``start`` runs, following imports and the registries it loads from."""
    seen, todo = set(), [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(direct_imports(path, root))
        todo.extend(packages_of(path, root))
        for reg in REGISTRIES:
            if path == module_path(reg.owner, root):
                todo.extend(p for p in (module_path(t.split(":")[0], root) for t in reg.entries.values()) if p)
    return seen


def run_module(cmd: str) -> str:
    """The module a stage's command runs with ``python -m``; "" for a command that runs none.

    >>> run_module("python3 -m stages.world --pool data/world/pool.parquet"), run_module("make all")
    ('stages.world', '')
    """
    words = shlex.split(cmd)
    return next((words[i + 1] for i, w in enumerate(words[:-1]) if w == "-m" and "python" in words[i - 1]), "")


def stages(root: Path) -> list[Stage]:
    """The stages of ``root/dvc.yaml``."""
    out = []
    for name, stage in yaml.safe_load((root / "dvc.yaml").read_text())["stages"].items():
        body = stage.get("do", stage)
        out.append(Stage(f"{name}@*" if "foreach" in stage else name, module_path(run_module(body["cmd"]), root),
                         tuple(body.get("deps", [])), tuple(param_names(body.get("params", [])))))
    return out


WHOLE_FILE = "*"  # a stage that depends on every key of params.yaml (``- params.yaml:`` in dvc.yaml)


def param_names(entries: list) -> list[str]:
    """A stage's params entries as names: a key of params.yaml, or ``*`` for the whole file.

    >>> param_names(["seed", "train.gate", {"params.yaml": None}])
    ['seed', 'train.gate', '*']
    """
    out = []
    for entry in entries:
        if isinstance(entry, str):
            out.append(entry)
        else:
            for keys in entry.values():
                out.extend(keys or [WHOLE_FILE])
    return out


def covers(dep: str, rel: str) -> bool:
    """Whether dvc.yaml dep ``dep`` (a file or a folder) covers the file ``rel``.

    >>> covers("pipeline/pool", "pipeline/pool/embed.py"), covers("pipeline/answers/grading.py", "pipeline/answers/prompts.py")
    (True, False)
    """
    return rel == dep or rel.startswith(dep.rstrip("/") + "/")


def code(modules: set[Path], root: Path) -> list[str]:
    """The modules that hold code (an empty ``__init__`` runs nothing), relative to ``root``."""
    return sorted(str(m.relative_to(root)) for m in modules if m.read_text().strip())


def uncovered(modules: set[Path], deps: tuple[str, ...] | list[str], root: Path) -> list[str]:
    return [rel for rel in code(modules, root) if not any(covers(dep, rel) for dep in deps)]


def reruns(root: Path) -> dict[str, list[str]]:
    """Every project module -> the stages whose dvc.yaml deps cover it: what a change to it reruns."""
    every = sorted(root.glob("pipeline/**/*.py")) + sorted(root.glob("stages/*.py"))
    dag = stages(root)
    return {rel: [s.name for s in dag if any(covers(dep, rel) for dep in s.deps)] for rel in code(set(every), root)}


def import_cycle(root: Path) -> list[str]:
    """One cycle of project modules importing each other (imports inside functions count: a lazy import is
    still a module that needs the other to make sense), as paths relative to ``root``; [] when none."""
    from graphlib import CycleError, TopologicalSorter

    modules = [*sorted((root / "pipeline").rglob("*.py")), *sorted((root / "stages").rglob("*.py"))]
    graph = {path: {p for p in direct_imports(path, root) if p != path} for path in modules}
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as err:
        return [str(p.relative_to(root)) for p in err.args[1]]
    return []


def source_root() -> Path:
    """The folder holding ``pipeline/`` and ``stages/`` (a checkout, or an editable install's source)."""
    return Path(__file__).resolve().parents[2]


def code_hash(*entries: str | Path) -> str:
    """A short hash of the source of every project module the ``entries`` (files) run, followed as
    :func:`closure` follows them: what a journal, resume state or cache must be keyed by besides its inputs, so
    that changed code never resumes (or replays) what older code produced. A file outside the project (a user's
    agent backend) counts with the project modules it imports."""
    import hashlib

    root = source_root()
    modules: set[Path] = set()
    for entry in entries:
        modules |= closure(Path(entry).resolve(), root)
    digest = hashlib.sha256()
    for path in sorted(modules):
        name = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
