"""Probe/evaluation sources of every kind land in the one item schema; probe hygiene."""

import base64
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.config.params import ParamsError, parse_params
from pipeline.diagnosis.itemsets import ItemSourceError, load_items, overlap, resample
from pipeline.storage import schemas


def png(c) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (c, 0, 0)).save(buf, format="PNG")
    return buf.getvalue()


def test_hf_style_parquet_with_mapped_columns(tmp_path):
    pq.write_table(pa.table({
        "id": [7, 8, 9],
        "img": [{"bytes": png(1), "path": None}, {"bytes": png(2), "path": None}, {"bytes": png(3), "path": None}],
        "prompt": ["How many?", "Which is red?", "What animal?"],
        "label": ["1,200", "square", "Cat"],
        "choices": [None, ["circle", "square"], []],
        "task": ["count", "perception", "perception"],
        "kind": ["photo", "diagram", "photo"],
    }), tmp_path / "bench.parquet")
    items = load_items(str(tmp_path / "bench.parquet"), columns={
        "index": "id", "image": "img", "question": "prompt", "answer": "label", "options": "choices",
        "category": "task", "image_type": "kind"})
    assert [i["answer_type"] for i in items] == ["integer", "choice", "word"]
    assert items[1]["answer"] == "B" and items[1]["options"] == ["circle", "square"]  # option text -> letter
    assert [i["category"] for i in items] == ["count", "perception", "perception"]
    assert items[0]["item_id"] == "7" and items[0]["image"] == png(1)


def test_vlmevalkit_tsv(tmp_path):
    b64 = [base64.b64encode(png(c)).decode() for c in (4, 5)]
    (tmp_path / "mmb.tsv").write_text(
        "index\timage\tquestion\tA\tB\tC\tD\tanswer\tcategory\n"
        f"0\t{b64[0]}\tWhat colour?\tred\tblue\tgreen\t\tA\tcolour_recognition\n"
        f"1\t{b64[1]}\tHow many?\t1\t2\t3\t4\tD\tcounting\n")
    items = load_items(str(tmp_path / "mmb.tsv"))
    assert items[0]["options"] == ["red", "blue", "green"] and items[1]["options"] == ["1", "2", "3", "4"]
    assert [i["answer"] for i in items] == ["A", "D"] and items[1]["image"] == png(5)
    assert {i["answer_type"] for i in items} == {"choice"} and items[0]["category"] == "colour_recognition"


def test_missing_column_is_named(tmp_path):
    pq.write_table(pa.table({"image": [png(1)], "question": ["q"]}), tmp_path / "b.parquet")
    with pytest.raises(ItemSourceError, match=r"no column 'answer'.*columns: \{answer: <column name>\}"):
        load_items(str(tmp_path / "b.parquet"))
    pq.write_table(pa.table({"image": [png(1)], "q": ["q"], "answer": ["x"]}), tmp_path / "c.parquet")
    with pytest.raises(ItemSourceError, match="'query'"):
        load_items(str(tmp_path / "c.parquet"), columns={"question": "query"})
    with pytest.raises(ParamsError, match="probe.columns"):
        parse_params({"probe": {"columns": {"qestion": "q"}}})


def test_world_files_load_as_they_are(tiny_world):
    out, _, _ = tiny_world
    items = load_items(str(out / "probe.parquet"))
    fields = schemas.ITEMS.names  # the item schema's fields, as the world wrote them
    assert items == [{k: row[k] for k in fields} for row in pq.read_table(out / "probe.parquet").to_pylist()]
    assert overlap(items, load_items(str(out / "eval.parquet"))) == 0


def test_probe_must_not_be_the_evaluation_set():
    with pytest.raises(ParamsError, match="disjoint"):
        parse_params({"probe": {"source": "x.parquet"}, "evaluation": {"source": "./x.parquet"}})


def test_resample_is_stratified_seeded_and_fresh_per_round():
    items = [{"item_id": f"{c}{t}{i}", "category": c, "image_type": t} for c in "ab" for t in "xy" for i in range(10)]
    r1, r1_again, r2 = resample(items, 0.5, "0:r1"), resample(items, 0.5, "0:r1"), resample(items, 0.5, "0:r2")
    assert r1 == r1_again and r1 != r2
    for sample in (r1, r2):
        assert len(sample) == 20
        assert all(sum(i["category"] == c and i["image_type"] == t for i in sample) == 5 for c in "ab" for t in "xy")
    assert len(resample(items[:1], 0.1, 0)) == 1  # never empties a cell


def test_overlap_counts_same_image_and_question():
    a = [{"image": png(1), "question": "q"}, {"image": png(2), "question": "q"}]
    b = [{"image": png(1), "question": "q"}, {"image": png(2), "question": "other"}]
    assert overlap(a, b) == 1
