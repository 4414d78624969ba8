"""The README reads in order (what it is, what you will see, how it works, bringing your own, extending,
reference), its stage table is dvc.yaml's, and every number it quotes comes from a committed file: the metrics
the demo writes, benchmarks/RESULTS.md, params.yaml or the code's constants."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.run import deps
from tests.test_layout import EXCEPTIONS, home_of

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
ORDER = ["Two commands", "What you will see", "How it works", "Bringing your own pool, models and agents",
         "Extending", "Reference"]


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 4)
    return README[start:end if end > 0 else None]


def prose(text: str) -> str:
    """``text`` without its fenced code blocks (examples, not claims)."""
    return re.sub(r"```.*?```", "", text, flags=re.S)


def metrics() -> dict[str, float]:
    values = {}
    for path in sorted((REPO / "metrics").rglob("*.json")):
        for key, value in json.loads(path.read_text()).items():
            if isinstance(value, (int, float)):
                values[f"{path.relative_to(REPO / 'metrics')}:{key}"] = float(value)
    return values


def test_sections_come_in_the_order_a_newcomer_reads():
    titles = re.findall(r"^## (.+)$", README, flags=re.M)
    assert titles == ORDER


def test_the_stage_table_is_dvc_yaml():
    rows = {}
    for line in section("How it works").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`") and cells[0] != "`stage`":
            rows[cells[0].strip("`").replace("@rN", "@*")] = cells
    stages = {s.name: s for s in deps.stages(REPO)}
    assert set(rows) == set(stages)
    for name, (_, code, _, _, params) in rows.items():
        entry = stages[name].entry.stem
        home = f"stages/{entry}.py" if entry in EXCEPTIONS else str(home_of(entry)[0].relative_to(REPO))
        assert code.split("`")[1] == home, name  # the module the stage runs, as tests/test_layout.py finds it
        listed = [] if params == "—" else [p.strip().strip("`") for p in params.split(",")]
        listed = [deps.WHOLE_FILE if p.startswith("params.yaml") else p for p in listed]
        assert listed == list(stages[name].params), name


def test_what_you_will_see_quotes_the_committed_metrics():
    text = section("What you will see")
    flat = " ".join(text.split())
    keys = {(m["path"], m["key"]) for m in marks(text)}
    assert {("metrics/r0/evaluate.json", "accuracy.overall"), ("metrics/r1/evaluate.json", "accuracy.overall")} <= keys
    values = metrics()
    assert ("r1 passes the gate" in flat) == (values["r1/train.json:gate.accepted"] == 1)
    if "r1 is refused by the gate" in flat:
        assert values["r1/train.json:gate.accepted"] == 0
        assert values["r1/evaluate.json:accuracy.overall"] == values["r0/evaluate.json:accuracy.overall"]
    assert ("r2 is refused by the gate" in flat) == (values["r2/train.json:gate.accepted"] == 0)
    if values["r2/train.json:gate.accepted"] == 0:
        assert values["r2/evaluate.json:accuracy.overall"] == values["r1/evaluate.json:accuracy.overall"]
    assert f"evaluation set ({values['r0/evaluate.json:items']:,.0f} items" in flat


# A number quoted from a committed file carries its source right after it: ``0.626<!-- src: metrics/r0/evaluate.json
# accuracy.overall -->`` (a JSON file's flat or dotted key, or params.yaml's dotted key); a test checks the value.
MARK = re.compile(r"(?P<num>[+\-−]?\d[\d,]*(?:\.\d+)?)(?P<pct>%?)\s*<!--\s*src:\s*(?P<path>\S+)\s+(?P<key>\S+)\s*-->")
NUMBER = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])")
RESULTS = (REPO / "benchmarks/RESULTS.md").read_text()


def source_value(path: str, key: str) -> float:
    """The value at ``key`` of a committed JSON or YAML file (a flat key first, then a dotted path)."""
    import yaml

    text = (REPO / path).read_text()
    tree = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    if key in tree:
        return float(tree[key])
    for part in key.split("."):
        tree = tree[int(part)] if isinstance(tree, list) else tree[part]
    return float(tree)


def marks(text: str) -> list[re.Match]:
    return list(MARK.finditer(text))


@pytest.mark.parametrize("doc", ["README.md", "benchmarks/RESULTS.md"])
def test_every_sourced_number_equals_its_source(doc):
    wrong = []
    found = marks((REPO / doc).read_text())
    for m in found:
        shown = m["num"].replace(",", "").replace("−", "-")
        decimals = len(shown.split(".")[1]) if "." in shown else 0
        value = source_value(m["path"], m["key"]) * (100 if m["pct"] else 1)
        if round(value, decimals) != float(shown):
            wrong.append(f"{m['num']}{m['pct']} vs {m['path']} {m['key']} = {value}")
    assert found and not wrong, f"{doc} quotes numbers that are not their source's: {wrong}"


@pytest.mark.parametrize("title", ORDER)
def test_every_number_the_readme_quotes_has_a_checked_source(title):
    """A decimal in the README is a sourced mark (checked above), a setting of params.yaml or pyproject.toml, or
    a measurement in a sentence naming the script or test that makes it (a ``benchmarks/``, ``tests/`` or
    ``pipeline/`` file), which holds the number or whose result RESULTS.md records with its command."""
    settings = (REPO / "params.yaml").read_text() + (REPO / "pyproject.toml").read_text()
    text = prose(section(title))
    sourced = {m.start("num") for m in marks(text)}
    unsourced = []
    for m in NUMBER.finditer(text):
        if any(abs(m.start() - s) <= 1 for s in sourced) or m.group() in settings:
            continue
        begin = max(text.rfind(". ", 0, m.start()), text.rfind(".\n", 0, m.start()), 0)
        ends = [i for i in (text.find(". ", m.end()), text.find(".\n", m.end())) if i >= 0]
        sentence = text[begin: min(ends) if ends else None]
        named = re.findall(r"(?:benchmarks|tests|pipeline)/[\w/]+\.py", sentence)
        named += [f"benchmarks/{name}.py" for name in re.findall(r"-m benchmarks\.(\w+)", sentence)]
        if any(m.group() in RESULTS and b in RESULTS or m.group() in (REPO / b).read_text() for b in named):
            continue
        unsourced.append(m.group())
    assert not unsourced, f"README section {title!r} quotes numbers with no checked source: {unsourced}"


REPORT = re.compile(r"<!-- report: (?:python -m )?benchmarks[/.]continual_gains(?:\.py)? report (?P<args>[^>]*?) -->\n"
                    r"(?P<body>.*?)<!-- /report -->", re.S)


def test_the_results_tables_are_what_their_command_prints_from_the_committed_grades():
    """RESULTS.md's continual-gains tables are regenerated from the committed grades by the command each block
    names (a single-file store with ``--results``, one key's unit files with ``--key``): a changed statistic or a
    hand-edited cell breaks this."""
    import argparse
    import sys

    sys.path.insert(0, str(REPO))
    from benchmarks.continual_gains import CONTROLS, UNITS, report
    from benchmarks.units import load_units

    parser = argparse.ArgumentParser()
    parser.add_argument("--set")
    parser.add_argument("--arms", nargs="+")
    parser.add_argument("--default-arm", default="default")
    parser.add_argument("--compare", nargs="+", default=list(CONTROLS))
    parser.add_argument("--results")
    parser.add_argument("--key")
    blocks = list(REPORT.finditer(RESULTS))
    assert blocks
    for block in blocks:
        args = parser.parse_args(block["args"].split())
        assert bool(args.results) != bool(args.key), f"name the store: --results FILE or --key KEY ({block['args']})"
        store = (json.loads((REPO / args.results).read_text()) if args.results else load_units(REPO / UNITS / args.key))
        printed = report(store, args.set, args.arms, args.default_arm, args.compare)
        assert block["body"].strip() == printed.strip(), block["args"]
