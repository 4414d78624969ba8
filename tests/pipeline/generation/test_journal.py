"""The journal starts afresh over tables it cannot resume: other inputs, or an older schema."""

import pyarrow as pa

from pipeline import artifacts, lake, schemas
from pipeline.generation.journal import Journal


def attempt(i: int, outcome: str = "rejected") -> dict:
    return {"attempt_id": f"r1/a/t/{i:05d}", "round": "r1", "cell": "a/t", "outcome": outcome, "reason": "x",
            "source_image_id": "", "calls": "[]", "notes": "[]"}


def test_a_journal_from_an_older_schema_or_other_inputs_is_replaced(tmp_path):
    samples, attempts = tmp_path / "samples.lance", tmp_path / "attempts.lance"
    lake.write_path(samples, pa.Table.from_pylist([], schemas.SAMPLES))
    lake.write_path(attempts, pa.table({"attempt_id": ["r1/a/t/00000"], "calls": ["[]"]}))  # an old layout
    journal = Journal(samples, attempts, key="k1", every=1)
    assert journal.attempts == [] and not journal.written
    journal.record(attempt(0), None)  # the first write replaces the old table
    assert [r["run_key"] for r in artifacts.read_table(attempts, schemas.ATTEMPTS).to_pylist()] == ["k1"]

    resumed = Journal(samples, attempts, key="k1")
    assert [a["attempt_id"] for a in resumed.attempts] == ["r1/a/t/00000"] and resumed.written
    assert Journal(samples, attempts, key="k2").attempts == []  # other inputs: not resumed
