"""Image edits: deterministic, replayable operations recorded as data (``{"op": name, **args}``).

An op changes pixels only: ``apply`` is a pure function of the image and the recorded arguments (and,
for ``paste``, of the pool image it names), so ``replay`` rebuilds an edited sample's exact image from its
pool source. Photometric ops (brightness, contrast, blur, noise), geometry (hflip, vflip, pad, crop, zoom,
rotate) and annotations a question can point at (box, marker, text, paste). Positions are fractions of
the image's width and height, so an agent's arguments mean the same at any resolution. One op is made by
a model, not computed: ``generative`` (an OpenAI-compatible image-edit endpoint) records its prompt, model
and the hash of the image it returned, and the sample keeps those bytes, so replay reads them back. What
an edit does to a backend's ground truth (the embedded world's scene records) is that backend's business.
"""

from __future__ import annotations

import random
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

from pipeline.config.registry import EDITS

Fetch = Callable[[str], Image.Image]  # a pool image by id


class Edit:
    """``PARAMS``: the numeric parameters an agent may set, with their ranges; ``TEXT_PARAMS``: string
    parameters with their maximum length; ``complete`` fills the rest (a noise seed, a fill colour, the
    pool image to paste) so the recorded spec replays exactly."""

    name = ""
    PARAMS: dict[str, tuple[float, float]] = {}
    TEXT_PARAMS: dict[str, int] = {}

    def __init__(self, **args):
        self.args = args

    @classmethod
    def checked(cls, args: dict[str, float | str], rng: random.Random, others: tuple[str, ...] = ()) -> "Edit":
        """The op with an agent's arguments, after checking them against ``PARAMS`` and ``TEXT_PARAMS``
        (ValueError if not); ``others``: pool images the op may draw on (the attempt's other candidates)."""
        allowed = set(cls.PARAMS) | set(cls.TEXT_PARAMS)
        unknown, missing = set(args) - allowed, allowed - set(args)
        if unknown or missing:
            raise ValueError(f"{cls.name}: unknown {sorted(unknown)}, missing {sorted(missing)}")
        for key, (lo, hi) in cls.PARAMS.items():
            if isinstance(args[key], str) or not lo <= args[key] <= hi:
                raise ValueError(f"{cls.name}: {key}={args[key]!r} outside {lo}-{hi}")
        for key, longest in cls.TEXT_PARAMS.items():
            if not isinstance(args[key], str) or not 0 < len(args[key]) <= longest or not args[key].isprintable():
                raise ValueError(f"{cls.name}: {key} must be printable text of 1-{longest} characters")
        return cls(**cls.complete(dict(args), rng, others))

    @classmethod
    def complete(cls, args: dict, rng: random.Random, others: tuple[str, ...] = ()) -> dict:
        return args

    def spec(self) -> dict:
        return {"op": self.name, **self.args}

    def apply(self, img: Image.Image) -> Image.Image:
        raise NotImplementedError

    def render(self, img: Image.Image, fetch: Fetch | None) -> Image.Image:
        """``apply``, for ops that need nothing but the image; ops that read the pool override this."""
        return self.apply(img)

    @classmethod
    def sample(cls, rng: random.Random) -> "Edit":
        return cls()


class _Enhance(Edit):
    """A PIL enhancement by ``factor`` (1 keeps the image); ``SAMPLED`` is the range the world's agents draw."""

    PARAMS = {"factor": (0.5, 1.5)}
    enhancer: type  # ImageEnhance.Brightness, ImageEnhance.Contrast, ...
    SAMPLED: tuple[float, float]

    def apply(self, img):
        return self.enhancer(img).enhance(self.args["factor"])

    @classmethod
    def sample(cls, rng):
        return cls(factor=round(rng.uniform(*cls.SAMPLED), 3))


class Brightness(_Enhance):
    name = "brightness"
    enhancer = ImageEnhance.Brightness
    SAMPLED = (0.8, 1.15)


class Contrast(_Enhance):
    name = "contrast"
    enhancer = ImageEnhance.Contrast
    SAMPLED = (0.7, 1.3)


class Blur(Edit):
    name = "blur"
    PARAMS = {"radius": (0.0, 3.0)}

    def apply(self, img):
        return img.filter(ImageFilter.GaussianBlur(self.args["radius"]))

    @classmethod
    def sample(cls, rng):
        return cls(radius=round(rng.uniform(0.3, 0.8), 3))


class Noise(Edit):
    name = "noise"
    PARAMS = {"sigma": (0.0, 25.0)}

    @classmethod
    def complete(cls, args, rng, others=()):
        return args | {"seed": rng.randrange(2**31)}

    def apply(self, img):
        arr = np.asarray(img).astype(np.float32)
        noise = np.random.default_rng(self.args["seed"]).normal(0, self.args["sigma"], arr.shape)
        return Image.fromarray(np.clip(arr + noise, 0, 255).astype(np.uint8))

    @classmethod
    def sample(cls, rng):
        return cls(sigma=round(rng.uniform(3, 10), 2), seed=rng.randrange(2**31))


