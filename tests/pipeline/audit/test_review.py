"""`dpe review`: a stratified page of a round's samples that a person marks in a real browser, the marks saved,
imported, checked against the round and counted into label precision per cell."""

import json
import time

import pytest
from PIL import Image

from pipeline.audit.review import ReviewError, pick, precision, read_marks
from pipeline.cli import main as cli
from pipeline.storage import lake, schemas
from pipeline.storage.images import encode_png
from pipeline.storage.schemas import Sample

CELLS = ["counting/shapes"] * 6 + ["text/document"] * 2


def sample(i: int, cell: str) -> Sample:
    image = encode_png(Image.new("RGB", (32, 32), (40 * i % 255, 90, 160)))
    blank = {name: None for name in schemas.SAMPLES.names}
    return Sample(**blank | {"sample_id": f"s{i:02d}", "round": "r1", "cell": cell, "category": cell.split("/")[0],
                             "image_type": cell.split("/")[1], "source_image_id": f"img{i:04d}", "edits": "[]",
                             "question": f"How many shapes are there in picture {i}?", "answer": str(i % 5),
                             "answer_type": "integer", "options": [], "image": image, "role_models": "{}",
                             "edit_outputs": []})


@pytest.fixture
def round_dir(tmp_path):
    rows = [sample(i, cell) for i, cell in enumerate(CELLS)]
    lake.write_path(tmp_path / "rounds/r1/samples.lance", schemas.to_table(rows, Sample))
    return tmp_path


def test_the_page_draws_every_cell_before_repeating_one():
    rows = [sample(i, cell).__dict__ for i, cell in enumerate(CELLS)]
    assert [r["cell"] for r in pick(rows, 4, 0)] == ["counting/shapes", "text/document"] * 2
    assert [r["sample_id"] for r in pick(rows, 4, 0)] == [r["sample_id"] for r in pick(rows, 4, 0)]  # seeded


def test_marks_are_checked_against_the_round_and_counted_per_cell(tmp_path):
    ids = {f"s{i:02d}" for i in range(8)}
    good = tmp_path / "marks.json"
    good.write_text(json.dumps({"round": "r1", "marks": {"s00": "correct", "s01": "wrong", "s06": "unclear"}}))
    marks = read_marks(good, "r1", ids)
    found = precision(marks, {f"s{i:02d}": c for i, c in enumerate(CELLS)})
    assert found[""]["precision"] == 0.5 and found[""]["n"] == 2 and found[""]["unclear"] == 1
    assert found["text/document"]["precision"] is None and found["text/document"]["unclear"] == 1
    for bad, said in (({"round": "r2", "marks": {}}, "round 'r2'"), ({"round": "r1", "marks": {"x9": "correct"}},
                      "does not have"), ({"round": "r1", "marks": {"s00": "maybe"}}, "maybe")):
        good.write_text(json.dumps(bad))
        with pytest.raises(ReviewError, match=said):
            read_marks(good, "r1", ids)


@pytest.mark.slow  # a real Chromium
def test_a_person_marks_the_page_saves_and_the_marks_are_imported(round_dir, tmp_path):
    from tests.browser import Person

    page, downloads = tmp_path / "review.html", tmp_path / "downloads"
    downloads.mkdir()
    base = ["--rounds-dir", str(round_dir / "rounds"), "--reviews", str(round_dir / "reviews"), "--round", "r1"]
    assert cli.main(["review", "--n", "4", "--out", str(page), *base]) == 0
    person = Person(downloads)
    try:
        person.open(page)
        for selector in ("#correct-0", "#wrong-1", "#correct-2", "#unclear-3", "#save"):
            person.click(selector)
        deadline = time.time() + 30
        while not list(downloads.glob("review-r1.json")) and time.time() < deadline:
            time.sleep(0.2)
        shown = person.read("document.getElementById('marks-json').value")
        status = person.read("document.getElementById('status').textContent")
    finally:
        person.close()
    (saved,) = downloads.glob("review-r1.json")
    marks = json.loads(saved.read_text())
    assert marks == json.loads(shown) and sorted(marks["marks"].values()) == ["correct", "correct", "unclear", "wrong"]
    assert status == "4 marks saved"
    assert cli.main(["review", "--import", str(saved), *base]) == 0
    stored = json.loads((round_dir / "reviews/r1.json").read_text())
    assert stored == {"round": "r1", "marks": dict(sorted(marks["marks"].items()))}


def test_the_audit_reports_label_precision_from_the_truth_and_from_a_review(tmp_path):
    from pipeline.audit.review import label_quality

    rows = [sample(i, cell) for i, cell in enumerate(CELLS)]
    rows = [Sample(**r.__dict__ | {"label_correct": i != 3}) for i, r in enumerate(rows)]
    samples = schemas.to_table(rows, Sample)
    trainset = samples.slice(0, 4)
    metrics, text = label_quality(tmp_path, "r1", samples, trainset)
    assert metrics["label_precision.accepted"] == 7 / 8 and metrics["label_precision.trained"] == 3 / 4
    assert "accepted 0.875" in text and "review" not in metrics
    (tmp_path / "r1.json").write_text(json.dumps({"round": "r1", "marks": {"s00": "correct", "s07": "wrong"}}))
    metrics, text = label_quality(tmp_path, "r1", samples, trainset)
    assert metrics["review.all.precision"] == 0.5 and metrics["review.text/document.precision"] == 0.0
    assert metrics["review.counting/shapes.n"] == 1 and "- text/document: 0.000" in text
