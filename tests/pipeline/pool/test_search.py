import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.models import clip
from pipeline.models.params import ClipConfig
from pipeline.pool.embed import embed_pool
from pipeline.pool.ingest import ingest, read_listed
from pipeline.pool.params import DEFAULT_TYPE_PROMPTS, EmbedConfig, SearchConfig
from pipeline.pool.search import PoolSearch
from pipeline.storage import lake
from pipeline.storage.images import decode_rgb

pytestmark = pytest.mark.slow  # trains a tiny CLIP


def test_clip_train_embed_and_search(tiny_world, tmp_path):
    out, _, _ = tiny_world
    corpus = pq.read_table(out / "clip.parquet").to_pydict()
    cfg = ClipConfig(embed_dim=16, width=32, layers=1, steps=3, batch_size=16)
    stats = clip.train_clip(corpus["image"], corpus["caption"], cfg, seed=0, out=tmp_path / "clip")
    assert np.isfinite(stats["final_loss"])
    model, preprocess, tokenizer = clip.load(tmp_path / "clip")  # stock open_clip local-dir loading
    assert clip.embed_texts(model, tokenizer, ["a bar chart"]).shape == (1, 16)

    lake_uri = str(tmp_path / "lake")
    pool_manifest, _ = ingest([str(out / "pool.parquet")], lake_uri, 10**7)
    prompts = dict(DEFAULT_TYPE_PROMPTS)
    cfg = EmbedConfig(batch_size=32)
    vec_manifest, counts = embed_pool(pool_manifest, str(tmp_path / "clip"), prompts, cfg, SearchConfig())
    assert counts["added"] == pool_manifest.rows == vec_manifest.rows
    _, again = embed_pool(pool_manifest, str(tmp_path / "clip"), prompts, EmbedConfig(batch_size=32), SearchConfig())
    assert again["added"] == 0  # incremental: nothing new, nothing embedded

    search = PoolSearch(vec_manifest, str(tmp_path / "clip"))
    pool = lake.open_pinned(pool_manifest)
    row = pool.search().select(["image_id", "image"]).limit(1).to_arrow().to_pylist()[0]
    hits = search.by_image(decode_rgb(row["image"]), k=5)
    # the image finds itself among the best (a 3-step CLIP puts near-identical charts at the same point)
    assert row["image_id"] in {h.image_id for h in hits if h.score >= hits[0].score - 1e-4} and hits[0].score > 0.99
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    without = search.by_image(decode_rgb(row["image"]), k=5, exclude={row["image_id"]})
    assert row["image_id"] not in {h.image_id for h in without} and len(without) == 5
    tag = lake.open_pinned(vec_manifest).to_arrow()["image_type"][0].as_py()
    typed = search.by_text("an image of a bar chart", k=5, image_type=tag)
    assert typed and all(h.image_type == tag for h in typed)


def clip_and_halves(out, tmp_path, names: tuple[str, str]) -> int:
    """A 3-step CLIP in tmp_path/clip, and the world pool split in two parquet sources; returns the first's size."""
    corpus = pq.read_table(out / "clip.parquet").to_pydict()
    clip.train_clip(corpus["image"], corpus["caption"], ClipConfig(embed_dim=16, width=32, layers=1, steps=3,
                                                                   batch_size=16), seed=0, out=tmp_path / "clip")
    pool = pq.read_table(out / "pool.parquet")
    half = pool.num_rows // 2
    pq.write_table(pool.slice(0, half), tmp_path / f"{names[0]}.parquet")
    pq.write_table(pool.slice(half), tmp_path / f"{names[1]}.parquet")
    return half


