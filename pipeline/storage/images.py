"""Decoding, checking and normalising pool images. A bad input never raises out of here: it gets a reason.

Quarantine reasons: ``empty`` (zero bytes), ``unreadable`` (missing path, permission, I/O error; set by
the source reader), ``not_an_image`` (no decoder knows the bytes), ``truncated_or_corrupt`` (a decoder
knows them but they do not decode), ``too_many_pixels`` (over ``pool.max_pixels``: decompression bombs).

Usable images are normalised to what every model expects: EXIF orientation applied, RGB (CMYK,
16-bit, palette and alpha converted; transparency composited on white), first frame of animations,
longer side at most ``pool.max_side``. An image that needs none of that keeps its bytes unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

KEEP_FORMATS = {"PNG", "JPEG", "WEBP"}
LOSSLESS_FORMATS = {"PNG", "GIF", "BMP", "TIFF"}
WHITE = (255, 255, 255)


def encode_png(img: Image.Image) -> bytes:
    """Encode deterministically (no timestamps, fixed compression) so ids are stable content hashes."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def mime_type(data: bytes) -> str:
    """The image's real MIME type (PNG, JPEG, WebP, ...), read from its bytes.

    >>> mime_type(b"\\xff\\xd8\\xff\\xe0 not really a jpeg")
    'image/jpeg'
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            return Image.MIME.get(img.format or "", "image/png")
    except Exception:  # noqa: BLE001 - a header PIL cannot read: fall back to the magic bytes
        return "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/png"


def data_url(data: bytes) -> str:
    """Encoded image bytes as a base64 data URL with their real MIME type, as chat endpoints take images."""
    return f"data:{mime_type(data)};base64,{base64.b64encode(data).decode()}"


def image_id(data: bytes) -> str:
    """The content-hash id of an image's source bytes: the same file from any source is one pool row."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Checked:
    """Either a usable image (``reason`` is None) with its normalised bytes, or why it was rejected."""

    width: int = 0
    height: int = 0
    format: str = ""
    reason: str | None = None
    detail: str = ""
    data: bytes = b""
    changes: tuple[str, ...] = field(default_factory=tuple)


def _to_rgb(img: Image.Image) -> tuple[Image.Image, list[str]]:
    if img.mode == "RGB":
        return img, []
    change = f"mode_{img.mode.replace(';', '')}"
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit grey: scale to 8 bits, do not clip
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode != "I" or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr * 255.0 / top, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        span = max(arr.max() - arr.min(), 1e-12)
        img = Image.fromarray(((arr - arr.min()) * 255.0 / span).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background, [change]
    return img.convert("RGB"), [change]


def _encode(img: Image.Image, source_format: str) -> tuple[bytes, str]:
    """Deterministic re-encoding: PNG for lossless sources, high-quality JPEG for photos."""
    buf = io.BytesIO()
    if source_format in LOSSLESS_FORMATS:
        img.save(buf, format="PNG", compress_level=6)
        return buf.getvalue(), "PNG"
    img.save(buf, format="JPEG", quality=95)
    return buf.getvalue(), "JPEG"


def normalise(data: bytes | None, max_pixels: int, max_side: int = 1 << 30, max_bytes: int = 0) -> Checked:
    """Check ``data`` and return it normalised (or the reason it is unusable). Never raises on bad bytes; a file
    over ``max_bytes`` (0: no cap) is refused before it is decoded."""
    if not data:
        return Checked(reason="empty", detail="zero bytes")
    if max_bytes and len(data) > max_bytes:
        return Checked(reason="too_many_bytes", detail=f"{len(data)} bytes > pool.max_bytes={max_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > max_pixels:
                    return Checked(reason="too_many_pixels",
                                   detail=f"{img.width}x{img.height} > pool.max_pixels={max_pixels}")
                fmt = img.format or ""
                changes = []
                if getattr(img, "n_frames", 1) > 1:
                    changes.append("first_frame")
                    img.seek(0)
                img.load()
                oriented = ImageOps.exif_transpose(img)
                if oriented.size != img.size or img.getexif().get(0x0112, 1) not in (1, None):
                    changes.append("exif_transposed")
                rgb, mode_changes = _to_rgb(oriented)
                changes += mode_changes
                if max(rgb.size) > max_side:
                    rgb = rgb.copy()
                    rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
                    changes.append("downscaled")
                if not changes and fmt in KEEP_FORMATS:
                    return Checked(width=rgb.width, height=rgb.height, format=fmt, data=data)
                out, out_fmt = _encode(rgb, fmt)
                return Checked(width=rgb.width, height=rgb.height, format=out_fmt, data=out, changes=tuple(changes))
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        reason = "too_many_pixels" if "decompression bomb" in str(err).lower() else "not_an_image"
        return Checked(reason=reason, detail=str(err)[:200])
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        return Checked(reason="truncated_or_corrupt", detail=str(err)[:200])


def decode_rgb(data: bytes) -> Image.Image:
    """Decode as the models see it: EXIF orientation applied, RGB."""
    with Image.open(io.BytesIO(data)) as img:
        return ImageOps.exif_transpose(img).convert("RGB")
