"""The test set: fresh items of every cell, apart from every other set's images by id and by perceptual hash,
keyed by its draw."""

import json

import pyarrow.parquet as pq

from pipeline.world.params import TestSetConfig
from pipeline.world.questions import CELLS
from pipeline.world.testset import draw_test_set, excluded, picture, write_test_set

SETS = ("pool", "sft", "clip", "probe", "eval", "dev")


def test_the_test_set_is_apart_from_every_other_set_and_names_its_draw(tiny_world, tmp_path):
    out, cfg, _ = tiny_world
    sources = [str(out / f"{name}.parquet") for name in SETS]
    info = write_test_set(cfg, 3, TestSetConfig(seed=11, per_cell=2), sources, str(tmp_path / "test.parquet"),
                          str(tmp_path / "test.json"))
    rows = pq.read_table(tmp_path / "test.parquet").to_pylist()
    assert len(rows) == 2 * len(CELLS) == info["rows"]
    ids, pictures = excluded(sources)
    assert not {r["image_id"] for r in rows} & ids
    assert not {picture(r["image"]) for r in rows} & pictures
    assert len({r["image_id"] for r in rows}) == len(rows)
    manifest = json.loads((tmp_path / "test.json").read_text())
    assert manifest["seed"] == 11 and len(manifest["world_version"]) == 16 and manifest == info
    again = write_test_set(cfg, 3, TestSetConfig(seed=11, per_cell=2), sources, str(tmp_path / "again.parquet"),
                           str(tmp_path / "again.json"))
    assert again["sha256"] == info["sha256"]  # one draw per (seed, world version)
    other = write_test_set(cfg, 3, TestSetConfig(seed=12, per_cell=2), sources, str(tmp_path / "other.parquet"),
                           str(tmp_path / "other.json"))
    assert other["sha256"] != info["sha256"]


def test_a_picture_already_in_another_set_is_skipped_even_at_other_bytes(tiny_world):
    out, cfg, _ = tiny_world
    first, _ = draw_test_set(cfg, TestSetConfig(seed=11, per_cell=1), set(), set())
    again, counts = draw_test_set(cfg, TestSetConfig(seed=11, per_cell=1), set(), {picture(first[0]["image"])})
    assert counts["by_picture"] >= 1 and again[0]["image_id"] != first[0]["image_id"]
