"""Pipeline configuration: servers to start and stage commands to run, in order; overlays that swap services.

A pipeline file (``configs/pipeline/*.yaml``) names each stage's tool and its arguments exactly as a
user would type them after ``finr1-<tool>``, so every stage can be re-run by hand and the same file
drives the local, docker and compose runners. Arguments may use placeholders:

* ``${artifacts}``: the artifacts directory;
* ``${servers.NAME.url}``: the OpenAI-compatible base URL of a server (``…/v1``), which differs
  between runners (loopback for local processes, the container name on a docker network);
* ``${servers.NAME.model}``: the model name that server answers to;
* ``${servers.NAME.ref}``: the model reference a started server serves, resolved the way ``finr1-serve up``
  resolves it (``hf://ORG/NAME@REV`` as written, a local folder as an absolute path, ``embedded`` as its
  converted folder), so a stage can record what was served;
* ``${env.NAME}``: an environment variable named in ``env_required`` (e.g. the Hub organisation), never a
  secret — secrets are passed by name to the tools, which read them themselves.

A step may name a ``launcher`` (``[accelerate, launch, --config_file, …]``): the tool then runs as
``<launcher…> -m finr1_<tool> <args…>`` on every process, which is how multi-GPU training starts.

An **overlay** (``finr1-pipeline run --overlay FILE``) changes a pipeline without copying it: ``set`` replaces
dotted keys of the pipeline file (``servers.judge-server``, ``steps.sft.launcher``; steps are named by their
``name``), ``env`` sets non-secret environment values for every step and server (``HF_ENDPOINT``), and
``files`` replaces keys in the config and recipe files the steps name (the steps then read a copy under
``${artifacts}/overrides/``). See pipeline/README.md.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from finr1_core.config import StrictModel, load_config, read_yaml
from finr1_core.errors import ConfigError

TOOLS = ("distill", "judge", "train", "evaluate", "serve")
_PLACEHOLDER = re.compile(r"\$\{([a-zA-Z0-9_.-]+)\}")

LOCAL_HEALTH_TIMEOUT_S = 600.0
"""Health wait for a local folder or the embedded model: loading takes seconds to a few minutes."""
HUB_HEALTH_TIMEOUT_S = 1800.0
"""Health wait for an ``hf://`` model: a cold start downloads it first (Qwen2.5-72B is 145 GB, about 25 min at
100 MB/s) and vLLM then loads and profiles it; 30 minutes, as compose/serve.yaml's start period."""


class ServerSpec(StrictModel):
    """A model server a stage talks to (``finr1-serve up``), or an external endpoint."""

    model: str | None = Field(default=None, description="Model ref for finr1-serve up ('embedded', dir, hf://).")
    port: int = 8000
    served_model_name: str = "Fin-R1"
    engine: Literal["auto", "vllm", "transformers"] = "auto"
    reasoning_parser: str | None = Field(
        default="auto",
        description="vLLM reasoning parser: a name (deepseek_r1) for models that write <think> (the student, "
        "R1-style models), null for instruct models (judge, base), auto = finr1-serve decides from the model.",
    )
    args: list[str] = Field(default_factory=list, description="Extra `finr1-serve up` flags.")
    gpus: int = Field(default=0, description="GPUs to reserve for the container runners (-1 = all).")
    health_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description=f"Seconds to wait for /health; default {HUB_HEALTH_TIMEOUT_S:g} for hf:// models (download "
        f"and load), {LOCAL_HEALTH_TIMEOUT_S:g} otherwise.",
    )
    external_url: str | None = Field(default=None, description="An endpoint already running (e.g. an API).")
    external_model: str | None = None

    @model_validator(mode="after")
    def _model_or_external(self) -> ServerSpec:
        if bool(self.model) == bool(self.external_url):
            raise ValueError("give either 'model' (a server to start) or 'external_url' (an endpoint), not both")
        return self

    def health_timeout(self) -> float:
        """The health wait in seconds (explicit, or the default for this kind of model)."""
        if self.health_timeout_s is not None:
            return self.health_timeout_s
        return HUB_HEALTH_TIMEOUT_S if str(self.model).startswith("hf://") else LOCAL_HEALTH_TIMEOUT_S

    def parser_flag(self) -> str:
        """The value passed as ``finr1-serve up --reasoning-parser`` (``none`` for null)."""
        return self.reasoning_parser if self.reasoning_parser else "none"


class Requirement(StrictModel):
    """A local file or folder a step needs that finr1 cannot fetch itself (checked before any work)."""

    path: str = Field(description="Path relative to the repository root (or absolute).")
    fetch: str = Field(description="How to get it: the command or step a user runs (shown when it is missing).")


