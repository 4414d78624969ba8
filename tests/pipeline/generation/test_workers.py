"""Two generate workers on the same round (the DVC stage and a helper with --follow) share its attempts and
end with exactly one worker's result: no duplicate ids, no lost rows, even when the helper is killed."""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from pipeline import artifacts, schemas
from pipeline.generation.claims import Claims, RoundDone, folder_for, read_outcome
from pipeline.generation.generate import Outcome
from pipeline.runtime import KILL_AT
from pipeline.schemas import Call
from tests.pipeline.generation.test_resume import (
    REPO,
    command,
    env,
    inputs,
    rows,
)

pytestmark = pytest.mark.slow  # runs the stage (and a trained CLIP) in subprocesses


def wide(args: dict, tmp: Path) -> dict:
    """Waves of 6 attempts: each worker makes up to 3 at once, so two of them share every wave."""
    params = yaml.safe_load(Path(args["--params"]).read_text())
    params["generate"]["concurrency"] = 6
    (tmp / "wide.yaml").write_text(yaml.safe_dump(params))
    return args | {"--params": tmp / "wide.yaml"}


def made(log: str) -> int:
    return int(re.search(r"this worker made (\d+)", log).group(1))


def result(out: Path) -> dict:
    return {"attempts": [r["attempt_id"] for r in rows(out, "attempts", schemas.ATTEMPTS)],
            "samples": [r["sample_id"] for r in rows(out, "samples", schemas.SAMPLES)],
            "metrics": json.loads((out / "m.json").read_text()),
            "seen": artifacts.read_table(out / "seen.parquet", schemas.SEEN)["sample_id"].to_pylist()}


def start(args: dict, out: Path, *extra: str, kill_at: str = "") -> subprocess.Popen:
    return subprocess.Popen(command(args, out) + ["--threads", "3", *extra], cwd=REPO,
                            env=env() | ({KILL_AT: kill_at} if kill_at else {}), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_two_workers_share_a_round_and_end_with_one_workers_result(world_pool, tmp_path):
    args = wide(inputs(world_pool, tmp_path), tmp_path)
    alone, shared, killed = tmp_path / "alone", tmp_path / "shared", tmp_path / "killed"
    subprocess.run(command(args, alone), cwd=REPO, env=env(), check=True, capture_output=True, timeout=300)
    expected = result(alone)
    assert len(expected["attempts"]) > 12 and len(set(expected["attempts"])) == len(expected["attempts"])

    helper, leader = start(args, shared, "--follow"), start(args, shared)
    logs = [p.communicate(timeout=300)[0] for p in (helper, leader)]
    assert [p.returncode for p in (helper, leader)] == [0, 0], logs
    assert result(shared) == expected  # same rows in the same order: none duplicated, none lost
    assert made(logs[0]) > 0 and made(logs[1]) > 0, logs  # both did some of the work, each attempt once
    assert made(logs[0]) + made(logs[1]) == len(expected["attempts"])
    assert not Path(f"{shared}/attempts.lance.work").exists()  # the leader cleared the shared attempts

    # a helper killed mid-round (as it publishes its third outcome): its claims are taken over, nothing is lost
    leader, helper = start(args, killed), start(args, killed, "--follow", kill_at="claims.publish:3")
    helper.communicate(timeout=300)
    assert helper.returncode == -signal.SIGKILL, "the helper finished before its third outcome"
    log = leader.communicate(timeout=300)[0]
    assert leader.returncode == 0, log
    assert result(killed) == expected


def test_a_second_leader_follows_instead_of_writing(world_pool, tmp_path):
    """Two copies of the stage itself (no --follow): the second finds the leader lock held and only helps."""
    args = wide(inputs(world_pool, tmp_path), tmp_path)
    out = tmp_path / "out"
    first, second = start(args, out), start(args, out)
    logs = [p.communicate(timeout=300)[0] for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], logs
    assert sum("following: another worker leads" in log for log in logs) == 1, logs
    ids = result(out)["attempts"]
    assert len(ids) == len(set(ids)) > 12


def outcome(i: int) -> Outcome:
    return Outcome(None, "no_retrieval", f"img{i}", [Call(role="planner", backend="world", model="m",
                                                             prompt_tokens=i)], ["retrieval.untagged"])


def test_a_claim_is_made_once_and_a_dead_workers_claim_is_taken_over(tmp_path):
    folder = folder_for(tmp_path / "attempts.lance", "k")
    a, b = Claims(folder, leader="the lock"), Claims(folder)  # a leads, b helps
    assert a.make("r1/c/t/00000", lambda: outcome(0)).image_id == "img0"
    assert b.make("r1/c/t/00000", lambda: outcome(9)).image_id == "img0"  # published: read, not remade
    assert b.made == 0 and a.made == 1

    (folder / "r1__c__t__00001.claim").write_text("ghost-host:1")  # a live worker elsewhere holds it
    assert a.make("r1/c/t/00001", lambda: outcome(1)) is None
    (folder / "r1__c__t__00001.claim").write_text(f"{b.me.rpartition(':')[0]}:999999999")  # dead on this host
    taken = a.wait("r1/c/t/00001", lambda: outcome(1))
    assert taken.calls[0].prompt_tokens == 1 and taken.notes == ["retrieval.untagged"]
    assert read_outcome(folder / "r1__c__t__00001.outcome").image_id == "img1"

    empty = folder / "r1__c__t__00002.claim"  # a claim nobody wrote into, a while ago: taken over
    empty.touch()
    os.utime(empty, (time.time() - 60, time.time() - 60))
    assert a.make("r1/c/t/00002", lambda: outcome(2)) is None
    assert a.wait("r1/c/t/00002", lambda: outcome(2)).image_id == "img2"
    assert sorted(p.suffix for p in folder.iterdir()) == [".claim"] * 3 + [".outcome"] * 3  # no private names left

    a.close({"attempts": 3})  # the leader is done: waiting workers stop
    assert not folder.exists()
    with pytest.raises(RoundDone):
        b.make("r1/c/t/00003", lambda: outcome(3))
