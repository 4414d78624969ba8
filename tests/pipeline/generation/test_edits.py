import json
import random

import numpy as np
import pytest
from PIL import Image

from pipeline.config.registry import EDITS
from pipeline.generation.edits import replay, sample_fetch
from pipeline.storage.images import encode_png, image_id
from pipeline.storage.schemas import EditOutput
from pipeline.world.agents import edited_scene, keeps
from pipeline.world.render import render
from pipeline.world.scenes import sample_scene

RESIZING = {"crop", "rotate", "generative"}  # the ops that may change the image's size
MADE = encode_png(Image.new("RGB", (30, 30), (0, 200, 0)))  # what an image model returned
OUTPUTS = [EditOutput("generated:" + image_id(MADE), MADE)]


def other_image(image_id: str) -> Image.Image:
    """The pool as ``replay`` reads it, for ``paste``: one known image."""
    assert image_id == "other"
    return Image.new("RGB", (40, 20), (0, 0, 255))


def test_every_edit_replays_identically_from_its_spec():
    img = render(sample_scene("shapes", random.Random(0)), 112)
    fetch = sample_fetch(OUTPUTS, other_image)
    for name in EDITS:
        if name == "generative":
            spec = {"op": name, "prompt": "make it green", "model": "m", "output": OUTPUTS[0].id}
        else:
            spec = EDITS.load(name).sample(random.Random(1)).spec() | ({"image_id": "other"} if name == "paste" else {})
        a, b = replay(img, [spec], fetch), replay(img, [json.loads(json.dumps(spec))], fetch)
        assert np.array_equal(np.asarray(a), np.asarray(b)), name
        assert a.size == img.size or name in RESIZING, name
        assert not np.array_equal(np.asarray(a), np.asarray(img)), f"{name} changed nothing"


def test_geometry_and_annotations_do_what_they_say():
    img = Image.fromarray(np.arange(100 * 80 * 3, dtype=np.uint32).reshape(80, 100, 3).astype(np.uint8))
    crop = replay(img, [{"op": "crop", "left": 0.5, "top": 0.25, "right": 1.0, "bottom": 0.75}])
    assert crop.size == (50, 40) and np.array_equal(np.asarray(crop), np.asarray(img)[20:60, 50:100])
    assert np.array_equal(np.asarray(replay(img, [{"op": "rotate", "degrees": 90.0, "fill": [255, 255, 255]}])),
                          np.rot90(np.asarray(img)))
    yy, xx = np.mgrid[0:80, 0:100]
    ramp = np.stack([xx * 2, yy * 3, np.zeros_like(xx)], -1).astype(np.uint8)  # smooth: resampling keeps it
    zoom = replay(Image.fromarray(ramp), [{"op": "zoom", "x": 0.0, "y": 0.0, "factor": 2.0}])  # window kept inside
    assert zoom.size == img.size and np.abs(np.asarray(zoom)[::2, ::2].astype(int) - ramp[:40, :50]).max() <= 3
    white = Image.new("RGB", (100, 80), "white")
    box = np.asarray(replay(white, [{"op": "box", "left": 0.2, "top": 0.2, "right": 0.8, "bottom": 0.8, "width": 2,
                                     "colour": [230, 25, 25]}]))
    assert tuple(box[16, 50]) == (230, 25, 25) and tuple(box[40, 50]) == (255, 255, 255)  # outline, not filled
    dot = np.asarray(replay(white, [{"op": "marker", "x": 0.5, "y": 0.5, "radius": 0.1, "colour": [230, 25, 25]}]))
    assert tuple(dot[40, 50]) == (230, 25, 25) and tuple(dot[5, 5]) == (255, 255, 255)
    text = np.asarray(replay(white, [{"op": "text", "x": 0.1, "y": 0.1, "size": 0.2, "text": "42",
                                      "colour": [0, 0, 0]}]))
    assert (text[8:30, 10:40] < 128).any() and (text[50:, :] == 255).all()
    pasted = np.asarray(replay(white, [{"op": "paste", "x": 0.5, "y": 0.5, "scale": 0.4, "image_id": "other"}],
                               other_image))
    assert tuple(pasted[40, 50]) == (0, 0, 255) and tuple(pasted[5, 5]) == (255, 255, 255)


