import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.pool.ingest import ingest
from pipeline.storage import artifacts, lake, schemas


def png(colour, size=(8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def write_source(path, images: list[bytes]):
    pq.write_table(pa.table({"uri": [f"u{i}" for i in range(len(images))], "image": pa.array(images, pa.binary())}),
                   path)


def test_ingest_dedups_quarantines_and_is_incremental(tmp_path):
    good = [png((i, 0, 0)) for i in range(5)]
    bad = [b"", b"not an image at all", good[0][:40], png((1, 1, 1), size=(300, 300))]
    write_source(tmp_path / "a.parquet", good + [good[0]] + bad)
    lake_uri = str(tmp_path / "lake")
    manifest, counts = ingest([str(tmp_path / "a.parquet")], lake_uri, max_pixels=10_000)
    assert counts["added"] == 5 and manifest.rows == 5
    assert counts["quarantined.total"] == 4
    assert counts["quarantined.empty"] == 1 and counts["quarantined.too_many_pixels"] == 1
    quarantine = lake.connect(lake_uri).open_table(lake.QUARANTINE).to_arrow().to_pylist()
    assert {q["reason"] for q in quarantine} >= {"empty", "not_an_image", "too_many_pixels"}
    pool = lake.open_pinned(manifest).to_arrow().to_pylist()
    dup = [r for r in pool if len(r["sources"]) == 2]
    assert len(dup) == 1 and sorted(dup[0]["sources"]) == ["u0", "u5"]

    again, counts2 = ingest([str(tmp_path / "a.parquet")], lake_uri, max_pixels=10_000)
    assert counts2["added"] == 0 and again.rows == 5


def test_a_file_over_max_bytes_is_quarantined_before_it_is_decoded(tmp_path):
    big, small = png((1, 2, 3), size=(64, 64)), png((3, 2, 1), size=(8, 8))
    write_source(tmp_path / "a.parquet", [big, small])
    manifest, counts = ingest([str(tmp_path / "a.parquet")], str(tmp_path / "lake"), 10**6,
                              max_bytes=len(small) + 1)
    assert manifest.rows == 1 and counts["quarantined.too_many_bytes"] == 1
    (row,) = lake.connect(str(tmp_path / "lake")).open_table(lake.QUARANTINE).to_arrow().to_pylist()
    assert row["reason"] == "too_many_bytes" and str(len(big)) in row["detail"]


def test_pinned_version_survives_growth(tmp_path):
    lake_uri = str(tmp_path / "lake")
    write_source(tmp_path / "a.parquet", [png((i, 9, 9)) for i in range(3)])
    first, _ = ingest([str(tmp_path / "a.parquet")], lake_uri, max_pixels=10_000)
    write_source(tmp_path / "b.parquet", [png((i, 7, 7)) for i in range(4)])
    second, counts = ingest([str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")], lake_uri, max_pixels=10_000)
    assert counts["added"] == 4 and second.rows == 7
    assert lake.open_pinned(first).count_rows() == 3
    assert lake.open_pinned(artifacts.read_manifest(_roundtrip(first, tmp_path))).count_rows() == 3
    table = lake.connect(lake_uri).open_table(lake.POOL)
    assert first.tag in table.tags.list()


def _roundtrip(manifest, tmp_path):
    path = tmp_path / "m.json"
    artifacts.write_json(path, manifest)
    return path


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="pool.sources"):
        ingest([str(tmp_path / "nope.parquet")], str(tmp_path / "lake"), 100)


def test_folder_source(tmp_path):
    (tmp_path / "imgs" / "sub").mkdir(parents=True)
    (tmp_path / "imgs" / "a.png").write_bytes(png((1, 2, 3)))
    (tmp_path / "imgs" / "sub" / "b.jpg").write_bytes(b"\xff\xd8 broken jpeg")
    (tmp_path / "imgs" / "notes.txt").write_text("ignored")
    manifest, counts = ingest([str(tmp_path / "imgs")], str(tmp_path / "lake"), 10_000)
    assert manifest.rows == 1 and counts["quarantined.total"] == 1


def test_table_from_an_older_schema_is_a_clear_error(tmp_path):
    old = pa.schema([("source", pa.string()), ("reason", pa.string())])
    lake.connect(str(tmp_path)).create_table(lake.QUARANTINE, schema=old)
    with pytest.raises(ValueError, match=r"lacks columns \['image_id', 'detail'\].*rerun"):
        lake.open_or_create(str(tmp_path), lake.QUARANTINE, schemas.QUARANTINE)


def test_fetch_rows_reads_the_pinned_version_in_the_order_asked(tmp_path):
    import lancedb

    table = lancedb.connect(tmp_path).create_table("t", pa.table({"image_id": ["a", "b", "it's"], "v": [1, 2, 3]}))
    version = table.version
    table.add(pa.table({"image_id": ["c"], "v": [4]}))
    pinned = lancedb.connect(tmp_path).open_table("t")
    pinned.checkout(version)
    rows = lake.fetch_rows(pinned, ["c", "it's", "a"], ["image_id", "v"]).to_pylist()
    assert rows == [{"image_id": "it's", "v": 3}, {"image_id": "a", "v": 1}]  # c came later; a quote is just data


def test_ingest_pins_a_pool_indexed_by_image_id_and_folds_new_rows_in(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()

    def write(name: str, colour: str) -> None:
        Image.new("RGB", (8, 8), colour).save(folder / name)

    write("a.png", "red")
    first, _ = ingest([str(folder)], str(tmp_path / "lake"), max_pixels=1 << 20)
    stats = lambda manifest: lake.open_pinned(manifest).index_stats("image_id_idx")  # noqa: E731
    assert stats(first).index_type == "BTREE" and stats(first).num_indexed_rows == 1
    write("b.png", "blue")
    second, _ = ingest([str(folder)], str(tmp_path / "lake"), max_pixels=1 << 20)
    assert second.rows == 2 and stats(second).num_unindexed_rows == 0
    again, _ = ingest([str(folder)], str(tmp_path / "lake"), max_pixels=1 << 20)
    assert again.version == second.version  # nothing new: no new version
