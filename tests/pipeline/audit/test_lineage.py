"""A sample's chain from pool image to checkpoint, read from a round's artifacts; `dpe samples` prints it."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from pipeline.audit.lineage import lineage
from pipeline.cli import main as cli
from pipeline.storage import artifacts, schemas
from pipeline.storage.lake import write_path


def sample(sid: str, cell: str, edits: list[dict]) -> dict:
    return {"sample_id": sid, "round": "r1", "cell": cell, "category": cell.split("/")[0], "question": f"q {sid}",
            "answer": "3", "source_image_id": f"img-{sid}", "pool_version": 7, "edits": json.dumps(edits),
            "backend": "world", "role_models": json.dumps({"planner": "m-plan", "writer": "m-write"})}


@pytest.fixture
def round_dir(tmp_path):
    folder = tmp_path / "rounds" / "r1"
    folder.mkdir(parents=True)
    rows = [sample("a", "text/document", [{"op": "crop"}, {"op": "blur"}]), sample("b", "text/document", []),
            sample("c", "size/shapes", [{"op": "noise"}])]
    write_path(folder / "samples.lance", pa.Table.from_pylist(rows, schemas.SAMPLES))
    rollouts = [{"sample_id": s, "k": k, "model": "r0", "completion": "3", "correct": ok}
                for s, oks in (("a", [True, False, False, False]), ("b", [True] * 4)) for k, ok in enumerate(oks)]
    artifacts.write_parquet(folder / "rollouts.parquet", rollouts, schemas.ROLLOUTS)
    artifacts.write_parquet(folder / "trainset.parquet", [rows[0] | {"pass_rate": 0.25, "in_band": True,
                                                                   "filled": False, "label": "reference"}],
                          schemas.TRAINSET)
    return folder


def test_lineage_joins_pass_rates_and_what_was_trained_on(round_dir):
    frame = lineage(artifacts.read_table(round_dir / "samples.lance", schemas.SAMPLES),
                    artifacts.read_table(round_dir / "rollouts.parquet", schemas.ROLLOUTS),
                    artifacts.read_table(round_dir / "trainset.parquet", schemas.TRAINSET), "r1")
    rows = {r["sample_id"]: r for r in frame.iter_rows(named=True)}
    assert rows["a"]["pass_rate"] == 0.25 and rows["a"]["kept"] and rows["a"]["trained_in"] == "r1/model"
    assert rows["a"]["edit_ops"] == "crop, blur" and rows["a"]["pool_version"] == 7
    assert rows["b"]["pass_rate"] == 1.0 and not rows["b"]["kept"] and rows["b"]["trained_in"] is None
    assert rows["c"]["pass_rate"] is None  # no rollouts: never graded


def test_dpe_samples_filters_by_cell_or_category_and_kept(round_dir, capsys):
    base = ["samples", "--round", "r1", "--rounds-dir", str(round_dir.parent), "--width", "250"]
    assert cli.main(base + ["--cell", "text"]) == 0
    out = capsys.readouterr().out
    assert "2 sample(s) of text" in out and "crop, blur" in out and "m-plan, m-write" in out and "r1/model" in out
    assert cli.main(base + ["--kept", "--json"]) == 0
    assert [r["sample_id"] for r in json.loads(capsys.readouterr().out)] == ["a"]
    assert cli.main(base + ["--cell", "counting/charts"]) == 1
    assert cli.main(["samples", "--round", "r5", "--rounds-dir", str(round_dir.parent)]) == 2
    assert "r5" in capsys.readouterr().err
