import numpy as np
import pyarrow.parquet as pq

from pipeline import lake
from pipeline.config import ClipConfig
from pipeline.embed import embed_pool
from pipeline.images import decode_rgb
from pipeline.ingest import ingest
from pipeline.models import clip
from pipeline.search import PoolSearch
from pipeline.world.captions import TYPE_PHRASES, type_prompt


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
    prompts = {n: type_prompt(n) for n in TYPE_PHRASES}
    vec_manifest, counts = embed_pool(pool_manifest, str(tmp_path / "clip"), prompts, batch_size=32)
    assert counts["added"] == pool_manifest.rows == vec_manifest.rows
    _, again = embed_pool(pool_manifest, str(tmp_path / "clip"), prompts, batch_size=32)
    assert again["added"] == 0  # incremental: nothing new, nothing embedded

    search = PoolSearch(vec_manifest, str(tmp_path / "clip"))
    pool = lake.open_pinned(pool_manifest)
    row = pool.search().select(["image_id", "image"]).limit(1).to_arrow().to_pylist()[0]
    hits = search.by_image(decode_rgb(row["image"]), k=5)
    assert hits[0].image_id == row["image_id"] and hits[0].score > 0.99
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    without = search.by_image(decode_rgb(row["image"]), k=5, exclude={row["image_id"]})
    assert row["image_id"] not in {h.image_id for h in without} and len(without) == 5
    tag = lake.open_pinned(vec_manifest).to_arrow()["image_type"][0].as_py()
    typed = search.by_text("an image of a bar chart", k=5, image_type=tag)
    assert typed and all(h.image_type == tag for h in typed)
