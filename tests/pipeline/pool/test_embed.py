"""The batched CLIP preprocessing reproduces open_clip's own transform, and steps aside when it cannot."""

import numpy as np
import open_clip
import pytest
import torch
from torchvision import transforms as T

from pipeline.pool.embed import ImageEncoder, batched_preprocess, decode_pixels, matmul_resize, probe_image
from pipeline.storage.images import decode_rgb


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


@pytest.mark.parametrize("size", [64, [64], 80, 224, [48, 70]])
@pytest.mark.parametrize("mode", [T.InterpolationMode.BICUBIC, T.InterpolationMode.BILINEAR])
def test_resize_as_two_matmuls_equals_torchvisions_resize(size, mode):
    step = T.Resize(size, interpolation=mode, antialias=True)
    for shape in ((2, 3, 112, 112), (2, 3, 83, 121), (1, 3, 150, 97)):
        batch = torch.rand(shape, generator=torch.Generator().manual_seed(0))
        want = step(batch)
        got = matmul_resize(step, batch)
        assert got.shape == want.shape and (got - want).abs().max() < 1e-5


def test_a_resize_the_matmuls_do_not_cover_goes_through_the_step_itself():
    nearest = T.Resize(64, interpolation=T.InterpolationMode.NEAREST)
    batch = torch.rand(1, 3, 112, 90)
    assert torch.equal(matmul_resize(nearest, batch), nearest(batch))


def encoded(img, fmt: str, **kwargs) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def test_fast_decoding_gives_the_pixels_pil_gives():
    from PIL import Image

    img = probe_image()
    rotated = Image.Exif()
    rotated[0x0112] = 6  # EXIF orientation: rotate 90 degrees on display
    cases = {"png": encoded(img, "PNG"), "jpeg": encoded(img, "JPEG", quality=90),
             "jpeg, EXIF-rotated": encoded(img, "JPEG", quality=90, exif=rotated), "webp": encoded(img, "WEBP"),
             "grey png": encoded(img.convert("L"), "PNG"), "bmp (PIL only)": encoded(img, "BMP")}
    for name, data in cases.items():
        want = torch.from_numpy(np.asarray(decode_rgb(data)).copy()).permute(2, 0, 1)
        got = decode_pixels(data)
        assert got.dtype == torch.uint8 and got.shape == want.shape, name
        # lossless formats exactly; lossy ones within the decoders' rounding
        limit = 0 if "png" in name or "bmp" in name else 3
        assert (got.int() - want.int()).abs().max() <= limit, name


def test_a_batch_of_mixed_sizes_is_preprocessed_per_size_in_order():
    encoder = ImageEncoder(open_clip.create_model("ViT-B-32", pretrained=None), open_clip.image_transform(64, False))
    assert encoder.batched is not None
    sizes = [(112, 112), (150, 97), (112, 112), (83, 121)]
    images = [encoded(probe_image().resize(size), "PNG") for size in sizes]
    batch = encoder.pixels(images)
    alone = torch.cat([encoder.pixels([data]) for data in images])
    assert batch.shape == (4, 3, 64, 64) and torch.allclose(batch, alone, atol=1e-6)
    assert not torch.allclose(batch[0], batch[1])  # each image kept its place
