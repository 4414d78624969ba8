"""The batched CLIP preprocessing reproduces open_clip's own transform, and steps aside when it cannot."""

import numpy as np
import open_clip
import torch
from torchvision import transforms as T

from pipeline.pool.embed import batched_preprocess, probe_image


def test_batched_path_matches_open_clips_transform_for_the_stock_pipeline():
    """Fails loudly when open_clip changes its transform: the batched path would silently be off."""
    for size in (64, 224):
        preprocess = open_clip.image_transform(size, is_train=False)
        run = batched_preprocess(preprocess)
        assert run is not None, f"open_clip {open_clip.__version__} transform not reproduced: {preprocess}"
        img = probe_image().resize((150, 97))
        got = run(torch.from_numpy(np.array(img)).permute(2, 0, 1)[None])[0]
        assert (got - preprocess(img)).abs().mean() < 0.02


def test_a_transform_that_does_more_goes_image_by_image():
    stock = open_clip.image_transform(64, is_train=False)
    flipped = T.Compose([T.RandomHorizontalFlip(p=1.0), *stock.transforms])
    assert batched_preprocess(flipped) is None
    assert batched_preprocess(lambda img: img) is None  # not a Compose at all
