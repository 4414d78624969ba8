"""Every kind of bad or unusual input: unusable ones get a reason, usable ones come out as plain RGB."""

import io

import numpy as np
import pytest
from PIL import Image

from pipeline.storage.images import decode_rgb, normalise


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def gradient(size=(40, 20)) -> Image.Image:
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    arr[..., 0] = np.linspace(0, 255, size[0], dtype=np.uint8)
    return Image.fromarray(arr, "RGB")


def decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (None, "empty"),
    (b"plain text in a file named photo.jpg", "not_an_image"),
    (encode(gradient(), "JPEG")[:200], "truncated_or_corrupt"),
    (encode(gradient(), "PNG")[:60], "truncated_or_corrupt"),
    (encode(Image.new("1", (3000, 3000)), "PNG"), "too_many_pixels"),
])
def test_unusable_inputs_get_a_reason(data, reason):
    res = normalise(data, max_pixels=1_000_000)
    assert res.reason == reason and not res.data


def test_bomb_far_over_pils_own_limit_is_quarantined_not_raised():
    huge = encode(Image.new("1", (13000, 13000)), "PNG")  # 169 MP: PIL's DecompressionBombError territory
    assert normalise(huge, max_pixels=10**12).reason == "too_many_pixels"


def test_plain_rgb_png_keeps_its_bytes():
    data = encode(gradient(), "PNG")
    res = normalise(data, 10**7)
    assert res.reason is None and res.data == data and res.changes == ()


@pytest.mark.parametrize("make, change", [
    (lambda: encode(gradient().convert("CMYK"), "JPEG"), "mode_CMYK"),
    (lambda: encode(Image.fromarray(np.full((8, 8), 40000, np.uint16)), "PNG"), "mode_I16"),
    (lambda: encode(gradient().convert("L"), "PNG"), "mode_L"),
    (lambda: encode(gradient().convert("RGBA"), "PNG"), "mode_RGBA"),
])
def test_modes_are_converted_to_rgb(make, change):
    res = normalise(make(), 10**7)
    assert res.reason is None and change in res.changes
    assert decoded(res.data).mode == "RGB"


def test_sixteen_bit_grey_is_scaled_not_clipped():
    data = encode(Image.fromarray(np.full((8, 8), 32896, np.uint16)), "PNG")  # half of 65535
    pixel = decoded(normalise(data, 10**7).data).getpixel((0, 0))
    assert 120 <= pixel[0] <= 136


def test_transparency_is_composited_on_white():
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))  # fully transparent red
    res = normalise(encode(rgba, "PNG"), 10**7)
    assert decoded(res.data).getpixel((0, 0)) == (255, 255, 255)
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    pal.info["transparency"] = 0
    res = normalise(encode(pal, "PNG", transparency=0), 10**7)
    assert res.reason is None and decoded(res.data).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animations_keep_the_first_frame(fmt):
    frames = [Image.new("RGB", (16, 16), c) for c in ((250, 0, 0), (0, 0, 250), (0, 250, 0))]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=50, loop=0)
    res = normalise(data, 10**7)
    assert res.reason is None and "first_frame" in res.changes
    r, g, b = decoded(res.data).convert("RGB").getpixel((8, 8))
    assert r > 200 and b < 60


def test_exif_rotation_is_applied():
    img = gradient((40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    res = normalise(encode(img, "JPEG", exif=exif), 10**7)
    assert "exif_transposed" in res.changes and (res.width, res.height) == (20, 40)
    assert decoded(res.data).size == (20, 40) == decode_rgb(res.data).size


def test_large_images_are_downscaled():
    res = normalise(encode(gradient((300, 100)), "PNG"), 10**7, max_side=64)
    assert "downscaled" in res.changes and max(res.width, res.height) == 64
    assert decoded(res.data).size == (res.width, res.height)


def test_normalising_is_deterministic():
    data = encode(gradient().convert("CMYK"), "JPEG")
    assert normalise(data, 10**7).data == normalise(data, 10**7).data


def test_ingest_survives_every_bad_kind_and_counts_reasons(tmp_path):
    """One folder with every kind of input: the stage finishes, each reason is counted, usable images land."""
    from pipeline.pool.ingest import ingest

    root = tmp_path / "imgs"
    root.mkdir()
    good = encode(gradient(), "JPEG")
    frames = [Image.new("RGB", (16, 16), c) for c in ((250, 0, 0), (0, 0, 250))]
    exif = Image.Exif()
    exif[0x0112] = 6
    files = {
        "ok.jpg": good, "truncated.jpg": good[:300], "zero.png": b"", "text.png": b"hello, not a png",
        "bomb.png": encode(Image.new("1", (3000, 3000)), "PNG"), "cmyk.jpg": encode(gradient().convert("CMYK"), "JPEG"),
        "grey16.png": encode(Image.fromarray(np.full((8, 8), 40000, np.uint16)), "PNG"),
        "alpha.png": encode(gradient().convert("RGBA"), "PNG"),
        "anim.gif": encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "anim.webp": encode(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
        "rotated.jpg": encode(gradient((40, 20)), "JPEG", exif=exif),
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    (root / "gone.png").symlink_to(tmp_path / "deleted.png")  # listed, but cannot be read
    manifest, counts = ingest([str(root)], str(tmp_path / "lake"), max_pixels=1_000_000)
    assert counts["quarantined.truncated_or_corrupt"] == 1 and counts["quarantined.empty"] == 1
    assert counts["quarantined.not_an_image"] == 1 and counts["quarantined.too_many_pixels"] == 1
    assert counts["quarantined.unreadable"] == 1 and counts["quarantined.total"] == 5
    assert counts["rows"] == counts["added"] == 7
    assert counts["normalised.first_frame"] == 2 and counts["normalised.exif_transposed"] == 1
    from pipeline.storage import lake

    for row in lake.open_pinned(manifest).to_arrow().to_pylist():
        assert decoded(row["image"]).mode == "RGB" and decoded(row["image"]).size == (row["width"], row["height"])
