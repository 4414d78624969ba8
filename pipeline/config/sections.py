"""What every params schema shares: the frozen section base, the error, the credential check, and reading a
stage's own sections out of params.yaml.

The schemas themselves live with their phase (``pipeline/<phase>/params.py``; ``pipeline/config/params.py`` assembles
them for ``dpe check``). A stage declares the sections it reads as a :class:`StageParams` subclass and
validates only those, so a change to another phase's schema does not touch it (and does not rerun it).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Section(BaseModel):
    """One params section: frozen, and an unknown key is an error naming it (a typo never runs on a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StageParams(BaseModel):
    """The sections one stage reads. Other top-level sections are other stages' business (``dpe check``
    validates the whole file), so they are ignored here."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Seeded(StageParams):
    """``seed``: the world's and the bootstrap's draws."""

    seed: int = 0


class RoundSeeded(Seeded):
    """``seed`` and ``round_seed``: a round's draws."""

    round_seed: int | None = Field(None, description=(
        "seed of the rounds' draws (probe subset, generation, filter rollouts, GRPO); null: seed. Varying it "
        "alone repeats the spiral from the same world and r0: the seeds of a data-efficiency comparison"))

    def seed_of(self, round_name: str) -> int:
        """The seed of one round's draws: distinct per round and stable, from ``round_seed`` (or ``seed``)."""
        base = self.seed if self.round_seed is None else self.round_seed
        return int(hashlib.sha256(f"{base}:{round_name}".encode()).hexdigest()[:8], 16)


class ParamsError(ValueError):
    """params.yaml is invalid; the message names each bad key, its value and what is allowed."""


def registered(kind: str, names, value: str) -> str:
    """``value`` when a registry lists it or it is a ``package.module:name`` target."""
    if value not in names and ":" not in value:
        raise ValueError(f"unknown {kind} {value!r}; use one of {sorted(names)} or 'package.module:name'")
    return value


def describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key (value {e['input']!r}); remove it or fix its spelling")
        else:
            lines.append(f"  {key} = {e.get('input')!r}: {e['msg']}")
    return "invalid params.yaml:\n" + "\n".join(lines)


SECRET_KEY = re.compile(r"(^|_)(api_?key|secret|secret_key|access_key|password|passwd|token|bearer)$", re.I)
SECRET_VALUE = re.compile(r"^(sk-|sk_live_|rk_live_|AKIA|ASIA|ghp_|github_pat_|hf_|xox[abp]-|AIza)[A-Za-z0-9_\-]{8,}")


def secrets_in(tree, prefix: str = "") -> list[str]:
    """Dotted keys of ``tree`` that hold what looks like a credential: a key named like one (``api_key``,
    ``token``, ``password``; not ``*_env``, which names a variable) with a text value, or a value shaped like a
    known key format (``sk-...``, ``AKIA...``, ``hf_...``).

    >>> secrets_in({"generate": {"openai": {"api_key_env": "OPENAI_API_KEY", "api_key": "x"}},
    ...             "pool": {"sources": ["s3://b/k?token=1", "sk-abcdefghijklmnop"]}})
    ['generate.openai.api_key', 'pool.sources.1']
    """
    found = []
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else []
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, (dict, list)):
            found += secrets_in(value, f"{name}.")
        elif isinstance(value, str) and value and (SECRET_KEY.search(str(key)) or SECRET_VALUE.match(value)):
            found.append(name)
    return found


Schema = TypeVar("Schema", bound=BaseModel)


def parse(raw: dict | None, schema: type[Schema]) -> Schema:
    """``raw`` (the whole params tree) validated as ``schema``; the credential check covers the whole tree, since
    a key anywhere in the file would land in dvc.lock and git history."""
    leaked = secrets_in(raw or {})
    if leaked:  # the value is never echoed: this message reaches logs
        raise ParamsError(f"invalid params.yaml: {', '.join(leaked)} hold what looks like a credential. Keys never go "
                          "in params (they would land in dvc.lock, git history and logs): put the key in an "
                          "environment variable and name that variable in the section's *_env setting "
                          "(e.g. generate.openai.api_key_env: OPENAI_API_KEY)")
    try:
        return schema.model_validate(raw or {})
    except ValidationError as err:
        raise ParamsError(describe(err)) from None


# The top-level sections of params.yaml (``pipeline/config/params.py`` assembles their schemas; a test keeps the two
# equal). Named here so that every stage checks the file's top-level keys without importing every schema.
SECTIONS = frozenset({"seed", "round_seed", "world", "testset", "bootstrap", "model", "clip", "pool", "embed",
                      "search", "answer", "diagnose", "mixture", "generate", "filter", "train", "probe",
                      "evaluation", "audit", "rounds"})
TEMPLATE = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)")


def declared_sections(dvc_yaml: str | Path) -> set[str]:
    """The top-level params names a ``dvc.yaml`` declares: the first part of every stage's params entry and
    every name its templates (``${probe.source}``, ``foreach: ${rounds}``) read, less its own ``vars``.

    Read from the pipeline file rather than from every schema, so a stage checks the file's top-level keys
    without depending on the other phases' schemas.
    """
    spec = yaml.safe_load(Path(dvc_yaml).read_text()) or {}
    local = {name for entry in spec.get("vars", []) if isinstance(entry, dict) for name in entry} | {"key", "item"}
    names: set[str] = set()
    for stage in (spec.get("stages") or {}).values():
        body = stage.get("do", stage)
        for entry in body.get("params", []):
            if isinstance(entry, str):
                names.add(entry.split(".")[0])
    names.update(m.group(1) for m in TEMPLATE.finditer(Path(dvc_yaml).read_text()))
    return names - local


def unknown_sections(raw: dict, declared: set[str]) -> str | None:
    """The error for top-level keys of ``raw`` outside ``declared``, or None.

    >>> unknown_sections({"seed": 0, "mixtrue": {}}, {"seed", "mixture"}).splitlines()[1][:40]
    '  mixtrue: unknown top-level key (no sta'
    >>> unknown_sections({"seed": 0}, {"seed", "mixture"}) is None
    True
    """
    unknown = sorted(set(raw) - declared)
    if not unknown:
        return None
    lines = [f"  {k}: unknown top-level key (no stage reads it); remove it or fix its spelling. The sections are: "
             f"{', '.join(sorted(declared))}" for k in unknown]
    return "invalid params.yaml:\n" + "\n".join(lines)


def read(path: str | Path, schema: type[Schema]) -> Schema:
    """The params file at ``path``, validated as ``schema``, after its top-level keys are checked against the
    project's sections and those the ``dvc.yaml`` beside it declares (a user's own stages): a misspelt section
    would otherwise run every stage on the defaults it meant to change (each stage validates only its own)."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} not found; run from the repository root or pass --params")
    raw = yaml.safe_load(path.read_text())
    if isinstance(raw, dict):
        pipeline_file = path.parent / "dvc.yaml"
        problem = unknown_sections(raw, SECTIONS | (declared_sections(pipeline_file) if pipeline_file.exists()
                                                    else set()))
        if problem:
            raise ParamsError(problem)
    return parse(raw, schema)
