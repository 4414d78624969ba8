"""`dpe`: every subcommand documents an example and its exit statuses under --help."""

from __future__ import annotations

import pytest

from pipeline import cli

COMMANDS = ["check", "overlay", "advance", "status", "compare", "samples", "audit", "report"]


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
