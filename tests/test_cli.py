import subprocess
import sys

import pytest

from portrait_edge import cli

ALL_COMMANDS = [name for name, _, _ in cli.COMMANDS]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "portrait_edge.cli", *args], capture_output=True, text=True, timeout=120)


def test_top_level_help_lists_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for name in ALL_COMMANDS:
        assert name in result.stdout


def test_no_command_prints_help_and_fails():
    result = run_cli()
    assert result.returncode != 0
    assert "COMMAND" in result.stdout


@pytest.mark.parametrize("name", ALL_COMMANDS)
def test_every_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([name, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"portrait-edge {name}" in out
    assert len(out.splitlines()) >= 3


def test_missing_capability_is_reported_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_command_module", lambda name: None)
    assert cli.main(["bench"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not available" in err and "Traceback" not in err


def test_tasks_command_lists_the_registry():
    result = run_cli("tasks")
    assert result.returncode == 0
    assert "parsing" in result.stdout and "maskedit" in result.stdout