class StepSpec(StrictModel):
    """One stage: `finr1-<tool> <args…>`."""

    name: str
    tool: Literal["distill", "judge", "train", "evaluate", "serve"]
    args: list[str]
    output: str | None = Field(default=None, description="Artifact whose lineage marks the step complete.")
    servers: list[str] = Field(default_factory=list)
    env: list[str] = Field(default_factory=list, description="Env var NAMES the step needs (values never logged).")
    gpus: int = Field(default=0, description="GPUs to reserve for the container runners (-1 = all).")
    launcher: list[str] = Field(default_factory=list, description="e.g. [accelerate, launch, --config_file, X].")
    requires: list[Requirement] = Field(default_factory=list, description="Local inputs checked before any work.")


class ReportSpec(StrictModel):
    """Files copied into the report folder once every step has run (training curves, metrics)."""

    dir: str = "${artifacts}/report"
    collect: list[str] = Field(default_factory=list, description="Files to copy (missing ones are a warning).")


class PipelineConfig(StrictModel):
    """A whole pipeline: where artifacts go, what must exist before work starts, servers and steps."""

    name: str
    description: str = ""
    artifacts: str = "artifacts"
    data: list[str] = Field(
        default_factory=list,
        description="Folders the steps read (evaluation sets, downloaded sources); containers mount them "
        "read-only at the same path relative to the repository (../shared/data -> /shared/data).",
    )
    env_required: list[str] = Field(default_factory=list, description="Env var names checked before any work.")
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Non-secret environment values for every step and server (an overlay sets HF_ENDPOINT).",
    )
    servers: dict[str, ServerSpec] = Field(default_factory=dict)
    steps: list[StepSpec]
    overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Config or recipe file named by a step -> {dotted key: value}; steps read a changed copy.",
    )
    report: ReportSpec = Field(default_factory=ReportSpec)


class Overlay(StrictModel):
    """Changes to a pipeline file for another environment (the rehearsal's stand-ins), kept in its own file."""

    description: str = ""
    set: dict[str, Any] = Field(
        default_factory=dict, description="Dotted pipeline key -> value (steps and servers by name)."
    )
    env: dict[str, str] = Field(default_factory=dict, description="Non-secret env values (merged into `env`).")
    files: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="File named by a step -> {dotted key: value} (merged into `overrides`)."
    )


# --- loading -------------------------------------------------------------------------------------------------


def _field_names(model: type[BaseModel]) -> list[str]:
    return sorted(model.model_fields)


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


def _unknown_keys(model: type[BaseModel], data: Any, where: str, prefix: str = "") -> str | None:
    """The first unknown key in ``data`` (walking nested models, lists and dicts of models), as a message."""
    if not isinstance(data, dict):
        return None
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in model.model_fields:
            allowed = _field_names(model)
            return f"{where}: unknown key '{dotted}' ({_suggest(str(key), allowed)}allowed here: {', '.join(allowed)})"
        inner = _model_inside(model.model_fields[key].annotation)
        if inner is None:
            continue
        kind, sub = inner
        items: list[tuple[str, Any]] = []
        if kind == "model":
            items = [("", value)]
        elif kind == "list" and isinstance(value, list):
            items = [(f"{i}.", v) for i, v in enumerate(value)]
        elif kind == "dict" and isinstance(value, dict):
            items = [(f"{k}.", v) for k, v in value.items()]
        for suffix, item in items:
            found = _unknown_keys(sub, item, where, f"{dotted}.{suffix}" if suffix else f"{dotted}.")
            if found:
                return found
    return None


