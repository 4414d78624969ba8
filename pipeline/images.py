"""Decoding and checking pool images. A bad input never raises out of here: it gets a reason."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError


def image_id(data: bytes) -> str:
    """The content-hash id of an image: the same bytes from any source are one pool row."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Checked:
    """Either a usable image's facts (``reason`` is None) or why it was rejected."""

    width: int = 0
    height: int = 0
    format: str = ""
    reason: str | None = None
    detail: str = ""


def check_image(data: bytes | None, max_pixels: int) -> Checked:
    if not data:
        return Checked(reason="empty", detail="zero bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > max_pixels:
                    return Checked(reason="too_many_pixels", detail=f"{img.width}x{img.height} > {max_pixels}")
                fmt = img.format or ""
                img.load()
                width, height = ImageOps.exif_transpose(img).size
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        return Checked(reason="not_an_image", detail=str(err)[:200])
    except (OSError, SyntaxError, ValueError) as err:
        return Checked(reason="truncated_or_corrupt", detail=str(err)[:200])
    return Checked(width=width, height=height, format=fmt)


def decode_rgb(data: bytes) -> Image.Image:
    """Decode as the models see it: EXIF orientation applied, RGB."""
    with Image.open(io.BytesIO(data)) as img:
        return ImageOps.exif_transpose(img).convert("RGB")
