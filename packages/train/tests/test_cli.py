"""finr1-train CLI basics: --version, env, --help on every subcommand, and the import boundary."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from finr1_core.testing.boundaries import cross_tool_imports
from finr1_train.cli import cli, main


def test_version(capsys):
    assert main(["--version"]) == 0
    assert "finr1-train, version 0.1.0" in capsys.readouterr().out


def test_env_reports_versions_and_gpus(capsys):
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert "finr1-train" in out and "python" in out and "gpus" in out


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_help_for_every_subcommand(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_imports_no_other_tool():
    src = Path(__file__).resolve().parents[1] / "src"
    assert cross_tool_imports(src, "finr1_train") == []


def test_rewards_lists_the_registry(capsys):
    assert main(["rewards"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["accuracy", "format", "tag_count", "accuracy_llm"]
