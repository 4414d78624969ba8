"""Every artifact is read back through its schema: a wrong file fails naming the file and the field."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.storage import artifacts, lake, schemas


def test_json_artifacts_name_the_file_and_the_field(tmp_path):
    path = tmp_path / "mixture.json"
    artifacts.write_json(path, schemas.Mixture(strategy="uniform", budget=2, quotas={"a/t": 2}, shares={"a/t": 1.0}))
    assert artifacts.read_json(path, schemas.Mixture).quotas == {"a/t": 2}
    path.write_text(json.dumps({"strategy": "uniform", "budget": "two", "quotas": {}, "shares": {}}))
    with pytest.raises(schemas.SchemaError, match=r"mixture.json: field 'budget'"):
        artifacts.read_json(path, schemas.Mixture)
    with pytest.raises(schemas.SchemaError, match="not found"):
        artifacts.read_json(tmp_path / "nope.json", schemas.Diagnosis)


def test_write_json_is_byte_stable(tmp_path):
    manifest = schemas.Manifest(lake="l", table="pool", version=3, tag="ingest-v3", rows=10)
    artifacts.write_json(tmp_path / "a.json", manifest)
    artifacts.write_json(tmp_path / "b.json", artifacts.read_manifest(tmp_path / "a.json"))
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_tables_name_the_missing_or_mistyped_column(tmp_path):
    rows = [{"sample_id": "s", "k": 0, "model": "m", "completion": "3", "correct": True}]
    artifacts.write_parquet(tmp_path / "ok.parquet", rows, schemas.ROLLOUTS)
    assert artifacts.read_table(tmp_path / "ok.parquet", schemas.ROLLOUTS).num_rows == 1
    pq.write_table(pa.table({"sample_id": ["s"], "k": [0]}), tmp_path / "short.parquet")
    with pytest.raises(schemas.SchemaError, match=r"short.parquet: no column 'model'"):
        artifacts.read_table(tmp_path / "short.parquet", schemas.ROLLOUTS)
    pq.write_table(pa.table({**{k: [v] for k, v in rows[0].items()}, "correct": ["maybe"]}), tmp_path / "bad.parquet")
    with pytest.raises(schemas.SchemaError, match=r"column 'correct' is string"):
        artifacts.read_table(tmp_path / "bad.parquet", schemas.ROLLOUTS)


def test_lance_round_artifacts_by_path(tmp_path):
    table = pa.Table.from_pylist([], schemas.ATTEMPTS)
    lake.write_path(tmp_path / "r1" / "attempts.lance", table)
    lake.write_path(tmp_path / "r1" / "attempts.lance", table)  # a rerun replaces, never appends
    assert artifacts.read_table(tmp_path / "r1" / "attempts.lance", schemas.ATTEMPTS).num_rows == 0
    with pytest.raises(ValueError, match=".lance"):
        lake.write_path(tmp_path / "r1" / "attempts", table)