def test_index_increment_and_pinned_reads(tiny_world, tmp_path):
    """Above the threshold the vectors get an IVF_FLAT index that later increments are folded into, and a
    reader pinned to an earlier version keeps seeing the pool as it was while it grows."""
    half = clip_and_halves(tiny_world[0], tmp_path, ("first", "second"))
    lake_uri, prompts = str(tmp_path / "lake"), dict(DEFAULT_TYPE_PROMPTS)
    search_cfg = SearchConfig(index_threshold=half // 2, partitions=4, nprobes=4)
    first_pool, _ = ingest([str(tmp_path / "first.parquet")], lake_uri, 10**7)
    first_vecs, counts = embed_pool(first_pool, str(tmp_path / "clip"), prompts, EmbedConfig(), search_cfg)
    assert counts["index"] == "ivf_flat"
    old = PoolSearch(first_vecs, str(tmp_path / "clip"), nprobes=4)
    assert old.indexed

    second_pool, _ = ingest([str(tmp_path / "first.parquet"), str(tmp_path / "second.parquet")], lake_uri, 10**7)
    second_vecs, counts = embed_pool(second_pool, str(tmp_path / "clip"), prompts, EmbedConfig(), search_cfg)
    assert counts["added"] == second_pool.rows - first_pool.rows  # only the new rows were embedded
    table = lake.open_pinned(second_vecs)
    indexes = {ix.columns[0]: ix.name for ix in table.list_indices()}
    assert set(indexes) == {"vector", *lake.FILTERED}  # the filters a query applies are indexed too
    # optimize() folded the new rows into every index
    assert all(table.index_stats(name).num_unindexed_rows == 0 for name in indexes.values())

    new_ids = set(lake.open_pinned(second_pool).to_arrow()["image_id"].to_pylist()) - set(
        lake.open_pinned(first_pool).to_arrow()["image_id"].to_pylist())
    new_row = lake.fetch_rows(lake.open_pinned(second_pool), [sorted(new_ids)[0]], ["image_id", "image"]).to_pylist()[0]
    assert old.by_image(decode_rgb(new_row["image"]), k=3)[0].image_id != new_row["image_id"]
    assert new_row["image_id"] not in {h.image_id for h in old.by_image(decode_rgb(new_row["image"]), k=50)}
    now = PoolSearch(second_vecs, str(tmp_path / "clip"), nprobes=4)
    # top 3, not top 1: a 3-step CLIP scores look-alike images within 1e-5 of the image itself
    hits = now.by_image(decode_rgb(new_row["image"]), k=3)
    assert new_row["image_id"] in {h.image_id for h in hits}
    assert lake.open_pinned(first_vecs).count_rows() == first_vecs.rows  # the old version is still readable


def test_a_round_sees_only_the_listed_sources_rows(tiny_world, tmp_path):
    """A source dropped from pool.sources stays in the incremental lake, but the ingest run lists only the
    sources params name, and search never returns the dropped source's images, with k hits all the same."""
    clip_and_halves(tiny_world[0], tmp_path, ("kept", "dropped"))
    lake_uri = str(tmp_path / "lake")
    both, _ = ingest([str(tmp_path / "kept.parquet"), str(tmp_path / "dropped.parquet")], lake_uri, 10**7,
                     listed_out=tmp_path / "both.parquet")
    assert read_listed(tmp_path / "both.parquet", both) is None  # every row listed: nothing to restrict
    manifest, counts = ingest([str(tmp_path / "kept.parquet")], lake_uri, 10**7, listed_out=tmp_path / "listed.parquet")
    allowed = read_listed(tmp_path / "listed.parquet", manifest)
    assert manifest.rows == both.rows and counts["listed"] == len(allowed) < manifest.rows
    dropped = set(lake.open_pinned(manifest).to_arrow()["image_id"].to_pylist()) - allowed
    assert dropped

    vectors, _ = embed_pool(manifest, str(tmp_path / "clip"), dict(DEFAULT_TYPE_PROMPTS), EmbedConfig(),
                            SearchConfig())
    everything = PoolSearch(vectors, str(tmp_path / "clip"))
    listed = PoolSearch(vectors, str(tmp_path / "clip"), allowed=allowed)
    image = decode_rgb(lake.fetch_rows(lake.open_pinned(manifest), [sorted(dropped)[0]], ["image_id", "image"])
                       .to_pylist()[0]["image"])
    assert everything.by_image(image, k=1)[0].image_id in dropped  # the dropped image itself, unrestricted
    hits = listed.by_image(image, k=10)
    assert len(hits) == 10 and all(h.image_id in allowed for h in hits)
