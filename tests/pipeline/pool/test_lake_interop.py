"""Every lake table opens with stock lancedb, polars and duckdb: the lake is plain Lance, no lock-in."""

import io

import duckdb
import lance
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from pipeline.pool.ingest import ingest
from pipeline.storage import lake, schemas


def test_tables_open_with_lancedb_polars_and_duckdb(tmp_path):
    images = []
    for i in range(5):
        buf = io.BytesIO()
        Image.new("RGB", (8, 8), (i, 0, 0)).save(buf, format="PNG")
        images.append(buf.getvalue())
    pq.write_table(pa.table({"image": images + [b"junk"]}), tmp_path / "src.parquet")
    lake_uri = str(tmp_path / "lake")
    manifest, _ = ingest([str(tmp_path / "src.parquet")], lake_uri, 10**6)
    vectors = lake.open_or_create(lake_uri, lake.vectors_table(4), schemas.vectors(4))
    vectors.add(pa.table({"image_id": ["a", "b"], "model": ["m", "m"], "image_type": ["x", "y"], "width": [8, 8],
                          "height": [8, 8], "vector": pa.FixedSizeListArray.from_arrays(
                              pa.array(np.eye(2, 4, dtype=np.float32).ravel()), 4)}))
    expected = {lake.POOL: 5, lake.QUARANTINE: 1, lake.vectors_table(4): 2}
    for name, rows in expected.items():
        path = f"{lake_uri}/{name}.lance"
        assert lake.connect(lake_uri).open_table(name).count_rows() == rows
        ds = lance.dataset(path)
        assert pl.scan_pyarrow_dataset(ds).select(pl.len()).collect().item() == rows
        assert duckdb.sql("SELECT count(*) FROM ds").fetchall()[0][0] == rows
    pinned = lance.dataset(f"{lake_uri}/pool.lance", version=manifest.version)  # noqa: F841 (read by duckdb's SQL)
    assert duckdb.sql("SELECT count(DISTINCT image_id) FROM pinned").fetchall()[0][0] == 5
    reasons = pl.scan_pyarrow_dataset(lance.dataset(f"{lake_uri}/quarantine.lance")).select("reason").collect()
    assert reasons["reason"].to_list() == ["not_an_image"]
