"""A clone with the manifests but not the lake: the pinned pool and vectors are rebuilt from the sources, read
only when they hold exactly the pinned images, and opened by the pins' tags."""

import shutil
from pathlib import Path

import pytest
import yaml

from pipeline.config.params import parse_params
from pipeline.pool.embed import embed_pool
from pipeline.pool.ingest import ingest, listed_ids
from pipeline.pool.params import DEFAULT_TYPE_PROMPTS, EmbedConfig, SearchConfig
from pipeline.pool.restore import LakeMismatch, ensure_pinned
from pipeline.pool.search import PoolSearch
from pipeline.storage import lake
from pipeline.storage.images import decode_rgb
from tests.pipeline.pool.test_search import clip_and_halves

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.slow  # trains a tiny CLIP


def test_a_missing_lake_is_rebuilt_to_the_pinned_images_or_refused(tiny_world, tmp_path):
    clip_and_halves(tiny_world[0], tmp_path, ("kept", "dropped"))
    uri, kept = str(tmp_path / "lake"), str(tmp_path / "kept.parquet")
    # grown over two ingests, so the pinned version number is not the one a rebuild from `kept` alone reaches
    ingest([str(tmp_path / "dropped.parquet")], uri, 10**7, listed_out=tmp_path / "dropped_listed.parquet")
    pool, _ = ingest([kept], uri, 10**7, listed_out=tmp_path / "listed.parquet")
    vectors, _ = embed_pool(pool, str(tmp_path / "clip"), dict(DEFAULT_TYPE_PROMPTS), EmbedConfig(), SearchConfig())
    listed = listed_ids(tmp_path / "listed.parquet")
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    params = parse_params(raw | {"pool": raw["pool"] | {"sources": [kept], "lake": uri}})

    shutil.rmtree(uri)  # a fresh clone: every manifest, no lake
    with pytest.raises(lake.LakeMissing, match=pool.tag):
        lake.open_pinned(pool)
    ensure_pinned(params, pool, listed, vectors, str(tmp_path / "clip"))
    rebuilt = lake.open_pinned(pool)
    assert rebuilt.version != pool.version  # another history, the same pinned images
    assert set(rebuilt.to_arrow()["image_id"].to_pylist()) == listed
    search = PoolSearch(vectors, str(tmp_path / "clip"), allowed=listed)
    image = rebuilt.search().select(["image"]).limit(1).to_arrow()["image"][0].as_py()
    assert {h.image_id for h in search.by_image(decode_rgb(image), k=5)} <= listed

    shutil.rmtree(uri)
    both = listed | listed_ids(tmp_path / "dropped_listed.parquet")  # a pin that held images `kept` lacks
    with pytest.raises(LakeMismatch, match="lacks .* images"):
        ensure_pinned(params, pool, both)
