"""dvc.yaml's deps cannot go stale, and stay narrow: every project module a stage imports (directly,
transitively, or through a registry it loads from) is covered by one of the stage's deps, every params section
a stage validates is one of its params, and what a phase changes reruns only that phase's stages and those after
them (pipeline/run/deps.py reads the imports; tests/test_e2e.py shows the same with `dvc status` on a real repo)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from pipeline.config.sections import StageParams
from pipeline.run import deps

REPO = Path(__file__).resolve().parents[1]
STAGES = {s.name: s for s in deps.stages(REPO)}
# The embedded world's own code and its bootstrap may use the world, and config assembles every params section
# (the world's among them); nothing generic may.
WORLD_USERS = ("pipeline/world/", "pipeline/bootstrap/", "pipeline/config/params.py")
BEFORE_TRAINING = {"world", "bootstrap_clip", "bootstrap_vlm", "bootstrap_report", "ingest", "embed", "round_zero",
                   "evaluate_base", "diagnose@*", "mixture@*", "generate@*"}


def closure(entry: str) -> set[Path]:
    return deps.closure(REPO / entry, REPO)


def schema_of(stage: deps.Stage) -> type[StageParams]:
    module = importlib.import_module(str(stage.entry.relative_to(REPO).with_suffix("")).replace("/", "."))
    schemas = {v for v in vars(module).values() if isinstance(v, type) and issubclass(v, StageParams)}
    schemas = schemas - {StageParams} or schemas or {StageParams}
    assert len(schemas) == 1, f"stage {stage.name}: its entry point imports several params schemas {schemas}"
    return schemas.pop()


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_cover_its_imports(name):
    stage = STAGES[name]
    assert stage.entry is not None, f"stage {name}: its cmd names no module under stages/"
    missing = deps.uncovered(closure(str(stage.entry.relative_to(REPO))), stage.deps, REPO)
    assert not missing, f"stage {name}: dvc.yaml deps miss {missing} (imported by stages/{stage.entry.name})"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_code_deps_name_only_what_it_runs(name):
    """A dep on code the stage never runs would rerun it for nothing (and hide the coupling)."""
    stage = STAGES[name]
    runs = deps.code(closure(str(stage.entry.relative_to(REPO))), REPO)
    idle = [d for d in stage.deps if d.startswith(("pipeline/", "stages/")) and not any(deps.covers(d, m) for m in runs)]
    assert not idle, f"stage {name}: dvc.yaml deps name {idle}, which it does not run"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_params_cover_the_sections_it_validates(name):
    """A section a stage reads but dvc.yaml does not list would change its outs without rerunning it."""
    stage = STAGES[name]
    fields = schema_of(stage).model_fields
    missing = [f for f in fields if not any(p in (f, deps.WHOLE_FILE) or p.startswith(f"{f}.") for p in stage.params)]
    assert not missing, f"stage {name} validates {missing}, which dvc.yaml's params for it do not name"


def test_the_check_sees_lazy_and_registry_imports():
    """A stage importing a registry's owner runs the registry's targets: the world's judge is one."""
    assert REPO / "pipeline/world/judge.py" in closure("stages/diagnose.py")  # through registry.JUDGES
    assert REPO / "pipeline/pool/scale.py" in closure("stages/ingest.py")  # a lazy import in a branch
    assert deps.uncovered({REPO / "pipeline/answers/prompts.py"}, ["pipeline/answers/grading.py"], REPO) == ["pipeline/answers/prompts.py"]
    assert deps.uncovered({REPO / "pipeline/pool/embed.py"}, ["pipeline/pool"], REPO) == []


def test_training_reruns_only_training_and_what_follows():
    table = deps.reruns(REPO)
    training = {rel: set(names) for rel, names in table.items() if rel.startswith("pipeline/training/")}
    assert training and all(names for names in training.values())
    touched = {rel: names & BEFORE_TRAINING for rel, names in training.items() if names & BEFORE_TRAINING}
    assert not touched, f"training code reruns stages before training: {touched}"
    assert {s.name for s in STAGES.values() if "train" in s.params} == {"train@*"}  # a new train key: train only
    assert "mixture@*" not in table["pipeline/models/bases.py"] and "world" not in table["pipeline/models/bases.py"]


def test_shared_modules_stay_small_and_leaves_stay_leaves():
    """schemas is a leaf (no project import, no file I/O); runtime does not import the lake; params validation
    (every phase's params module, and config assembling them) imports no model code."""
    schemas = REPO / "pipeline/storage/schemas.py"
    assert deps.direct_imports(schemas, REPO) == set()
    io = [call for call in ("open(", "read_text", "write_text", "read_table(", "write_table(") if call in schemas.read_text()]
    assert not io, f"pipeline/storage/schemas.py does I/O: {io}"
    assert REPO / "pipeline/storage/lake.py" not in closure("pipeline/run/runtime.py")
    validation = closure("pipeline/config/params.py")
    models = [m for m in deps.code(validation, REPO) if m.startswith("pipeline/models/") and m != "pipeline/models/params.py"]
    assert not models, f"params validation imports model code: {models}"


def test_generic_code_does_not_import_the_world():
    offenders = []
    for path in sorted((REPO / "pipeline").rglob("*.py")):
        rel = str(path.relative_to(REPO))
        if rel.startswith(WORLD_USERS):
            continue
        world = [str(p.relative_to(REPO)) for p in deps.direct_imports(path, REPO) if "pipeline/world/" in str(p)]
        if world:
            offenders.append(f"{rel} imports {world}")
    assert not offenders, "generic modules import the embedded world: " + "; ".join(offenders)


def test_no_module_imports_one_that_imports_it(tmp_path):
    assert deps.import_cycle(REPO) == []
    package = tmp_path / "pipeline"
    package.mkdir()
    (package / "a.py").write_text("from pipeline import b\n")
    (package / "b.py").write_text("def f():\n    from pipeline.a import g\n")  # lazy, still a cycle
    assert {Path(p).name for p in deps.import_cycle(tmp_path)} == {"a.py", "b.py"}