def test_flip_carries_the_ground_truth():
    for seed in range(20):
        scene = sample_scene("shapes", random.Random(seed))
        flipped = edited_scene({"op": "hflip"}, scene)
        drawn = np.asarray(render(flipped, 112)).astype(int)
        edited = np.asarray(replay(render(scene, 112), [{"op": "hflip"}])).astype(int)
        assert np.mean(np.abs(drawn - edited) > 30) < 0.02


def test_flip_refuses_text_images():
    scene = sample_scene("document", random.Random(0))
    assert edited_scene({"op": "hflip"}, scene) is None
    assert not keeps("hflip", "document") and keeps("blur", "document")


def test_the_world_refuses_edits_that_change_what_its_records_say():
    scene = sample_scene("shapes", random.Random(0))
    for op in ("crop", "zoom", "rotate", "box", "marker", "text", "paste", "generative"):
        assert not keeps(op, "shapes") and edited_scene({"op": op}, scene) is None


def test_agent_arguments_are_checked_against_the_operations_ranges():
    from pipeline.config.registry import EDITS as ops

    rng = random.Random(0)
    assert ops.load("brightness").checked({"factor": 1.2}, rng).spec() == {"op": "brightness", "factor": 1.2}
    noise = ops.load("noise").checked({"sigma": 5.0}, rng).spec()
    assert noise["sigma"] == 5.0 and isinstance(noise["seed"], int)  # completed, so it replays exactly
    assert ops.load("pad").checked({"pixels": 4}, rng).spec() == {"op": "pad", "pixels": 4, "fill": [255, 255, 255]}
    for op, args in (("brightness", {"factor": 9.0}), ("blur", {}), ("blur", {"radius": 1.0, "angle": 3.0}),
                     ("text", {"x": 0.1, "y": 0.1, "size": 0.1, "text": ""}),
                     ("text", {"x": 0.1, "y": 0.1, "size": 0.1, "text": "x" * 41}),
                     ("text", {"x": 0.1, "y": 0.1, "size": 0.1, "text": 3.0}),
                     ("brightness", {"factor": "bright"}),
                     ("crop", {"left": 0.6, "top": 0.1, "right": 0.5, "bottom": 0.9}),
                     ("paste", {"x": 0.5, "y": 0.5, "scale": 0.3})):  # no other candidate to paste
        with pytest.raises(ValueError, match=op):
            ops.load(op).checked(args, rng)
    paste = ops.load("paste").checked({"x": 0.5, "y": 0.5, "scale": 0.3}, rng, ("b", "a")).spec()
    assert paste["image_id"] in {"a", "b"}  # the pipeline picks and records the pasted image
    assert ops.load("text").checked({"x": 0.1, "y": 0.1, "size": 0.1, "text": "A"}, rng).spec()["text"] == "A"


def test_a_generative_edit_replays_only_from_the_bytes_it_returned():
    img = Image.new("RGB", (40, 40), "white")
    specs = [{"op": "generative", "prompt": "add a red ball", "model": "m", "output": OUTPUTS[0].id},
             {"op": "box", "left": 0.1, "top": 0.1, "right": 0.9, "bottom": 0.9, "width": 1, "colour": [230, 25, 25]}]
    out = np.asarray(replay(img, specs, sample_fetch(OUTPUTS)))
    assert out.shape == (30, 30, 3) and tuple(out[15, 15]) == (0, 200, 0) and tuple(out[3, 15]) == (230, 25, 25)
    tampered = [EditOutput(OUTPUTS[0].id, encode_png(Image.new("RGB", (30, 30), "black")))]
    with pytest.raises(ValueError, match="do not match the hash"):
        replay(img, specs, sample_fetch(tampered))
    with pytest.raises(ValueError, match="neither among the sample's edit outputs"):
        replay(img, specs, sample_fetch([], other_image))
    with pytest.raises(ValueError, match="needs the image it returned"):
        replay(img, specs)
