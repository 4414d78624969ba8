"""Image edits: deterministic, replayable operations recorded as data (``{"op": name, **args}``).

Each op knows how to change pixels and how to carry the ground truth along: ``scene`` returns the
scene record of the edited image, or None when the edit would make the record wrong for that image
(a mirrored document cannot be read). So an edited image's answer is as verifiable as the source's.
"""

from __future__ import annotations

import copy
import random

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from pipeline.world.scenes import Scene

EDITS: dict[str, type["Edit"]] = {}
_GEOMETRIC_OK = {"shapes", "objects"}  # text-free images survive flips


def register(cls: type["Edit"]) -> type["Edit"]:
    EDITS[cls.name] = cls
    return cls


class Edit:
    name = ""

    def __init__(self, **args):
        self.args = args

    def spec(self) -> dict:
        return {"op": self.name, **self.args}

    def apply(self, img: Image.Image) -> Image.Image:
        raise NotImplementedError

    def scene(self, scene: Scene) -> Scene | None:
        """Photometric edits keep every fact of the scene."""
        return scene

    @classmethod
    def keeps(cls, image_type: str) -> bool:
        """Whether this edit can keep the ground truth of an image of ``image_type``."""
        return True

    @classmethod
    def sample(cls, rng: random.Random) -> "Edit":
        return cls()


@register
class Brightness(Edit):
    name = "brightness"

    def apply(self, img):
        return ImageEnhance.Brightness(img).enhance(self.args["factor"])

    @classmethod
    def sample(cls, rng):
        return cls(factor=round(rng.uniform(0.8, 1.15), 3))


@register
class Contrast(Edit):
    name = "contrast"

    def apply(self, img):
        return ImageEnhance.Contrast(img).enhance(self.args["factor"])

    @classmethod
    def sample(cls, rng):
        return cls(factor=round(rng.uniform(0.7, 1.3), 3))


@register
class Blur(Edit):
    name = "blur"

    def apply(self, img):
        return img.filter(ImageFilter.GaussianBlur(self.args["radius"]))

    @classmethod
    def sample(cls, rng):
        return cls(radius=round(rng.uniform(0.3, 0.8), 3))


@register
class Noise(Edit):
    name = "noise"

    def apply(self, img):
        arr = np.asarray(img).astype(np.float32)
        noise = np.random.default_rng(self.args["seed"]).normal(0, self.args["sigma"], arr.shape)
        return Image.fromarray(np.clip(arr + noise, 0, 255).astype(np.uint8))

    @classmethod
    def sample(cls, rng):
        return cls(sigma=round(rng.uniform(3, 10), 2), seed=rng.randrange(2**31))


@register
class Pad(Edit):
    """Shrink the content into a border, keeping the image size (a zoom-out)."""

    name = "pad"

    def apply(self, img):
        px = self.args["pixels"]
        inner = img.resize((img.width - 2 * px, img.height - 2 * px), Image.Resampling.BILINEAR)
        return ImageOps.expand(inner, border=px, fill=tuple(self.args["fill"]))

    @classmethod
    def sample(cls, rng):
        return cls(pixels=rng.randint(2, 8), fill=[255, 255, 255])


class _Flip(Edit):
    axis = ""  # "col" or "row"

    @classmethod
    def keeps(cls, image_type):
        return image_type in _GEOMETRIC_OK

    def scene(self, scene):
        if not self.keeps(scene["image_type"]):
            return None
        out = copy.deepcopy(scene)
        things = out.get("items") or out.get("dots") or []
        last = 2 if scene["image_type"] == "shapes" else 3
        for t in things:
            t[self.axis] = last - t[self.axis]
        return out


@register
class HFlip(_Flip):
    name = "hflip"
    axis = "col"

    def apply(self, img):
        return ImageOps.mirror(img)


@register
class VFlip(_Flip):
    name = "vflip"
    axis = "row"

    def apply(self, img):
        return ImageOps.flip(img)


def from_spec(spec: dict) -> Edit:
    args = {k: v for k, v in spec.items() if k != "op"}
    return EDITS[spec["op"]](**args)


def replay(img: Image.Image, specs: list[dict]) -> Image.Image:
    """Rebuild an edited image from its source and the recorded specs."""
    for spec in specs:
        img = from_spec(spec).apply(img)
    return img
