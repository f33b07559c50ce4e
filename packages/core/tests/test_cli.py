"""Shared CLI plumbing: env report, one-line errors, exit codes; the CLI contract every tool's tests collect."""

from __future__ import annotations

import click
import pytest

from finr1_core.cli import run, tool_group
from finr1_core.errors import InputError
from finr1_core.testing.cli_contract import cli_contract, command_paths


def make():
    group = tool_group("finr1-x", "finr1-core", "Test tool.")

    @group.command()
    @click.option("--fail", is_flag=True)
    def go(fail):
        """Do it."""
        if fail:
            raise InputError("cases.jsonl line 3: missing field 'reference'")
        click.echo("went")

    return group


def test_env_lists_versions_python_and_gpus(capsys):
    import importlib.metadata
    import platform

    assert run(make(), ["env"]) == 0
    rows = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert rows["finr1-core"] == importlib.metadata.version("finr1-core")
    assert rows["python"] == platform.python_version() and rows["gpus"]
    for lib in ("torch", "transformers"):  # a version, or "not installed" where this package's env lacks it
        try:
            expected = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            expected = "not installed"
        assert rows[lib] == expected


def test_finr1_error_is_one_line_exit_1(capsys):
    assert run(make(), ["go", "--fail"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "error: cases.jsonl line 3: missing field 'reference'"


def test_usage_error_exit_2_and_version(capsys):
    assert run(make(), ["go", "--nope"]) == 2
    assert run(make(), ["--version"]) == 0
    assert "finr1-x, version" in capsys.readouterr().out


# --- the shared CLI contract (finr1_core.testing.cli_contract), run on a toy tool with a nested group ------------


def make_nested():
    group = make()

    @group.group()
    def sub():
        """A nested group."""

    @sub.command()
    def leaf():
        """A nested command."""

    return group


TestToyToolContract = cli_contract(make_nested(), lambda argv: run(make_nested(), argv), dist="finr1-core")


def test_contract_walks_nested_groups():
    assert list(command_paths(make_nested())) == [("env",), ("go",), ("sub",), ("sub", "leaf")]


def test_contract_fails_a_subcommand_whose_help_breaks():
    class BrokenHelp(click.Command):
        def format_help(self, ctx, formatter):
            raise RuntimeError("help text could not be rendered")

    group = make()
    group.add_command(BrokenHelp("broken", help="Broken."))
    contract = cli_contract(group, lambda argv: run(group, argv), dist="finr1-core")()
    contract.test_help_for_every_subcommand(("go",))
    with pytest.raises(AssertionError):
        contract.test_help_for_every_subcommand(("broken",))


def test_contract_fails_a_wrong_version(capsys):
    group = tool_group("finr1-x", "not-installed-dist", "Test tool.")
    contract = cli_contract(group, lambda argv: run(group, argv), dist="finr1-core")()
    with pytest.raises(AssertionError):
        contract.test_version(capsys)
