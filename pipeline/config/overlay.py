"""Params overlays: a partial params file merged onto params.yaml, so a setup (a user's own pool and
agents, a GPU node) is a short file of the keys it changes, not a copy of every knob.

Sections of the schema merge key by key; any other value replaces the one below it: a list, a number, and
a mapping that is a value rather than a section (``embed.type_prompts``, ``rounds``, ``generate.prices``), so
an overlay's image types are the pool's types, not added to the world's. The
result is validated as a whole before anything is written, and params.yaml keeps its comments and key
order (ruamel.yaml's round trip), so `git diff params.yaml` shows exactly what the overlay changed.
Bundled overlays live in ``pipeline/config/overlays/`` and are found by name (``dpe overlay own_pool``).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import yaml
from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from pipeline.config.params import Params, ParamsError, parse_params
from pipeline.config.sections import Section

BUNDLED = Path(__file__).parent / "overlays"


def bundled() -> list[str]:
    """Names of the overlays that ship with the project."""
    return sorted(p.stem for p in BUNDLED.glob("*.yaml"))


def find(name: str) -> Path:
    """An overlay by path, or by the name of a bundled one."""
    path = Path(name)
    if path.is_file():
        return path
    own = BUNDLED / f"{name.removesuffix('.yaml')}.yaml"
    if own.is_file():
        return own
    raise ParamsError(f"overlay {name!r}: no such file, and no bundled overlay of that name "
                      f"(bundled: {', '.join(bundled())})")


def merge(base: dict, overlay: dict, schema: type[BaseModel] = Params) -> dict:
    """``overlay`` merged into ``base`` in place: the schema's sections by key, anything else replaced."""
    for key, value in overlay.items():
        field = schema.model_fields.get(key)
        kind = field.annotation if field else None
        if (isinstance(kind, type) and issubclass(kind, Section) and isinstance(value, dict)
                and isinstance(base.get(key), dict)):
            merge(base[key], value, kind)
        else:
            base[key] = value
    return base


def _float(representer, value: float):
    """Floats as YAML 1.1 readers (PyYAML) read them too: ``1e-05`` would come back a string, ``1.0e-05`` not."""
    text = repr(value)
    mantissa, sep, exponent = text.partition("e")
    if sep and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return representer.represent_scalar("tag:yaml.org,2002:float", text)


def apply_overlay(params: str | Path, overlay: str | Path, out: str | Path | None = None) -> str:
    """Merge the overlay onto the params file and write the result to ``out`` (default: the params file
    itself); returns the merged text. An overlay that is not a mapping, or a merge that does not validate,
    raises ParamsError naming the overlay, and nothing is written."""
    source = find(str(overlay))
    changes = yaml.safe_load(source.read_text())
    if not isinstance(changes, dict):
        raise ParamsError(f"overlay {source}: expected a mapping of params sections, got {type(changes).__name__}")
    return _round_trip(params, lambda base: merge(base, changes), f"overlay {source}", out)


def next_rounds(names: list[str], n: int) -> list[tuple[str, str]]:
    """``n`` new rounds after the last of ``names``, each from the one before: (name, prev) pairs.

    >>> next_rounds(["r1", "r2"], 2)
    [('r3', 'r2'), ('r4', 'r3')]
    >>> next_rounds([], 1)
    [('r1', 'r0')]
    """
    numbers = [int(m.group(1)) for m in (re.fullmatch(r"r(\d+)", name) for name in names) if m]
    first, prev = max(numbers, default=0) + 1, names[-1] if names else "r0"
    out = []
    for i in range(first, first + n):
        out.append((f"r{i}", prev))
        prev = f"r{i}"
    return out


def append_rounds(params: str | Path, n: int) -> list[str]:
    """Add ``n`` rounds to the params file's ``rounds`` (comments and order kept, validated before it writes);
    returns their names."""
    added: list[str] = []

    def edit(base) -> None:
        rounds = base.setdefault("rounds", {})
        for name, prev in next_rounds(list(rounds), n):
            rounds[name] = CommentedMap(prev=prev)
            rounds[name].fa.set_flow_style()  # `r3: {prev: r2}`, as params.yaml writes rounds
            added.append(name)

    _round_trip(params, edit, f"{n} more round(s)")
    return added


def _round_trip(params: str | Path, edit, what: str, out: str | Path | None = None) -> str:
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096  # a long flow list stays on its line
    rt.representer.add_representer(float, _float)
    rt.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    base = rt.load(Path(params).read_text())
    edit(base)
    buffer = io.StringIO()
    rt.dump(base, buffer)
    text = buffer.getvalue()
    try:
        parse_params(yaml.safe_load(text))
    except ParamsError as err:
        raise ParamsError(f"{what} on {params}: {err}") from None
    Path(out or params).write_text(text)
    return text
