"""Click plumbing shared by the five finr1 tools.

Every tool is ``tool_group(...)`` plus its verb subcommands. The group carries the shared options
(``--version``, ``--log-level``, ``--log-format``) and an ``env`` command; :func:`run` is the
``main(argv) -> int`` entry point that turns :class:`~finr1_core.errors.Finr1Error` into one line on
stderr and exit code 1, while bugs keep their traceback.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from finr1_core.errors import Finr1Error
from finr1_core.logging import LOG_LEVELS, setup_logging

# Libraries whose versions `env` reports (absent ones are listed as "not installed").
ENV_LIBRARIES = (
    "finr1-core",
    "torch",
    "transformers",
    "trl",
    "vllm",
    "accelerate",
    "deepspeed",
    "datasets",
    "huggingface-hub",
    "tokenizers",
    "openai",
    "httpx",
    "pydantic",
    "click",
    "math-verify",
)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _gpus() -> str:
    """Describe visible GPUs without importing torch unless it is installed."""
    if _version("torch") is None:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        return f"unknown (torch not installed; CUDA_VISIBLE_DEVICES={visible!r})"
    import torch

    if not torch.cuda.is_available():
        return "none (CUDA not available)"
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return f"{len(names)}: " + ", ".join(names)


def env_report(dist_name: str) -> list[tuple[str, str]]:
    """Return (name, value) rows: the tool, Python, platform, library versions and visible GPUs."""
    rows = [(dist_name, _version(dist_name) or "not installed")]
    rows.append(("python", sys.version.split()[0]))
    rows.append(("platform", platform.platform()))
    for lib in ENV_LIBRARIES:
        if lib != dist_name:
            rows.append((lib, _version(lib) or "not installed"))
    rows.append(("gpus", _gpus()))
    return rows


def tool_group(prog_name: str, dist_name: str, help_text: str) -> click.Group:
    """Create a tool's Click group with the shared options and the ``env`` command."""

    @click.group(name=prog_name, help=help_text, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(_version(dist_name) or "0.0.0+unknown", "--version", prog_name=prog_name)
    @click.option(
        "--log-level",
        type=click.Choice(LOG_LEVELS, case_sensitive=False),
        default="INFO",
        show_default=True,
        envvar="FINR1_LOG_LEVEL",
        help="Logging threshold.",
    )
    @click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        envvar="FINR1_LOG_FORMAT",
        help="Log line format (json: one object per line).",
    )
    @click.pass_context
    def group(ctx: click.Context, log_level: str, log_format: str) -> None:
        setup_logging(log_level, log_format)  # type: ignore[arg-type]
        ctx.ensure_object(dict)

    @group.command("env")
    def env_command() -> None:
        """Print package and library versions, Python and visible GPUs (paste it into bug reports)."""
        rows = env_report(dist_name)
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            click.echo(f"{name:<{width}}  {value}")

    return group


def config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """The shared ``--config FILE`` option (YAML; flags given explicitly override its values)."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        help="YAML config file; explicit flags override its values.",
    )(func)


def force_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """The shared ``--force`` flag: redo a complete output, or replace one (or sibling shards) made differently."""
    return click.option(
        "--force",
        is_flag=True,
        help="Redo an output that is already complete, or replace one (or sibling shards) made with other "
        "settings or inputs; without it such an output is left alone or refused.",
    )(func)


def left_alone_line(output: str, complete: bool, spared: str) -> str:
    """What a run prints when its output is already there for the same inputs and settings.

    Args:
        output: The output ref.
        complete: The whole output is there (False: this shard's part, waiting for its siblings).
        spared: Who was not asked anything (``the teacher``).
    """
    state = "complete" if complete else "this shard is written, waiting for the other shards,"
    return f"{output}: {state} for these inputs and settings; nothing sent to {spared} (pass --force to redo it)"


def run(group: click.Group, argv: Sequence[str] | None = None) -> int:
    """Run ``group`` and return the exit code: Finr1Error → one line + 1, usage errors → 2."""
    try:
        group.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except Finr1Error as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    return 0
