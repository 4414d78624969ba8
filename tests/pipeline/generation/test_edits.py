import random

import numpy as np
import pytest

from pipeline.generation.edits import replay
from pipeline.registry import EDITS
from pipeline.world.agents import edited_scene, keeps
from pipeline.world.render import render
from pipeline.world.scenes import sample_scene


def test_every_edit_replays_identically_from_its_spec():
    img = render(sample_scene("shapes", random.Random(0)), 112)
    for name in EDITS:
        spec = EDITS.load(name).sample(random.Random(1)).spec()
        a, b = replay(img, [spec]), replay(img, [dict(spec)])
        assert np.array_equal(np.asarray(a), np.asarray(b)), name
        assert a.size == img.size


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


def test_agent_arguments_are_checked_against_the_operations_ranges():
    from pipeline.registry import EDITS as ops

    rng = random.Random(0)
    assert ops.load("brightness").checked({"factor": 1.2}, rng).spec() == {"op": "brightness", "factor": 1.2}
    noise = ops.load("noise").checked({"sigma": 5.0}, rng).spec()
    assert noise["sigma"] == 5.0 and isinstance(noise["seed"], int)  # completed, so it replays exactly
    assert ops.load("pad").checked({"pixels": 4}, rng).spec() == {"op": "pad", "pixels": 4, "fill": [255, 255, 255]}
    for op, args in (("brightness", {"factor": 9.0}), ("blur", {}), ("blur", {"radius": 1.0, "angle": 3.0})):
        with pytest.raises(ValueError, match=op):
            ops.load(op).checked(args, rng)
