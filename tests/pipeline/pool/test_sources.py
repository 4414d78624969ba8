"""Pool sources of every kind, mapped columns, object storage, and one row per image across sources."""

import io

import fsspec
import lance
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.config.params import parse_params
from pipeline.pool.ingest import ingest
from pipeline.pool.params import SourceConfig
from pipeline.pool.sources import SourceError, detect_kind, read_source
from pipeline.storage import lake


def png(colour, size=(8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def pool_rows(manifest) -> dict[str, list[str]]:
    return {r["image_id"]: sorted(r["sources"]) for r in lake.open_pinned(manifest).to_arrow().to_pylist()}


def test_bare_uris_and_mappings_in_params():
    params = parse_params({"pool": {"sources": ["a.parquet", {"uri": "imgs", "kind": "folder", "glob": "*.jpg"}]}})
    assert params.pool.sources[0] == SourceConfig(uri="a.parquet")
    assert params.pool.sources[1].kind == "folder" and params.pool.sources[1].glob == "*.jpg"


def test_kind_detection(tmp_path):
    pq.write_table(pa.table({"image": [png((1, 1, 1))]}), tmp_path / "t.parquet")
    (tmp_path / "imgs").mkdir()
    lance.write_dataset(pa.table({"image": [png((1, 1, 1))]}), str(tmp_path / "ds"))
    assert detect_kind(SourceConfig(uri=str(tmp_path / "t.parquet"))) == "parquet"
    assert detect_kind(SourceConfig(uri=str(tmp_path / "imgs"))) == "folder"
    assert detect_kind(SourceConfig(uri=str(tmp_path / "ds"))) == "lance"
    (tmp_path / "data.bin").write_bytes(b"x")
    with pytest.raises(SourceError, match="set its kind"):
        detect_kind(SourceConfig(uri=str(tmp_path / "data.bin")))
    with pytest.raises(SourceError, match="does not exist"):
        detect_kind(SourceConfig(uri=str(tmp_path / "missing.parquet")))


def test_every_table_kind_with_mapped_columns(tmp_path):
    images = [png((i, 2, 3)) for i in range(4)]
    table = pa.table({"jpeg_bytes": pa.array(images, pa.binary()), "name": [f"n{i}" for i in range(4)]})
    pq.write_table(table.slice(0, 2), tmp_path / "a.parquet")
    with pa.OSFile(str(tmp_path / "b.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table.slice(2, 1))
    lance.write_dataset(table.slice(3, 1), str(tmp_path / "c.lance"))
    sources = [SourceConfig(uri=str(tmp_path / n), image_column="jpeg_bytes", uri_column="name")
               for n in ("a.parquet", "b.arrow", "c.lance")]
    manifest, counts = ingest(sources, str(tmp_path / "lake"), 10**6)
    assert counts["added"] == 4
    assert sorted(s for v in pool_rows(manifest).values() for s in v) == ["n0", "n1", "n2", "n3"]


def test_missing_image_column_names_it(tmp_path):
    pq.write_table(pa.table({"pixels": [b"x"]}), tmp_path / "a.parquet")
    with pytest.raises(SourceError, match="'image'.*'path'.*pixels"):
        ingest([str(tmp_path / "a.parquet")], str(tmp_path / "lake"), 100)
    assert not (tmp_path / "lake" / "pool.lance").exists()  # failed before any work


def test_path_column_resolves_relative_paths_and_quarantines_missing_ones(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.png").write_bytes(png((5, 5, 5)))
    (tmp_path / "imgs" / "dir.png").mkdir()
    pq.write_table(pa.table({"path": ["imgs/a.png", "imgs/missing.png", "imgs/dir.png", str(tmp_path / "imgs/a.png")]}),
                   tmp_path / "list.parquet")
    manifest, counts = ingest([str(tmp_path / "list.parquet")], str(tmp_path / "lake"), 10**6)
    assert counts["added"] == 1 and counts["quarantined.unreadable"] == 2
    quarantine = lake.connect(str(tmp_path / "lake")).open_table(lake.QUARANTINE).to_arrow().to_pylist()
    assert {q["source"].rsplit("/", 1)[1] for q in quarantine} == {"missing.png", "dir.png"}
    assert all(q["detail"] for q in quarantine)


def test_folder_glob_and_extensions(tmp_path):
    root = tmp_path / "imgs"
    (root / "sub").mkdir(parents=True)
    (root / "a.png").write_bytes(png((1, 2, 3)))
    (root / "sub" / "b.JPG").write_bytes(png((3, 2, 1)))  # PNG bytes behind a .JPG name: still an image
    (root / "sub" / "c.jpg").write_bytes(b"text, not a jpeg")
    (root / "notes.txt").write_text("ignored")
    records = [r for batch in read_source(SourceConfig(uri=str(root))) for r in batch]
    assert sorted(r.source.rsplit("/", 1)[1] for r in records) == ["a.png", "b.JPG", "c.jpg"]
    only_png = [r for b in read_source(SourceConfig(uri=str(root), glob="**/*.png")) for r in b]
    assert [r.source.rsplit("/", 1)[1] for r in only_png] == ["a.png"]
    manifest, counts = ingest([str(root)], str(tmp_path / "lake"), 10**6)
    assert manifest.rows == 2 and counts["quarantined.not_an_image"] == 1


def test_object_storage_through_fsspec(tmp_path):
    fs = fsspec.filesystem("memory")
    fs.pipe("/bucket/imgs/x.png", png((9, 9, 9)))
    fs.pipe("/bucket/imgs/deep/y.png", png((8, 8, 8)))
    buf = io.BytesIO()
    pq.write_table(pa.table({"image": [png((7, 7, 7))]}), buf)
    fs.pipe("/bucket/t.parquet", buf.getvalue())
    manifest, counts = ingest(["memory://bucket/imgs", "memory://bucket/t.parquet"], str(tmp_path / "lake"), 10**6)
    assert counts["added"] == 3
    sources = [s for v in pool_rows(manifest).values() for s in v]
    assert any(s.startswith("memory://") and "bucket/imgs/deep/y.png" in s for s in sources)


def test_same_image_from_two_sources_is_one_row_with_both(tmp_path):
    img = png((1, 1, 1))
    pq.write_table(pa.table({"image": [img], "uri": ["from-a"]}), tmp_path / "a.parquet")
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "same.png").write_bytes(img)
    lake_uri = str(tmp_path / "lake")
    first, _ = ingest([str(tmp_path / "a.parquet")], lake_uri, 10**6)
    second, counts = ingest([str(tmp_path / "a.parquet"), str(tmp_path / "imgs")], lake_uri, 10**6)
    rows = pool_rows(second)
    assert len(rows) == 1 and counts["added"] == 0 and counts["sources_added"] == 1
    assert rows[next(iter(rows))] == sorted(["from-a", str(tmp_path / "imgs" / "same.png")])
    assert pool_rows(first)[next(iter(rows))] == ["from-a"]  # the pinned version still says what it said


def test_a_source_never_reads_outside_its_folder(tmp_path):
    """Symbolic links out of a folder source, and path-column entries that climb out of the table's folder, are
    refused and quarantined with the reason; a glob that climbs out is a params error before any work."""
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.png").write_bytes(png((6, 6, 6)))
    root = tmp_path / "pool"
    root.mkdir()
    (root / "ok.png").write_bytes(png((1, 1, 1)))
    (root / "link.png").symlink_to(outside / "secret.png")
    (root / "linked_dir").symlink_to(outside, target_is_directory=True)
    pq.write_table(pa.table({"path": ["ok.png", "../private/secret.png", str(outside / "secret.png")]}),
                   root / "list.parquet")
    manifest, counts = ingest([str(root), str(root / "list.parquet")], str(tmp_path / "lake"), 10**6)
    assert manifest.rows == 1 and counts["quarantined.unreadable"] == 3  # ok.png, from both sources, is one row
    assert {s.rsplit("/", 1)[1] for v in pool_rows(manifest).values() for s in v} == {"ok.png"}
    quarantine = lake.connect(str(tmp_path / "lake")).open_table(lake.QUARANTINE).to_arrow().to_pylist()
    refused = {q["source"] for q in quarantine if q["detail"].startswith("refused")}
    assert any(s.endswith("link.png") for s in refused)  # (fs.find does not descend into linked_dir at all)
    assert sum("private/secret.png" in s for s in refused) == 2  # the table's two paths out of its folder
    with pytest.raises(ValueError, match="reaches outside the folder"):
        SourceConfig(uri=str(root), glob="../private/*.png")
