import hashlib
import json
import random
from collections import Counter

import pyarrow.parquet as pq
import pytest

from pipeline.storage.images import encode_png
from pipeline.world.params import WorldConfig
from pipeline.world.questions import BY_CELL, CATEGORIES, CELLS, TEMPLATES, WEAK_CATEGORIES, WEAK_CELLS, ask
from pipeline.world.render import render
from pipeline.world.scenes import IMAGE_TYPES, sample_scene
from pipeline.world.world import WorldFiles, build_world


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


def test_six_image_types_and_cells_over_five_of_them():
    assert len(IMAGE_TYPES) >= 6 and len(CATEGORIES) >= 8
    assert {t for _, t in CELLS} == set(IMAGE_TYPES) - {"shapes"}  # shapes: pool pictures no cell asks about


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


def oracle(scene: dict, question: str) -> str:
    """An independent reading of each question against the scene record."""
    q = question
    dots = Counter(d["colour"] for d in scene.get("dots", []))
    if q == "Which colour has the most dots?":
        (winner,) = [c for c, n in dots.items() if n == max(dots.values())]
        return winner
    if q == "Are the dots a single colour or mixed?":
        return {1: "single", 2: "mixed"}[len(dots)]
    if q in ("How many bars are there?", "How many points does the line have?"):
        return str(len(scene["values"]))
    if q == "How many lines of text are there?":
        return str(len(scene["lines"]))
    if q == "How many words are on the first line?":
        return ["one", "two", "three"][len(scene["lines"][0]) - 1]
    if q == "How many rows of numbers are there?":
        return str(len(scene["cells"]))
    if q == "Is the table narrow, medium or wide?":
        return {2: "narrow", 3: "medium", 4: "wide"}[len(scene["cells"][0])]
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


def test_every_set_balances_each_cells_answers(tiny_world):
    """The answer is drawn first: a constant answer scores 1/k, and no label exceeds its share by more than one."""
    out, _, _ = tiny_world
    for split in ("probe", "eval", "dev", "sft"):
        rows = pq.read_table(out / f"{split}.parquet").to_pylist()
        for cell, template in BY_CELL.items():
            labels = Counter(r["answer"] for r in rows if (r["category"], r["image_type"]) == cell)
            assert set(labels) <= set(template.answers), (split, cell, labels)
            n = sum(labels.values())
            assert max(labels.values()) <= -(-n // template.k), (split, cell, labels)  # ceil(n / k)


def test_weak_cells_share_no_answer_word_with_any_other_cell_and_split_as_the_issue_asks():
    weak = {a for t in TEMPLATES if t.kind == "weak" for a in t.answers}
    strong = {a for t in TEMPLATES if t.kind == "strong" for a in t.answers}
    assert not weak & strong
    assert sum(len(t.answers) for t in TEMPLATES if t.kind == "weak") == len(weak)  # nor with each other
    assert len(WEAK_CATEGORIES) >= 3 and len(WEAK_CELLS) / len(CELLS) >= 0.35  # of every set's items
    assert not set(WEAK_CATEGORIES) & {c for t in TEMPLATES if t.kind == "strong" for c in [t.category]}


def test_captions_state_what_the_weak_cells_ask():
    """Perception is present though the questions are scarce: the warm-up's captions carry each weak answer."""
    from pipeline.world.captions import caption

    scene = {"image_type": "shapes", "items": [{"shape": "circle", "colour": "red", "size": "small", "col": 0,
                                                "row": 2}]}
    assert "small red circle at the bottom left" in caption(scene)
    assert "rises" in caption({"image_type": "line_chart", "values": [1, 3, 7]})
    assert "2 lines: cat dog / sun" in caption({"image_type": "document", "lines": [["cat", "dog"], ["sun"]]})
    assert "2 rows and 4 columns" in caption({"image_type": "table", "cells": [[1, 2, 3, 4]] * 2})
    assert "5 blue dots and 3 red dots, mixed" in caption({"image_type": "objects", "dots": [
        {"colour": "red"}] * 3 + [{"colour": "blue"}] * 5})


def test_render_is_pure():
    scene = sample_scene("bar_chart", random.Random(1))
    assert encode_png(render(scene, 112)) == encode_png(render(scene, 112))
    assert render(scene, 56).size == (56, 56)


def test_world_config_rejects_bad_size():
    with pytest.raises(ValueError, match="multiple"):
        WorldConfig(image_size=100)
