"""`dpe`: every subcommand documents an example and its exit statuses under --help."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from pipeline import cli

COMMANDS = ["check", "overlay", "advance", "status", "compare", "samples", "audit", "report", "work"]
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_an_example_and_exit_statuses(command, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and "example:" in out and "exit status:" in out and f"dpe {command}" in out


def test_the_list_of_subcommands_is_complete(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    listed = capsys.readouterr().out.split("{", 1)[1].split("}", 1)[0].split(",")
    assert sorted(listed) == sorted(COMMANDS)


def test_work_runs_the_rounds_own_generate_command_as_a_helper(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    rounds = yaml.safe_load((REPO / "params.yaml").read_text())["rounds"]
    name = sorted(rounds)[-1]
    assert cli.main(["work", "--round", name, "--threads", "2", "--dry-run"]) == 0
    argv = shlex.split(capsys.readouterr().out)
    assert argv[1:3] == ["-m", "stages.generate"] and argv[-3:] == ["--follow", "--threads", "2"]
    assert argv[argv.index("--attempts") + 1] == f"data/rounds/{name}/attempts.lance"
    assert argv[argv.index("--round") + 1] == name

    assert cli.main(["work", "--round", "r999", "--dry-run"]) == 2
    assert "r999" in capsys.readouterr().err


def test_gate_decision_reads_the_round_gate_from_train_metrics(tmp_path):
    import json

    from pipeline.cli import gate_decision

    path = tmp_path / "train.json"
    assert gate_decision(path) == ""
    path.write_text(json.dumps({"steps": 3}))
    assert gate_decision(path) == ""  # a round trained without the gate
    path.write_text(json.dumps({"gate.step": 0.0, "gate.accepted": 0, "gate.gain": 0.0, "gate.items": 10}))
    assert gate_decision(path) == "carried over"
    path.write_text(json.dumps({"gate.step": 0.5, "gate.accepted": 1, "gate.gain": 0.0125, "gate.items": 2496}))
    assert gate_decision(path) == "step 0.5 kept (+0.013 on 2496 dev items)"
