"""The image-shuffle gap: a model that reads the image loses its accuracy when the image is another's; one that
answers from the question alone keeps it."""

import polars as pl
import pytest

from pipeline.answers.results import grade
from pipeline.diagnosis.diagnose import aggregate, weakness_brief, with_shuffle
from pipeline.diagnosis.shuffle import gaps, shuffle_gaps, shuffled
from pipeline.storage.images import decode_rgb, encode_png

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (230, 200, 30)}


def swatch(name: str, shade: int = 0) -> bytes:
    from PIL import Image

    r, g, b = COLOURS[name]
    return encode_png(Image.new("RGB", (8, 8), (r, g, b + shade)))


def items(n: int = 40) -> list[dict]:
    names = sorted(COLOURS)
    rows = [{"item_id": f"c{i}", "category": "colour", "image_type": "swatch", "question": "Which colour?",
             "answer": names[i % 4], "answer_type": "word", "options": [], "image": swatch(names[i % 4], i)}
            for i in range(n)]
    rows += [{"item_id": f"t{i}", "category": "text", "image_type": "swatch", "question": "Which word?",
              "answer": "cat", "answer_type": "word", "options": [], "image": swatch("red", i)} for i in range(n)]
    return rows


class ColourReader:
    """A model that names the image's colour (``looks``) or always says the same word: the two ends of the gap."""

    def __init__(self, looks: bool):
        self.looks = looks

    def answer_of(self, item: dict) -> str:
        if item["category"] == "text":
            return "cat"  # answered from the question alone
        if not self.looks:
            return "red"
        pixel = decode_rgb(item["image"]).getpixel((0, 0))
        return min(COLOURS, key=lambda c: sum(abs(a - b) for a, b in zip(COLOURS[c], pixel)))

    def greedy_results(self, rows, **_):
        return grade(rows, [self.answer_of(r) for r in rows])


def test_shuffled_gives_each_item_another_image_of_its_cell_deterministically():
    rows = items(12) + [{"item_id": "lone", "category": "size", "image_type": "swatch", "question": "q",
                         "answer": "a", "answer_type": "word", "options": [], "image": swatch("blue")}]
    again = shuffled(rows, 3)
    assert [r["item_id"] for r in again] == [r["item_id"] for r in rows[:-1]]  # a one-image cell is left out
    originals = {r["item_id"]: r for r in rows}
    for r in again:
        assert r["image"] != originals[r["item_id"]]["image"]
        assert r["question"] == originals[r["item_id"]]["question"]
    cell_images = lambda cat: sorted(r["image"] for r in again if r["category"] == cat)  # noqa: E731
    assert cell_images("colour") == sorted(r["image"] for r in rows if r["category"] == "colour")  # a permutation
    assert shuffled(rows, 3) == again and shuffled(rows, 4) != again


def test_gap_is_large_for_a_model_that_looks_and_zero_for_a_prior():
    rows = items()
    for looks, lower in ((True, 0.5), (False, None)):
        model = ColourReader(looks)
        results = model.greedy_results(rows)
        found = shuffle_gaps(model, rows, results, seed=0, max_new_tokens=8)
        colour, text = found["colour/swatch"], found["text/swatch"]
        assert text.gap == 0.0 and text.accuracy == text.shuffled_accuracy == 1.0  # the question alone answers it
        assert colour.n == 40 and colour.accuracy == pytest.approx(results.filter(
            pl.col("category") == "colour")["correct"].mean())
        if looks:
            assert colour.accuracy == 1.0 and colour.interval[0] > lower  # another image, another colour
        else:
            assert colour.gap == 0.0 and colour.interval == (0.0, 0.0)
        assert found["overall"].n == 80


def test_diagnosis_and_brief_carry_the_gap():
    rows = items()
    model = ColourReader(looks=False)
    results = model.greedy_results(rows)
    diagnosis = with_shuffle(aggregate(results, prior_strength=0), gaps(results, model.greedy_results(shuffled(rows, 0))))
    cell = next(c for c in diagnosis.cells if c.key == "colour/swatch")
    assert cell.shuffle.gap == 0.0 and diagnosis.shuffle.n == 80
    assert "not shown to look at the image" in weakness_brief(diagnosis, 1)
