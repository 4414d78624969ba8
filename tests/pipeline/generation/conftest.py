"""A tiny world pool in a lake, embedded by a small CLIP that retrieves by image type, for generation tests."""

import pyarrow.parquet as pq
import pytest

from pipeline import lake
from pipeline.models import clip
from pipeline.models.params import ClipConfig
from pipeline.pool.embed import embed_pool
from pipeline.pool.ingest import ingest
from pipeline.pool.params import DEFAULT_TYPE_PROMPTS, EmbedConfig, SearchConfig
from pipeline.world.build import WorldFiles, build_world
from pipeline.world.params import WorldConfig
from tests import servers


@pytest.fixture(scope="session")
def world_pool(tiny_world, tmp_path_factory):
    """(world folder, CLIP folder, pool manifest, vectors manifest) over the tiny world's 140-image pool."""
    out, _, _ = tiny_world
    tmp = tmp_path_factory.mktemp("gen")
    captions = WorldFiles.under(tmp / "captions")  # enough (image, caption) pairs for a CLIP that retrieves
    build_world(WorldConfig(pool_size=10, probe_per_cell=1, eval_per_cell=1, dev_per_cell=1, sft_size=10,
                            clip_size=700), 0, captions)
    corpus = pq.read_table(captions.clip).to_pydict()
    clip.train_clip(corpus["image"], corpus["caption"],
                    ClipConfig(embed_dim=32, width=64, layers=1, steps=120, batch_size=32, lr=2e-3),
                    seed=0, out=tmp / "clip")
    pool_manifest, _ = ingest([str(out / "pool.parquet")], str(tmp / "lake"), 10**7)
    vectors, _ = embed_pool(pool_manifest, str(tmp / "clip"), dict(DEFAULT_TYPE_PROMPTS), EmbedConfig(),
                            SearchConfig())
    assert not lake.has_vector_index(lake.open_pinned(vectors))  # exact search at this size
    return out, tmp / "clip", pool_manifest, vectors


@pytest.fixture(scope="session")
def llama_cpp():
    """A real OpenAI-compatible server for the text roles: llama.cpp serving SmolLM2-135M on 127.0.0.1."""
    with servers.llama_cpp() as url:
        yield url
