"""The Ray Data path (local mode) writes the same pool and vectors as the default path."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.models import clip
from pipeline.models.params import ClipConfig
from pipeline.pool.embed import embed_pool
from pipeline.pool.ingest import ingest
from pipeline.pool.params import (
    DEFAULT_TYPE_PROMPTS,
    EmbedConfig,
    SearchConfig,
    SourceConfig,
)
from pipeline.storage import lake

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # starts Ray


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def sources(tmp_path, pool: pa.Table) -> list[SourceConfig]:
    """The world pool split over a folder and two parquet row groups, with bad files and a duplicate."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    images = pool["image"].to_pylist()
    for i, data in enumerate(images[:20]):
        (folder / f"{i:03d}.png").write_bytes(data)
    (folder / "bad.jpg").write_bytes(b"not a jpeg")
    (folder / "empty.png").write_bytes(b"")
    cmyk = io.BytesIO()
    Image.new("CMYK", (30, 20), (0, 200, 0, 0)).save(cmyk, format="JPEG")
    rest = pa.table({"image": images[15:] + [cmyk.getvalue()]})  # rows 15-19 repeat folder images
    pq.write_table(rest, tmp_path / "rest.parquet", row_group_size=max(1, rest.num_rows // 2))
    return [SourceConfig(uri=str(folder)), SourceConfig(uri=str(tmp_path / "rest.parquet"))]


def table_rows(manifest, columns):
    return sorted(lake.open_pinned(manifest).to_arrow().select(columns).to_pylist(), key=lambda r: r["image_id"])


def test_ray_ingest_and_embed_match_the_default_path(tiny_world, tmp_path, local_ray):
    from pipeline.pool.scale import ray_embed, ray_ingest

    out, _, _ = tiny_world
    srcs = sources(tmp_path, pq.read_table(out / "pool.parquet"))
    local, local_counts = ingest(srcs, str(tmp_path / "local"), 10**7)
    remote, remote_counts = ray_ingest(srcs, str(tmp_path / "ray"), 10**7)
    assert remote_counts == local_counts and remote_counts["quarantined.total"] == 2
    assert remote_counts["normalised.mode_CMYK"] == 1
    columns = ["image_id", "sources", "image", "width", "height", "format"]
    assert table_rows(remote, columns) == table_rows(local, columns)

    corpus = pq.read_table(out / "clip.parquet").to_pydict()
    clip.train_clip(corpus["image"], corpus["caption"], ClipConfig(embed_dim=16, width=32, layers=1, steps=3,
                                                                   batch_size=16), seed=0, out=tmp_path / "clip")
    prompts = dict(DEFAULT_TYPE_PROMPTS)
    cfg = EmbedConfig(batch_size=8, precision="fp32", workers=2)
    local_vecs, _ = embed_pool(local, str(tmp_path / "clip"), prompts, cfg, SearchConfig())
    remote_vecs, counts = ray_embed(remote, str(tmp_path / "clip"), prompts, cfg, SearchConfig())
    assert counts["added"] == remote.rows
    a = table_rows(local_vecs, ["image_id", "image_type", "vector"])
    b = table_rows(remote_vecs, ["image_id", "image_type", "vector"])
    assert [r["image_id"] for r in a] == [r["image_id"] for r in b]
    assert [r["image_type"] for r in a] == [r["image_type"] for r in b]
    assert np.allclose([r["vector"] for r in a], [r["vector"] for r in b], atol=1e-5)
    _, again = ray_embed(remote, str(tmp_path / "clip"), prompts, cfg, SearchConfig())
    assert again["added"] == 0
