import pyarrow.parquet as pq
import pytest

from pipeline.bootstrap.clip import caption_mix, clip_quality
from pipeline.models.clip import train_clip
from pipeline.models.params import ClipConfig
from pipeline.pool.params import DEFAULT_TYPE_PROMPTS
from pipeline.world.params import WorldConfig
from pipeline.world.world import WorldFiles, build_world


@pytest.mark.slow
def test_small_clip_learns_image_types(tmp_path):
    """A safe floor: a small CLIP trained for a few seconds already tells image types apart."""
    world = tmp_path / "world"
    cfg = WorldConfig(pool_size=10, probe_per_cell=1, eval_per_cell=6, dev_per_cell=1, sft_size=10, clip_size=700)
    build_world(cfg, 0, WorldFiles.under(world))
    corpus = pq.read_table(world / "clip.parquet").to_pydict()
    captions = caption_mix(corpus["caption"], corpus["image_type"], 0.3, seed=0)
    assert captions != corpus["caption"] and len(captions) == len(corpus["caption"])
    cfg = ClipConfig(embed_dim=32, width=64, layers=1, steps=120, batch_size=32, lr=2e-3)
    train_clip(corpus["image"], captions, cfg, seed=0, out=tmp_path / "clip")
    quality = clip_quality(str(tmp_path / "clip"), pq.read_table(world / "eval.parquet").to_pylist(),
                           DEFAULT_TYPE_PROMPTS)
    assert quality["zeroshot_type_accuracy"] >= 0.6  # chance is 1/6 (six image types)
    assert quality["recall_at_10"] >= 0.6
