"""`pool.lake: s3://...`: the lake at a URI every clone reaches, here a real S3-compatible server (moto's server
mode on 127.0.0.1). Ingest, embed and pinned reads go through it; a second reader sees the pinned version."""

import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.pool.embed import embed_pool
from pipeline.pool.ingest import ingest
from pipeline.pool.params import DEFAULT_TYPE_PROMPTS, EmbedConfig, SearchConfig
from pipeline.pool.restore import has_pin
from pipeline.pool.search import PoolSearch
from pipeline.storage import lake
from pipeline.storage.images import decode_rgb
from tests.pipeline.pool.test_search import clip_and_halves
from tests.pipeline.pool.test_writers import INGEST, REPO, png
from tests.servers import free_port

pytestmark = pytest.mark.slow  # a server, a tiny CLIP


@pytest.fixture
def s3(monkeypatch):
    """An empty bucket `lake` on a moto server; credentials and endpoint in the environment, as a user sets them."""
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT": endpoint,
                       "AWS_ALLOW_HTTP": "true"}.items():
        monkeypatch.setenv(key, value)
    try:
        import boto3

        for _ in range(100):
            try:
                boto3.client("s3").create_bucket(Bucket="lake")
                break
            except Exception:  # not listening yet
                time.sleep(0.1)
        yield "s3://lake/dpe"
    finally:
        server.terminate()
        server.wait(10)


def test_ingest_embed_and_search_through_an_s3_lake(tiny_world, tmp_path, s3):
    clip_and_halves(tiny_world[0], tmp_path, ("first", "second"))
    pool, counts = ingest([str(tmp_path / "first.parquet")], s3, 10**7, listed_out=tmp_path / "listed.parquet")
    assert pool.lake == s3 and counts["added"] == pool.rows > 0
    vectors, _ = embed_pool(pool, str(tmp_path / "clip"), dict(DEFAULT_TYPE_PROMPTS), EmbedConfig(), SearchConfig())
    grown, _ = ingest([str(tmp_path / "first.parquet"), str(tmp_path / "second.parquet")], s3, 10**7)
    assert grown.rows > pool.rows and has_pin(pool) and has_pin(vectors)  # nothing to rebuild: clones share it
    assert lake.open_pinned(pool).count_rows() == pool.rows  # a reader of the old pin sees the old version
    row = lake.open_pinned(pool).search().select(["image_id", "image"]).limit(1).to_arrow().to_pylist()[0]
    hits = PoolSearch(vectors, str(tmp_path / "clip")).by_image(decode_rgb(row["image"]), k=3)
    assert row["image_id"] in {h.image_id for h in hits}


def test_two_ingests_at_once_into_an_s3_lake_duplicate_nothing(tmp_path, s3):
    """No lock file on an object store: the pool table's declared key (lake.keyed) makes Lance retry a merge
    that raced another inserting the same new images."""
    for name, span in (("a", range(0, 600)), ("b", range(300, 900))):  # 300 images in both
        pq.write_table(pa.table({"image": [png(i) for i in span]}), tmp_path / f"{name}.parquet", row_group_size=100)
    writers = [subprocess.Popen([sys.executable, "-c", INGEST.replace("batch_size=250", "batch_size=100"),
                                 str(tmp_path / f"{n}.parquet"), s3, str(tmp_path / f"{n}_listed.parquet"),
                                 str(tmp_path / f"{n}.json")], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for n in ("a", "b")]
    for w in writers:
        assert w.wait(300) == 0, w.stderr.read()[-2000:]
    table = lake.connect(s3).open_table(lake.POOL)
    assert lake.declares_key(table, "image_id")
    ids = table.to_arrow().column("image_id").to_pylist()
    assert len(ids) == len(set(ids)) == 900