def _model_inside(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """``("model"|"list"|"dict", Model)`` when a field holds a model, a list of models or a dict of models."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _model_inside(args[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    if origin is list and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return "list", args[0]
    if origin is dict and len(args) == 2 and isinstance(args[1], type) and issubclass(args[1], BaseModel):
        return "dict", args[1]
    return None


def validate_pipeline(data: dict[str, Any], where: str) -> PipelineConfig:
    """Validate a pipeline mapping: unknown keys first (with a suggestion), then types and cross-references."""
    # finr1_core's one-line formatting of every tool's config errors (names the key and the expected type).
    from finr1_core.config import _format_error

    unknown = _unknown_keys(PipelineConfig, data, where)
    if unknown:  # pydantic lists a missing key first: `stepz:` would read "missing required key 'steps'"
        raise ConfigError(unknown)
    try:
        cfg = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(PipelineConfig, exc, where)) from None
    _cross_check(cfg, where)
    return cfg


def _cross_check(cfg: PipelineConfig, where: str) -> None:
    from finr1_core.lineage import is_secret_key

    names = [s.name for s in cfg.steps]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{where}: step names must be unique, repeated: {', '.join(dupes)}")
    clash = sorted(set(names) & set(cfg.servers))
    if clash:
        raise ConfigError(f"{where}: {', '.join(clash)} names both a step and a server (compose needs one name each)")
    for step in cfg.steps:
        for server in step.servers:
            if server not in cfg.servers:
                raise ConfigError(f"{where}: step '{step.name}' uses server '{server}', which is not under 'servers'")
    for name in cfg.env:
        if is_secret_key(name):
            raise ConfigError(
                f"{where}: env.{name} looks like a secret; pipeline files and overlays hold no secrets: set {name} "
                "in the environment and list its name under a step's `env`"
            )


def load_pipeline(path: str | Path, overlays: Sequence[str | Path] = ()) -> PipelineConfig:
    """Load a pipeline file, apply the overlays in order, and check it (servers named by steps exist, …).

    Raises:
        ConfigError: one line naming the file (pipeline or overlay), the key and the fix.
    """
    data = read_yaml(path)
    cfg = validate_pipeline(data, str(path))
    for overlay_path in overlays:
        overlay = load_overlay(overlay_path)
        data = apply_overlay(data, overlay, str(overlay_path))
        cfg = validate_pipeline(data, f"{path} with overlay {overlay_path}")
    return cfg


def load_overlay(path: str | Path) -> Overlay:
    """Read an overlay file; unknown keys are one line naming the file and the allowed keys."""
    data = read_yaml(path)
    unknown = _unknown_keys(Overlay, data, str(path))
    if unknown:
        raise ConfigError(unknown)
    return load_config(Overlay, path)


def apply_overlay(data: dict[str, Any], overlay: Overlay, where: str) -> dict[str, Any]:
    """A copy of the raw pipeline mapping with the overlay applied.

    Every ``set`` key must name something the pipeline has (a server, a step, a field); a typo is one line
    naming the overlay file, the key and what exists there.
    """
    import copy

    out = copy.deepcopy(data)
    for key, value in overlay.set.items():
        _set_pipeline_key(out, key, copy.deepcopy(value), where)
    if overlay.env:
        out["env"] = {**out.get("env", {}), **overlay.env}
    for file, keys in overlay.files.items():
        merged = dict(out.get("overrides", {}).get(file, {}))
        merged.update(keys)
        out.setdefault("overrides", {})[file] = merged
    return out


def _set_pipeline_key(data: dict[str, Any], key: str, value: Any, where: str) -> None:
    """Set dotted ``key`` in the raw pipeline mapping; servers and steps are addressed by name."""
    parts = key.split(".")
    model: type[BaseModel] = PipelineConfig
    node: dict[str, Any] = data
    i = 0
    while True:
        part = parts[i]
        if part not in model.model_fields:
            allowed = _field_names(model)
            at = "the pipeline" if model is PipelineConfig else f"a {model.__name__}"
            raise ConfigError(
                f"{where}: set.{key}: '{part}' is not a key of {at} ({_suggest(part, allowed)}allowed: "
                f"{', '.join(allowed)})"
            )
        if i == len(parts) - 1:
            node[part] = value
            return
        inner = _model_inside(model.model_fields[part].annotation)
        if inner is None:
            raise ConfigError(f"{where}: set.{key}: '{part}' holds a value, not named entries; set '{part}' itself")
        kind, sub = inner
        if kind == "model":
            node, model, i = node.setdefault(part, {}), sub, i + 1
            continue
        name = parts[i + 1]
        entries = node.get(part) or ({} if kind == "dict" else [])
        if kind == "dict":
            names = list(entries)
            index: Any = name if name in entries else None
        else:  # a list of models addressed by their `name` (steps)
            names = [str(e.get("name")) for e in entries if isinstance(e, dict)]
            index = names.index(name) if name in names else None
        if index is None:
            raise ConfigError(
                f"{where}: set.{key}: the pipeline has no {part} entry named '{name}' ({_suggest(name, names)}"
                f"known: {', '.join(names) or 'none'})"
            )
        if i + 1 == len(parts) - 1:
            entries[index] = value
            return
        node, model, i = entries[index], sub, i + 2


def substitute(text: str, values: dict[str, str], *, where: str) -> str:
    """Replace ``${key}`` placeholders; an unknown key is a ConfigError naming ``where``."""

    def repl(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ConfigError(f"{where}: unknown placeholder ${{{key}}} (known: {', '.join(sorted(values))})")
        return values[key]

    return _PLACEHOLDER.sub(repl, text)
