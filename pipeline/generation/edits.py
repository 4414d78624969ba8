"""Image edits: deterministic, replayable operations recorded as data (``{"op": name, **args}``).

An op changes pixels only: ``apply`` is a pure function of the image and the recorded arguments, so
``replay`` rebuilds an edited sample's exact image from its pool source. What an edit does to a
backend's ground truth (the embedded world's scene records) is that backend's business.
"""

from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from pipeline.registry import EDITS


class Edit:
    """``PARAMS``: the numeric parameters an agent may set, with their ranges; ``complete`` fills the
    rest (a noise seed, a fill colour) so the recorded spec replays exactly."""

    name = ""
    PARAMS: dict[str, tuple[float, float]] = {}

    def __init__(self, **args):
        self.args = args

    @classmethod
    def checked(cls, args: dict[str, float], rng: random.Random) -> "Edit":
        """The op with an agent's arguments, after checking them against ``PARAMS`` (ValueError if not)."""
        unknown, missing = set(args) - set(cls.PARAMS), set(cls.PARAMS) - set(args)
        if unknown or missing:
            raise ValueError(f"{cls.name}: unknown {sorted(unknown)}, missing {sorted(missing)}")
        for key, (lo, hi) in cls.PARAMS.items():
            if not lo <= args[key] <= hi:
                raise ValueError(f"{cls.name}: {key}={args[key]} outside {lo}-{hi}")
        return cls(**cls.complete(dict(args), rng))

    @classmethod
    def complete(cls, args: dict, rng: random.Random) -> dict:
        return args

    def spec(self) -> dict:
        return {"op": self.name, **self.args}

    def apply(self, img: Image.Image) -> Image.Image:
        raise NotImplementedError

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
    def complete(cls, args, rng):
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
    def complete(cls, args, rng):
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


def from_spec(spec: dict) -> Edit:
    """The op a recorded spec names (``pipeline.registry.EDITS``), with its recorded arguments."""
    args = {k: v for k, v in spec.items() if k != "op"}
    return EDITS.load(spec["op"])(**args)


def replay(img: Image.Image, specs: list[dict]) -> Image.Image:
    """Rebuild an edited image from its source and the recorded specs."""
    for spec in specs:
        img = from_spec(spec).apply(img)
    return img
