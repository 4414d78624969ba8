"""`dpe`: every subcommand documents an example and its exit statuses under --help."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main as cli

COMMANDS = ["check", "overlay", "advance", "samples", "review", "status", "compare", "audit", "report"]
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
    assert listed == COMMANDS  # in the order the help has always listed them
    groups = [cli.config.COMMANDS, cli.rounds.COMMANDS, cli.compare.COMMANDS, cli.auditing.COMMANDS]
    assert sorted(c for g in groups for c in g) == sorted(cli.ORDER)  # no group's command left unregistered
    assert all(f"`{c}`" in cli.__doc__ for c in COMMANDS)  # the module says what each command is for


def test_gate_decision_reads_the_round_gate_from_train_metrics(tmp_path):
    import json

    from pipeline.cli.rounds import gate_decision

    path = tmp_path / "train.json"
    assert gate_decision(path) == ""
    path.write_text(json.dumps({"steps": 3}))
    assert gate_decision(path) == ""  # a round trained without the gate
    path.write_text(json.dumps({"gate.step": 0.0, "gate.accepted": 0, "gate.gain": 0.0, "gate.items": 10}))
    assert gate_decision(path) == "carried over"
    path.write_text(json.dumps({"gate.step": 0.5, "gate.accepted": 1, "gate.gain": 0.0125, "gate.items": 2496}))
    assert gate_decision(path) == "step 0.5 kept (+0.013 on 2496 dev items)"
