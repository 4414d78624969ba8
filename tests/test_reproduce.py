"""benchmarks/reproduce.py: the byte-for-byte check tells wall time apart from a real difference."""

from __future__ import annotations

import json

from benchmarks.reproduce import compare, verdict


def test_only_wall_time_keys_differing_is_its_own_verdict(tmp_path):
    committed = {"metrics/r1/train.json": json.dumps({"gate.gain": 0.01, "gate.seconds": 60.5}).encode(),
                 "metrics/r1/evaluate.json": b'{"accuracy": 0.8}\n', "metrics/r2/train.json": b"{}"}
    (tmp_path / "metrics/r1").mkdir(parents=True)
    (tmp_path / "metrics/r1/train.json").write_text(json.dumps({"gate.gain": 0.01, "gate.seconds": 12.6}))
    (tmp_path / "metrics/r1/evaluate.json").write_text('{"accuracy": 0.8}\n')
    assert compare(tmp_path, committed) == {"metrics/r1/evaluate.json": "equal",
                                            "metrics/r1/train.json": "wall time only: gate.seconds",
                                            "metrics/r2/train.json": "missing"}
    assert verdict(json.dumps({"gate.gain": 0.02, "gate.seconds": 1.0}).encode(),
                   committed["metrics/r1/train.json"]) == "different"  # a real change is never masked
    assert verdict(b"a,b\n1,2\n", b"a,b\n1,3\n") == "different"  # not JSON: bytes decide
