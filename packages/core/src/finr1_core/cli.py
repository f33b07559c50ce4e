"""Click plumbing shared by the five finr1 tools.

Every tool is ``tool_group(...)`` plus its verb subcommands. The group carries the shared options
(``--version``, ``--log-level``, ``--log-format``) and an ``env`` command; :func:`run` is the
``main(argv) -> int`` entry point that turns :class:`~finr1_core.errors.Finr1Error` into one line on
stderr and exit code 1, while bugs keep their traceback. Everything it prints is redacted
(:mod:`finr1_core.redaction`); use :func:`echo` for a tool's own console lines, and
:func:`flag_overrides` to let config errors name the flag the user typed.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click

from finr1_core.errors import Finr1Error
from finr1_core.logging import LOG_LEVELS, error_line, log_format, redact, setup_logging

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


def min_usable_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """The shared ``--min-usable SHARE`` option of the stages that call a model (see ``runner.usable``)."""
    return click.option(
        "--min-usable",
        type=click.FloatRange(0, 1),
        default=None,
        metavar="SHARE",
        help="Fail (no output) when fewer than this share of the model calls are usable (default 0.5; 0: never).",
    )(func)


def flag_overrides(values: Mapping[str, Any], keys: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Config overrides from a command's flag values, and the flag that sets each key.

    Args:
        values: The command's keyword arguments (Click parameter name -> value; ``None`` = not given).
        keys: Dotted config key -> Click parameter name (``{"teacher.model": "model"}``).

    Returns:
        ``(overrides, flags)`` for :func:`finr1_core.config.load_config`: the values by dotted key, and
        the option as the user types it by dotted key (``{"teacher.model": "--model"}``), so errors
        name ``--model`` rather than ``teacher.model``.
    """
    ctx = click.get_current_context(silent=True)
    params = {p.name: p for p in ctx.command.params} if ctx is not None else {}
    overrides = {key: values.get(param) for key, param in keys.items()}
    flags = {}
    for key, param in keys.items():
        option = params.get(param)
        opts = getattr(option, "opts", None) or [f"--{param.replace('_', '-')}"]
        flags[key] = max(opts, key=len) if all(o.startswith("-") for o in opts) else opts[0]
    return overrides, flags


def echo(message: str, *, err: bool = False) -> None:
    """``click.echo`` through the redaction policy: a tool's console lines never carry a secret."""
    click.echo(redact(message), err=err)


def run(group: click.Group, argv: Sequence[str] | None = None) -> int:
    """Run ``group`` and return the exit code: Finr1Error → one line + 1, usage errors → 2.

    Every line written here goes through :mod:`finr1_core.redaction`; under ``--log-format json``
    the final error line is a JSON object (:func:`finr1_core.logging.error_line`). A bug keeps its
    traceback (redacted too) and exits 1.
    """
    try:
        group.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except Finr1Error as exc:
        click.echo(error_line(str(exc), exit_code=exc.exit_code), err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo(error_line("aborted", exit_code=130, kind="interrupted"), err=True)
        return 130
    except click.ClickException as exc:
        if log_format() == "json":
            click.echo(error_line(exc.format_message(), exit_code=exc.exit_code, kind="usage"), err=True)
        else:
            exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo(error_line("interrupted", exit_code=130, kind="interrupted"), err=True)
        return 130
    except Exception:  # a bug: keep the traceback, but through the same redaction as every other line
        import traceback

        text = traceback.format_exc().rstrip()
        click.echo(error_line(text, kind="bug") if log_format() == "json" else redact(text), err=True)
        return 1
    return 0
