"""Shared CLI plumbing: env report, one-line errors, exit codes."""

from __future__ import annotations

import click

from finr1_core.cli import run, tool_group
from finr1_core.errors import InputError


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
    assert run(make(), ["env"]) == 0
    out = capsys.readouterr().out
    for name in ("finr1-core", "python", "torch", "transformers", "gpus"):
        assert name in out


def test_finr1_error_is_one_line_exit_1(capsys):
    assert run(make(), ["go", "--fail"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "error: cases.jsonl line 3: missing field 'reference'"


def test_usage_error_exit_2_and_version(capsys):
    assert run(make(), ["go", "--nope"]) == 2
    assert run(make(), ["--version"]) == 0
    assert "finr1-x, version" in capsys.readouterr().out