class Pad(Edit):
    """Shrink the content into a border, keeping the image size (a zoom-out)."""

    name = "pad"
    PARAMS = {"pixels": (0, 32)}

    @classmethod
    def complete(cls, args, rng, others=()):
        return {"pixels": int(args["pixels"]), "fill": [255, 255, 255]}

    def apply(self, img):
        px = self.args["pixels"]
        inner = img.resize((img.width - 2 * px, img.height - 2 * px), Image.Resampling.BILINEAR)
        return ImageOps.expand(inner, border=px, fill=tuple(self.args["fill"]))

    @classmethod
    def sample(cls, rng):
        return cls(pixels=rng.randint(2, 8), fill=[255, 255, 255])


class HFlip(Edit):
    name = "hflip"

    def apply(self, img):
        return ImageOps.mirror(img)


class VFlip(Edit):
    name = "vflip"

    def apply(self, img):
        return ImageOps.flip(img)


RED = [230, 25, 25]
BOX = {"left": (0.0, 0.95), "top": (0.0, 0.95), "right": (0.05, 1.0), "bottom": (0.05, 1.0)}
POINT = {"x": (0.0, 1.0), "y": (0.0, 1.0)}


def _box(args: dict, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A region given as fractions, in pixels (at least one pixel wide and high)."""
    w, h = size
    left, top = int(args["left"] * w), int(args["top"] * h)
    return left, top, max(left + 1, round(args["right"] * w)), max(top + 1, round(args["bottom"] * h))


def _ordered(cls, args: dict) -> dict:
    if args["right"] - args["left"] < 0.05 or args["bottom"] - args["top"] < 0.05:
        raise ValueError(f"{cls.name}: the region must be at least 5% wide and high, right of left and below top")
    return args


def _sample_box(rng: random.Random, least: float) -> dict:
    w, h = rng.uniform(least, 1.0), rng.uniform(least, 1.0)
    left, top = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
    return {"left": round(left, 3), "top": round(top, 3), "right": round(left + w, 3), "bottom": round(top + h, 3)}


class Crop(Edit):
    """Keep a region, at its own resolution."""

    name = "crop"
    PARAMS = BOX

    @classmethod
    def complete(cls, args, rng, others=()):
        return _ordered(cls, args)

    def apply(self, img):
        return img.crop(_box(self.args, img.size))

    @classmethod
    def sample(cls, rng):
        return cls(**_sample_box(rng, 0.6))


class Zoom(Edit):
    """Magnify around a point by ``factor``, keeping the image size (the window stays inside the image)."""

    name = "zoom"
    PARAMS = POINT | {"factor": (1.0, 4.0)}

    def apply(self, img):
        w, h = img.size
        cw, ch = max(1, round(w / self.args["factor"])), max(1, round(h / self.args["factor"]))
        left = min(max(0, round(self.args["x"] * w - cw / 2)), w - cw)
        top = min(max(0, round(self.args["y"] * h - ch / 2)), h - ch)
        return img.crop((left, top, left + cw, top + ch)).resize((w, h), Image.Resampling.BICUBIC)

    @classmethod
    def sample(cls, rng):
        return cls(x=round(rng.random(), 3), y=round(rng.random(), 3), factor=round(rng.uniform(1.2, 2.5), 3))


class Rotate(Edit):
    """Rotate counter-clockwise by ``degrees``; the canvas grows to hold the whole image."""

    name = "rotate"
    PARAMS = {"degrees": (-180.0, 180.0)}

    @classmethod
    def complete(cls, args, rng, others=()):
        return args | {"fill": [255, 255, 255]}

    def apply(self, img):
        return img.rotate(self.args["degrees"], Image.Resampling.BICUBIC, expand=True,
                          fillcolor=tuple(self.args["fill"]))

    @classmethod
    def sample(cls, rng):
        return cls(degrees=rng.choice([90.0, 180.0, -90.0, round(rng.uniform(-20, 20), 2)]), fill=[255, 255, 255])


class Box(Edit):
    """Draw a rectangle's outline round a region, for questions about "the boxed ..."."""

    name = "box"
    PARAMS = BOX | {"width": (1, 8)}

    @classmethod
    def complete(cls, args, rng, others=()):
        return _ordered(cls, args) | {"width": int(args["width"]), "colour": RED}

    def apply(self, img):
        out = img.copy()
        ImageDraw.Draw(out).rectangle(_box(self.args, img.size), outline=tuple(self.args["colour"]),
                                      width=self.args["width"])
        return out

    @classmethod
    def sample(cls, rng):
        return cls(**_sample_box(rng, 0.2), width=rng.randint(1, 3), colour=RED)


class Marker(Edit):
    """Draw a filled dot at a point, for questions about "the marked ..."."""

    name = "marker"
    PARAMS = POINT | {"radius": (0.01, 0.2)}

    @classmethod
    def complete(cls, args, rng, others=()):
        return args | {"colour": RED}

    def apply(self, img):
        out = img.copy()
        w, h = img.size
        r, x, y = max(1, round(self.args["radius"] * min(w, h))), self.args["x"] * w, self.args["y"] * h
        ImageDraw.Draw(out).ellipse((x - r, y - r, x + r, y + r), fill=tuple(self.args["colour"]))
        return out

    @classmethod
    def sample(cls, rng):
        return cls(x=round(rng.random(), 3), y=round(rng.random(), 3), radius=0.04, colour=RED)


class Text(Edit):
    """Write a short text at a point (top-left corner), in Pillow's built-in font."""

    name = "text"
    PARAMS = POINT | {"size": (0.03, 0.3)}  # the font's height, as a fraction of the image's
    TEXT_PARAMS = {"text": 40}

    @classmethod
    def complete(cls, args, rng, others=()):
        return args | {"colour": [0, 0, 0]}

    def apply(self, img):
        out = img.copy()
        font = ImageFont.load_default(size=max(6, round(self.args["size"] * img.height)))
        ImageDraw.Draw(out).text((self.args["x"] * img.width, self.args["y"] * img.height), self.args["text"],
                                 fill=tuple(self.args["colour"]), font=font)
        return out

    @classmethod
    def sample(cls, rng):
        return cls(x=0.05, y=0.05, size=0.12, text=rng.choice(["A", "B", "42", "STOP"]), colour=[0, 0, 0])


class Paste(Edit):
    """Paste another pool image (scaled to ``scale`` of this one's width) with its centre at a point; the
    pipeline picks it among the attempt's other candidates and records its id."""

    name = "paste"
    PARAMS = POINT | {"scale": (0.1, 0.8)}

    @classmethod
    def complete(cls, args, rng, others=()):
        if not others:
            raise ValueError("paste: there is no other candidate image to paste")
        return args | {"image_id": rng.choice(sorted(others))}

    def render(self, img, fetch):
        if fetch is None:
            raise ValueError("paste: replaying it needs the pool (fetch) to read the pasted image")
        return self.paste(img, fetch(self.args["image_id"]))

    def paste(self, img: Image.Image, other: Image.Image) -> Image.Image:
        w = max(1, round(self.args["scale"] * img.width))
        other = other.convert("RGB").resize((w, max(1, round(other.height * w / other.width))),
                                            Image.Resampling.BICUBIC)
        out = img.copy()
        out.paste(other, (round(self.args["x"] * img.width - other.width / 2),
                          round(self.args["y"] * img.height - other.height / 2)))
        return out

    @classmethod
    def sample(cls, rng):
        return cls(x=round(rng.random(), 3), y=round(rng.random(), 3), scale=0.3, image_id="")


GENERATED = "generated:"  # id prefix of an image a generative edit returned: generated:<sha256 of its bytes>


class Generative(Edit):
    """An edit an image model makes from a prompt (``images.edit`` of an OpenAI-compatible endpoint: the
    pipeline hands the prompt to the backend's ``paint`` while it applies the specs). Not recomputable, so
    the spec records the prompt, the model and ``output``, the returned image's id (``generated:<sha256>``);
    the sample keeps the bytes (``edit_outputs``) and replay reads them back through ``fetch`` (see
    ``sample_fetch``), then applies the ops after it."""

    name = "generative"
    TEXT_PARAMS = {"prompt": 500}

    def render(self, img, fetch):
        if fetch is None or not self.args.get("output"):
            raise ValueError("generative: replaying it needs the image it returned (the sample's edit_outputs)")
        return fetch(self.args["output"])

    @classmethod
    def sample(cls, rng):
        raise ValueError("generative: made by an image model, never drawn at random")


def sample_fetch(outputs: list | None, pool: Fetch | None = None) -> Fetch:
    """``fetch`` for replaying a sample: the images its generative edits returned (``edit_outputs``: id and
    bytes, each checked against the sha256 in its id), else the pool (``pool``, for ``paste``)."""
    from pipeline.storage.images import decode_rgb, image_id

    stored = {o.id: o.image for o in outputs or []}

    def fetch(ref: str) -> Image.Image:
        if ref in stored:
            if GENERATED + image_id(stored[ref]) != ref:
                raise ValueError(f"edit output {ref}: its bytes do not match the hash in its id")
            return decode_rgb(stored[ref])
        if ref.startswith(GENERATED) or pool is None:
            raise ValueError(f"image {ref!r} is neither among the sample's edit outputs nor readable from the pool")
        return pool(ref)

    return fetch


def from_spec(spec: dict) -> Edit:
    """The op a recorded spec names (``pipeline.config.registry.EDITS``), with its recorded arguments."""
    args = {k: v for k, v in spec.items() if k != "op"}
    return EDITS.load(spec["op"])(**args)


def replay(img: Image.Image, specs: list[dict], fetch: Fetch | None = None) -> Image.Image:
    """Rebuild an edited image from its source and the recorded specs (``fetch``: pool images by id, for
    ops that read another one)."""
    for spec in specs:
        img = from_spec(spec).render(img, fetch)
    return img
