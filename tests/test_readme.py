"""The README reads in order (what it is, what you will see, how it works, bringing your own, extending,
reference), its stage table is dvc.yaml's, and every number it quotes comes from a committed file: the metrics
the demo writes, benchmarks/RESULTS.md, params.yaml or the code's constants."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline import deps
from tests.test_layout import STAGE_HOME

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
        assert code.strip("`") == STAGE_HOME[name.removesuffix("@*")], name
        listed = [] if params == "—" else [p.strip().strip("`") for p in params.split(",")]
        assert listed == list(stages[name].params), name


def test_what_you_will_see_quotes_the_committed_metrics():
    text = " ".join(section("What you will see").split())
    values = metrics()
    overall = {r: values[f"{r}/evaluate.json:accuracy.overall"] for r in ("r0", "r1", "r2")}
    assert f"r0 reads {overall['r0']:.3f}" in text
    assert f"and reads {overall['r1']:.3f}" in text
    assert values["r1/train.json:gate.accepted"] == 1
    assert f"+{values['r1/train.json:gate.gain']:.3f} on the gate's dev items" in text
    assert values["r2/train.json:gate.accepted"] == 0 and "r2 is refused by the gate" in text
    assert overall["r2"] == overall["r1"]  # carried over: the same model
    assert f"evaluation set ({values['r0/evaluate.json:items']:,.0f} items" in text


@pytest.mark.parametrize("title", ORDER)
def test_every_number_the_readme_quotes_has_a_source(title):
    sources = "".join((REPO / name).read_text() for name in ("benchmarks/RESULTS.md", "params.yaml", "pyproject.toml"))
    sources += "".join(p.read_text() for p in sorted((REPO / "pipeline").rglob("*.py")))
    values = metrics().values()
    unsourced = []
    for number in re.findall(r"(?<![\w.])\d+\.\d+(?![\w.])", prose(section(title))):
        decimals = len(number.split(".")[1])
        if number in sources or any(round(abs(v), decimals) == float(number) for v in values):
            continue
        unsourced.append(number)
    assert not unsourced, f"README section {title!r} quotes numbers no committed file holds: {unsourced}"
