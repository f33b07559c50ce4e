"""Shared CLI plumbing: env report, one-line errors, exit codes; the CLI contract every tool's tests collect."""

from __future__ import annotations

import json
import logging

import click
import pytest

from finr1_core.cli import echo, flag_overrides, run, tool_group
from finr1_core.config import StrictModel, load_config
from finr1_core.errors import EndpointError, InputError
from finr1_core.runner import EndpointConfig
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


# --- redaction, JSON error lines and setting names (issue 14) ----------------------------------------------

SECRET_URL = "http://alice:pa55-w0rd-xyz@127.0.0.1:9/v1"


class _Teacher(EndpointConfig):
    base_url: str = "http://127.0.0.1:9/v1"
    model: str = "m"


class _Cfg(StrictModel):
    teacher: _Teacher = _Teacher()
    concurrency: int = 4


@pytest.fixture(autouse=True)
def _restore_logging():
    """The group callback configures logging on the test's stderr; put the root logger back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def make_secretive():
    group = tool_group("finr1-x", "finr1-core", "Test tool.")

    @group.command()
    @click.option("--fail", is_flag=True)
    @click.option("--leak", is_flag=True)
    @click.option("--bug", is_flag=True)
    def go(fail, leak, bug):
        """Do it (or fail in ways that carry a secret)."""
        if fail:
            raise InputError("cases.jsonl line 3: missing field 'reference'")
        if leak:
            raise EndpointError(f"cannot reach {SECRET_URL}/models: refused")
        if bug:
            raise RuntimeError(f"unexpected state for {SECRET_URL}")
        echo(f"went to {SECRET_URL}")

    @group.command()
    @click.option("--model", default=None)
    @click.option("--workers", "concurrency", default=None)
    @click.pass_context
    def cfg(ctx, **flags):
        """Load a config."""
        overrides, names = flag_overrides(flags, {"teacher.model": "model", "concurrency": "concurrency"})
        config = load_config(_Cfg, None, overrides, flags=names)
        echo(f"{config.teacher.setting_name('model')} {config.teacher.setting_name('base_url')}")

    return group


def test_error_lines_and_console_lines_are_redacted(capsys):
    assert run(make_secretive(), ["go", "--leak"]) == 1
    assert run(make_secretive(), ["go"]) == 0
    captured = capsys.readouterr()
    assert "pa55-w0rd-xyz" not in captured.err + captured.out
    assert captured.err.strip() == "error: cannot reach http://alice:<redacted>@127.0.0.1:9/v1/models: refused"


def test_a_bug_keeps_its_traceback_redacted_and_exits_1(capsys):
    assert run(make_secretive(), ["go", "--bug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RuntimeError: unexpected state" in err
    assert "pa55-w0rd-xyz" not in err


def test_json_log_format_makes_the_final_error_line_json(capsys):
    assert run(make_secretive(), ["--log-format", "json", "go", "--leak"]) == 1
    assert run(make_secretive(), ["--log-format", "json", "go", "--bug"]) == 1
    assert run(make_secretive(), ["--log-format", "json", "go", "--nope"]) == 2
    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    assert [(line["level"], line["kind"], line["exit_code"]) for line in lines] == [
        ("ERROR", "error", 1),
        ("ERROR", "bug", 1),
        ("ERROR", "usage", 2),
    ]
    assert lines[0]["message"].startswith("cannot reach http://alice:<redacted>@")
    assert "pa55-w0rd-xyz" not in json.dumps(lines) and "no such option" in lines[2]["message"].lower()


def test_config_errors_and_setting_names_use_the_flag_the_user_typed(capsys):
    assert run(make_secretive(), ["cfg", "--model", "x"]) == 0
    assert capsys.readouterr().out.strip() == "--model teacher.base_url"
    assert run(make_secretive(), ["cfg", "--workers", "many"]) == 1
    assert capsys.readouterr().err.strip().startswith("error: --workers: expected an integer, got 'many'")
