"""A tiny world pool in a lake, embedded by the fixed tiny CLIP (tests/tiny_clip.py) that retrieves by image type,
for generation tests: nothing is trained, so generate(), its journal and budgets run in the fast set."""

import pytest

from pipeline.pool.embed import embed_pool
from pipeline.pool.ingest import ingest
from pipeline.pool.params import DEFAULT_TYPE_PROMPTS, EmbedConfig, SearchConfig
from pipeline.storage import lake
from tests import servers, tiny_clip


@pytest.fixture(scope="session")
def world_pool(tiny_world, tmp_path_factory):
    """(world folder, CLIP folder, pool manifest, vectors manifest) over the tiny world's 140-image pool."""
    out, _, _ = tiny_world
    tmp = tmp_path_factory.mktemp("gen")
    tiny_clip.materialise(tmp / "clip")
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
