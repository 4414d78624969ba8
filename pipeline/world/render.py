"""Draw a scene record as an RGB image. Pure function of (scene, size): same input, same pixels."""

from __future__ import annotations

import functools

from PIL import Image, ImageDraw, ImageFont

from pipeline.world.scenes import COLOURS, Scene

BACKGROUND = (245, 245, 240)
INK = (20, 20, 20)


@functools.lru_cache(maxsize=16)
def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=px)


def _shape(draw: ImageDraw.ImageDraw, kind: str, box: tuple[float, float, float, float], fill) -> None:
    x0, y0, x1, y1 = box
    if kind == "circle":
        draw.ellipse(box, fill=fill)
    elif kind == "square":
        draw.rectangle(box, fill=fill)
    elif kind == "diamond":
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=fill)
    else:
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=fill)


def _draw_shapes(d: ImageDraw.ImageDraw, s: Scene, size: int) -> None:
    cell = size / 3
    pad = cell * 0.15
    for it in s["items"]:
        inset = pad if it["size"] == "large" else cell * 0.3
        x0, y0 = it["col"] * cell + inset, it["row"] * cell + inset
        _shape(d, it["shape"], (x0, y0, x0 + cell - 2 * inset, y0 + cell - 2 * inset), COLOURS[it["colour"]])


def _draw_objects(d: ImageDraw.ImageDraw, s: Scene, size: int) -> None:
    cell = size / 4
    r = cell * 0.28
    for dot in s["dots"]:
        cx, cy = (dot["col"] + 0.5) * cell, (dot["row"] + 0.5) * cell
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=COLOURS[dot["colour"]])


def _axes(d: ImageDraw.ImageDraw, size: int) -> tuple[float, float, float, float]:
    """Draw y-axis ticks 0..9 and return the plot box (left, top, right, bottom)."""
    left, top, right, bottom = size * 0.16, size * 0.06, size * 0.97, size * 0.84
    font = _font(max(8, size // 12))
    for v in range(0, 10, 3):
        y = bottom - (bottom - top) * v / 9
        d.line((left, y, right, y), fill=(200, 200, 200))
        d.text((2, y - size // 24), str(v), fill=INK, font=font)
    d.line((left, top, left, bottom), fill=INK)
    d.line((left, bottom, right, bottom), fill=INK)
    return left, top, right, bottom


def _draw_bar_chart(d: ImageDraw.ImageDraw, s: Scene, size: int) -> None:
    left, top, right, bottom = _axes(d, size)
    slot = (right - left) / len(s["values"])
    font = _font(max(8, size // 10))
    for i, (label, v) in enumerate(zip(s["labels"], s["values"])):
        x0 = left + i * slot + slot * 0.2
        d.rectangle((x0, bottom - (bottom - top) * v / 9, x0 + slot * 0.6, bottom), fill=COLOURS["blue"])
        d.text((x0 + slot * 0.1, bottom + 2), label, fill=INK, font=font)


def _draw_line_chart(d: ImageDraw.ImageDraw, s: Scene, size: int) -> None:
    left, top, right, bottom = _axes(d, size)
    n = len(s["values"])
    step = (right - left) / n
    font = _font(max(8, size // 10))
    pts = [(left + (i + 0.5) * step, bottom - (bottom - top) * v / 9) for i, v in enumerate(s["values"])]
    d.line(pts, fill=COLOURS["red"], width=max(1, size // 40))
    for i, (x, y) in enumerate(pts):
        r = size / 50
        d.ellipse((x - r, y - r, x + r, y + r), fill=COLOURS["red"])
        d.text((x - size / 40, bottom + 2), str(i + 1), fill=INK, font=font)


def _draw_document(d: ImageDraw.ImageDraw, s: Scene, size: int) -> None:
    font = _font(max(8, size // 7))
    line_h = size / 4.5
    for i, words in enumerate(s["lines"]):
        d.text((size * 0.06, size * 0.05 + i * line_h), " ".join(words), fill=INK, font=font)


def _draw_table(d: ImageDraw.ImageDraw, s: Scene, size: int) -> None:
    rows, cols = len(s["cells"]), len(s["cells"][0])
    ch, cw = size / (rows + 1), size / (cols + 1)
    font = _font(max(8, int(min(ch, cw) * 0.5)))
    for r in range(rows + 2):
        d.line((0, r * ch, size, r * ch), fill=INK)
    for c in range(cols + 2):
        d.line((c * cw, 0, c * cw, size), fill=INK)
    for c in range(cols):
        d.text(((c + 1.3) * cw, ch * 0.2), str(c + 1), fill=(90, 90, 90), font=font)
    for r, label in enumerate(s["row_labels"]):
        d.text((cw * 0.3, (r + 1.2) * ch), label, fill=(90, 90, 90), font=font)
        for c, v in enumerate(s["cells"][r]):
            d.text(((c + 1.3) * cw, (r + 1.2) * ch), str(v), fill=INK, font=font)


_DRAW = {
    "shapes": _draw_shapes,
    "objects": _draw_objects,
    "bar_chart": _draw_bar_chart,
    "line_chart": _draw_line_chart,
    "document": _draw_document,
    "table": _draw_table,
}


def render(scene: Scene, size: int) -> Image.Image:
    img = Image.new("RGB", (size, size), BACKGROUND)
    _DRAW[scene["image_type"]](ImageDraw.Draw(img), scene, size)
    return img

