import hashlib
import json
import random
import re
from collections import Counter

import pyarrow.parquet as pq
import pytest

from pipeline.images import encode_png
from pipeline.world.build import WorldFiles, build_world
from pipeline.world.params import WorldConfig
from pipeline.world.questions import CATEGORIES, CELLS, ask
from pipeline.world.render import render
from pipeline.world.scenes import IMAGE_TYPES, sample_scene


def test_same_seed_same_bytes(tiny_world, tmp_path):
    out, cfg, _ = tiny_world
    build_world(cfg, seed=3, files=WorldFiles.under(tmp_path))
    for name in ("pool", "scenes", "probe", "eval", "sft", "clip"):
        assert (tmp_path / f"{name}.parquet").read_bytes() == (out / f"{name}.parquet").read_bytes(), name


def test_other_seed_other_pool(tiny_world, tmp_path):
    out, cfg, _ = tiny_world
    build_world(cfg.model_copy(update={"pool_size": 20}), seed=4, files=WorldFiles.under(tmp_path))
    a = set(pq.read_table(tmp_path / "pool.parquet")["image"].to_pylist())
    b = set(pq.read_table(out / "pool.parquet")["image"].to_pylist())
    assert len(a - b) >= 15


def test_at_least_six_image_types_and_eight_categories():
    assert len(IMAGE_TYPES) >= 6
    assert len(CATEGORIES) >= 8
    assert {t for _, t in CELLS} == set(IMAGE_TYPES)


def test_pool_is_unlabelled_and_scenes_cover_it(tiny_world):
    out, cfg, counts = tiny_world
    pool = pq.read_table(out / "pool.parquet")
    assert pool.column_names == ["uri", "image"]
    ids = {hashlib.sha256(b).hexdigest() for b in pool["image"].to_pylist()}
    scenes = pq.read_table(out / "scenes.parquet")
    assert set(scenes["image_id"].to_pylist()) == ids
    assert counts["pool_unique"] == len(ids)


def test_held_out_sets_are_disjoint(tiny_world):
    out, _, _ = tiny_world
    names = ("probe", "eval", "dev", "sft")
    ids = {n: set(pq.read_table(out / f"{n}.parquet")["image_id"].to_pylist()) for n in names}
    pool = {hashlib.sha256(b).hexdigest() for b in pq.read_table(out / "pool.parquet")["image"].to_pylist()}
    assert all(ids[a].isdisjoint(ids[b]) for i, a in enumerate(names) for b in names[i + 1:])
    assert not set().union(*ids.values()) & pool


def test_probe_covers_every_cell(tiny_world):
    out, cfg, _ = tiny_world
    probe = pq.read_table(out / "probe.parquet").to_pylist()
    cells = [(r["category"], r["image_type"]) for r in probe]
    assert sorted(set(cells)) == sorted(CELLS)
    assert all(cells.count(c) == cfg.probe_per_cell for c in CELLS)


def _unique(items, key, value):
    hits = [it for it in items if it[key] == value]
    assert len(hits) == 1
    return hits[0]


def _find(items, desc):
    colour, shape = desc.split()
    return _unique([it for it in items if it["colour"] == colour], "shape", shape)


def oracle(scene: dict, question: str) -> str:
    """An independent reading of each question against the scene record."""
    q = question
    if q == "How many shapes are there?":
        return str(len(scene["items"]))
    if q == "Which colour do most of the shapes have?":
        shapes = Counter(it["colour"] for it in scene["items"])
        (winner,) = [c for c, n in shapes.items() if n == max(shapes.values())]
        return winner
    if m := re.fullmatch(r"Is the (\w+) shape on the (left|top) or the (right|bottom)\?", q):
        it = _unique(scene["items"], "colour", m[1])
        place = it["col"] if m[2] == "left" else it["row"]
        assert place != 1
        return m[2] if place == 0 else m[3]
    if m := re.fullmatch(r"Is the (\w+) shape small or large\?", q):
        return _unique(scene["items"], "colour", m[1])["size"]
    if q == "How many large shapes are there?":
        return str(sum(it["size"] == "large" for it in scene["items"]))
    if q == "The shapes sit on a 3 by 3 grid. How many places are empty?":
        return str(9 - len(scene["items"]))
    if m := re.fullmatch(r"Is the (\w+ \w+) (left or right of|above or below) the (\w+ \w+)\?", q):
        a, b = _find(scene["items"], m[1]), _find(scene["items"], m[3])
        if m[2] == "left or right of":
            return "left" if a["col"] < b["col"] else "right"
        return "above" if a["row"] < b["row"] else "below"
    dots = Counter(d["colour"] for d in scene.get("dots", []))
    if m := re.fullmatch(r"How many (\w+) dots are there\?", q):
        return str(dots[m[1]])
    if q == "Which colour has the most dots?":
        (winner,) = [c for c, n in dots.items() if n == max(dots.values())]
        return winner
    if m := re.fullmatch(r"If the (\w+) dots were taken away, how many dots would be left\?", q):
        assert dots[m[1]] > 0 and len(dots) == 2
        return str(sum(dots.values()) - dots[m[1]])
    if q in ("How many bars are there?", "How many points does the line have?"):
        return str(len(scene["values"]))
    if m := re.fullmatch(r"What is the value of bar (\w)\?", q):
        return str(scene["values"][scene["labels"].index(m[1])])
    if q == "Does the line end higher or lower than it starts?":
        return "higher" if scene["values"][-1] > scene["values"][0] else "lower"
    if q == "How many lines of text are there?":
        return str(len(scene["lines"]))
    if q == "How many words are there?":
        return str(sum(len(line) for line in scene["lines"]))
    if q == "How many rows of numbers are there?":
        return str(len(scene["cells"]))
    if q == "How many columns of numbers are there?":
        return str(len(scene["cells"][0]))
    if q == "How many numbers are in the table?":
        return str(sum(len(row) for row in scene["cells"]))
    raise AssertionError(f"no oracle for {q!r}")


def test_every_answer_follows_from_its_scene(tiny_world):
    out, cfg, _ = tiny_world
    for split in ("probe", "eval", "sft"):
        for row in pq.read_table(out / f"{split}.parquet").to_pylist():
            scene = json.loads(row["scene"])
            assert oracle(scene, row["question"]) == row["answer"], row["question"]
            assert encode_png(render(scene, cfg.image_size)) == row["image"]


@pytest.mark.parametrize("category,image_type", CELLS)
def test_families_answer_many_random_scenes(category, image_type):
    asked = 0
    for i in range(200):
        rng = random.Random(i)
        scene = sample_scene(image_type, rng)
        q = ask(scene, category, rng)
        if q is not None:
            asked += 1
            assert q.category == category and q.image_type == image_type
            assert oracle(scene, q.question) == q.answer
    assert asked >= 50  # the family is not starved by its own preconditions


def test_word_totals_are_evenly_likely():
    # a skewed total would let a model that always answers one number look partly skilled
    totals = Counter(sum(map(len, sample_scene("document", random.Random(i))["lines"])) for i in range(1200))
    assert sorted(totals) == [2, 3, 4, 5, 6, 7]
    assert all(150 <= n <= 250 for n in totals.values()), totals


def test_render_is_pure():
    scene = sample_scene("bar_chart", random.Random(1))
    assert encode_png(render(scene, 112)) == encode_png(render(scene, 112))
    assert render(scene, 56).size == (56, 56)


def test_world_config_rejects_bad_size():
    with pytest.raises(ValueError, match="multiple"):
        WorldConfig(image_size=100)
