"""The checks every finr1 tool's CLI must pass, written once: each package's ``tests/test_cli.py`` collects them.

Usage, in ``packages/<tool>/tests/test_cli.py``::

    from finr1_core.testing.cli_contract import cli_contract
    from finr1_distill.cli import cli, main

    TestCli = cli_contract(cli, main, dist="finr1-distill")

The class holds: ``--version`` prints the installed version; ``env`` reports the tool's and finr1-core's
versions, Python and GPUs; ``--help`` works on the group and on every subcommand (nested groups too) and
names the command; an unknown option or command is a usage error (exit 2, Click's ``Error:`` line, no traceback); the tool's
sources import no other finr1 tool. Only click, pytest and finr1-core are needed, so each package's suite still
runs alone.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from finr1_core.testing.boundaries import cross_tool_imports

__all__ = ["cli_contract", "command_paths"]


def command_paths(group: click.Group) -> Iterator[tuple[str, ...]]:
    """Every subcommand of ``group`` as a path of names, depth first, nested groups included."""
    for name in sorted(group.commands):
        command = group.commands[name]
        yield (name,)
        if isinstance(command, click.Group):
            yield from ((name, *rest) for rest in command_paths(command))


def cli_contract(
    cli: click.Group,
    main: Callable[[Sequence[str]], int],
    *,
    dist: str,
    package: str | None = None,
) -> type:
    """Build the test class for one tool.

    Args:
        cli: The tool's Click group (``finr1_<tool>.cli.cli``).
        main: Its ``main(argv) -> int`` entry point.
        dist: The distribution name (``finr1-distill``); ``--version`` and ``env`` must report its version.
        package: The import name whose sources must not import another tool (``dist`` with ``_`` by default).
    """
    top = package or dist.replace("-", "_")
    paths = list(command_paths(cli))
    prog = cli.name or dist

    class CliContract:
        """Shared CLI checks (finr1_core.testing.cli_contract)."""

        def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
            assert main(["--version"]) == 0
            assert capsys.readouterr().out == f"{prog}, version {importlib.metadata.version(dist)}\n"

        def test_env_reports_versions_and_gpus(self, capsys: pytest.CaptureFixture[str]) -> None:
            assert main(["env"]) == 0
            rows = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines() if line.strip())
            assert rows[dist] == importlib.metadata.version(dist)
            assert rows["finr1-core"] == importlib.metadata.version("finr1-core")
            assert rows["python"] == platform.python_version()
            assert rows["gpus"]

        def test_help_of_the_group_lists_every_subcommand(self) -> None:
            result = CliRunner().invoke(cli, ["--help"])
            assert result.exit_code == 0, result.output
            listed = result.output.split("Commands:", 1)[-1]
            assert [name for name in sorted(cli.commands) if name not in listed] == []

        @pytest.mark.parametrize("path", paths, ids=[" ".join(p) for p in paths])
        def test_help_for_every_subcommand(self, path: tuple[str, ...]) -> None:
            result = CliRunner().invoke(cli, [*path, "--help"])
            assert result.exit_code == 0, result.output
            assert result.output.startswith(f"Usage: {prog} {' '.join(path)} "), result.output

        @pytest.mark.parametrize("argv", [["--no-such-option"], ["no-such-command"]], ids=["option", "command"])
        def test_usage_error_exits_2_without_traceback(
            self, argv: list[str], capsys: pytest.CaptureFixture[str]
        ) -> None:
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("Error: "), err

        def test_imports_no_other_tool(self) -> None:
            src = Path(importlib.import_module(top).__file__ or "").parent
            assert list(src.rglob("*.py")), f"no sources found for {top} under {src}"
            assert cross_tool_imports(src, top) == []

    CliContract.__name__ = CliContract.__qualname__ = f"CliContract[{dist}]"
    return CliContract
