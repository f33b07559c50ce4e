"""The optional packages a recipe needs (DeepSpeed, vLLM), checked before anything is loaded.

Without them the failure comes late and as a traceback: ``accelerate launch`` with a ZeRO config raises
``ImportError: DeepSpeed is not installed`` before finr1 runs, TRL raises ``ImportError: vLLM is not
available`` when the GRPO trainer starts (after the model is loaded), and a ``deepspeed:`` key in a recipe
makes transformers raise ``PackageNotFoundError`` while the arguments are parsed. Here each is one line
naming the package, why the recipe needs it and the pip command.

What needs what:

- **DeepSpeed**: an accelerate config with ``distributed_type: DEEPSPEED`` (or a ``deepspeed_config``
  section), a process started by ``accelerate launch`` with one (``ACCELERATE_USE_DEEPSPEED=true``), or
  TRL's own ``deepspeed:`` argument;
- **vLLM**: ``use_vllm: true`` (both ``vllm_mode: colocate`` and ``server``: the trainer's client needs
  vLLM's communicator to send the weights to the server).

``finr1-train sft|grpo --config RECIPE --dry-run [--accelerate-config FILE]`` runs these checks and the
recipe's own, and nothing else (no inputs are read: in a pipeline they may not exist yet).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finr1_core.errors import ConfigError, MissingDependencyError

INSTALL = {
    "deepspeed": "pip install 'finr1-train[deepspeed]'",
    "vllm": "pip install 'finr1-train[vllm]'",
}


@dataclass(frozen=True)
class Need:
    """One optional package a run needs, and why."""

    package: str
    reason: str

    @property
    def install(self) -> str:
        """The pip command that installs it."""
        return INSTALL[self.package]


def installed_version(package: str) -> str | None:
    """The installed distribution's version, or None when the package cannot be imported."""
    if importlib.util.find_spec(package) is None:
        return None
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


def read_accelerate_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """An accelerate config file (YAML or JSON) as a mapping; one-line ConfigError when unreadable."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"accelerate config {file}: file not found")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))  # JSON is YAML
    except yaml.YAMLError as exc:
        raise ConfigError(f"accelerate config {file}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"accelerate config {file}: expected a mapping of accelerate settings")
    return dict(data)


def accelerate_uses_deepspeed(config: Mapping[str, Any]) -> bool:
    """True for an accelerate config that launches DeepSpeed."""
    return str(config.get("distributed_type", "")).upper() == "DEEPSPEED" or bool(config.get("deepspeed_config"))


def needs(
    trl_args: Mapping[str, Any],
    accelerate_config: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Need]:
    """The optional packages a run needs, from TRL's arguments, the accelerate config and the environment.

    Args:
        trl_args: TRL's arguments as given (a recipe's TRL keys, or ``dataclasses.asdict`` of the config).
        accelerate_config: The accelerate config file the run is launched with, if known.
        environ: The process environment (default ``os.environ``).
    """
    environ = os.environ if environ is None else environ
    found: list[Need] = []
    if accelerate_config is not None and accelerate_uses_deepspeed(read_accelerate_config(accelerate_config)):
        found.append(Need("deepspeed", f"accelerate config {accelerate_config} (distributed_type DEEPSPEED)"))
    elif environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() in ("1", "true", "yes"):
        found.append(Need("deepspeed", "accelerate launched this process with DeepSpeed (ACCELERATE_USE_DEEPSPEED)"))
    elif trl_args.get("deepspeed"):
        found.append(Need("deepspeed", f"deepspeed: {trl_args['deepspeed']}"))
    if _true(trl_args.get("use_vllm")):
        found.append(Need("vllm", f"use_vllm: true (vllm_mode: {trl_args.get('vllm_mode') or 'colocate'})"))
    return found


def _true(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def require(source: str, wanted: Sequence[Need]) -> None:
    """Raise one MissingDependencyError line for the packages of ``wanted`` that are not installed."""
    missing = [n for n in wanted if installed_version(n.package) is None]
    if missing:
        raise MissingDependencyError(
            f"{source}: "
            + "; ".join(f"{n.reason} needs {n.package}, which is not installed: {n.install}" for n in missing)
        )


def check_recipe(recipe: Any, accelerate_config: str | os.PathLike[str] | None = None) -> list[Need]:
    """Check that a loaded recipe's optional packages are installed (the call for a pipeline's preflight).

    Args:
        recipe: A :class:`finr1_train.config.Recipe`.
        accelerate_config: The accelerate config file the run will be launched with, if any.

    Returns:
        What the run needs (all installed).

    Raises:
        MissingDependencyError: one line naming each missing package and its pip command.
    """
    wanted = needs(vars(recipe.args), accelerate_config)
    require(recipe.source, wanted)
    return wanted
