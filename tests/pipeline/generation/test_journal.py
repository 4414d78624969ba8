"""The journal starts afresh over tables it cannot resume (other inputs, or an older schema); its rows are typed;
and one process at a time writes a round, under a lock the kernel drops when its holder dies."""

import dataclasses
import signal
import subprocess
import sys

import pyarrow as pa
import pytest

from pipeline.generation.journal import Journal, RoundBusy, hold
from pipeline.storage import artifacts, lake, schemas
from pipeline.storage.schemas import Attempt, Sample


def attempt(i: int, outcome: str = "rejected") -> Attempt:
    return Attempt(attempt_id=f"r1/a/t/{i:05d}", round="r1", cell="a/t", outcome=outcome, reason="x",
                   source_image_id="", calls="[]", notes="[]", run_key="", started_at="", finished_at="")


def test_a_journal_from_an_older_schema_or_other_inputs_is_replaced(tmp_path):
    samples, attempts = tmp_path / "samples.lance", tmp_path / "attempts.lance"
    lake.write_path(samples, pa.Table.from_pylist([], schemas.SAMPLES))
    lake.write_path(attempts, pa.table({"attempt_id": ["r1/a/t/00000"], "calls": ["[]"]}))  # an old layout
    journal = Journal(samples, attempts, key="k1", every=1)
    assert journal.attempts == [] and not journal.written
    journal.record(attempt(0), None)  # the first write replaces the old table
    assert [r["run_key"] for r in artifacts.read_table(attempts, schemas.ATTEMPTS).to_pylist()] == ["k1"]

    resumed = Journal(samples, attempts, key="k1")
    assert resumed.attempts == [dataclasses.replace(attempt(0), run_key="k1")] and resumed.written
    assert Journal(samples, attempts, key="k2").attempts == []  # other inputs: not resumed


def test_rows_are_typed_once_and_a_misspelt_field_fails():
    assert schemas.SAMPLES == schemas.arrow_schema(Sample) and schemas.ATTEMPTS.names[0] == "attempt_id"
    assert schemas.SAMPLES.field("retrieval_score").type == pa.float32()  # declared in the dataclass
    with pytest.raises(TypeError, match="reasn"):
        Attempt(**{**dataclasses.asdict(attempt(0)), "reasn": "typo"})
    row = {f.name: None for f in dataclasses.fields(Sample)} | {"edit_outputs": [{"id": "generated:x", "image": b"1"}]}
    assert schemas.from_row(Sample, row).edit_outputs == [schemas.EditOutput("generated:x", b"1")]


def test_a_second_writer_of_a_round_is_refused_until_the_first_dies(tmp_path):
    path = tmp_path / "r1" / "attempts.lance"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom pipeline.generation.journal import hold\n"
                               f"hold({str(path)!r}); print('held', flush=True); time.sleep(120)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RoundBusy, match=f"pid {holder.pid}.*one writer"):
            hold(path)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert hold(path).is_locked  # the kernel dropped the dead holder's lock: nothing to clean up by hand
