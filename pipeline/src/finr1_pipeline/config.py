"""Pipeline configuration: servers to start and stage commands to run, in order.

A pipeline file (``configs/pipeline/*.yaml``) names each stage's tool and its arguments exactly as a
user would type them after ``finr1-<tool>``, so every stage can be re-run by hand and the same file
drives the local, docker and compose runners. Arguments may use placeholders:

* ``${artifacts}``: the artifacts directory;
* ``${servers.NAME.url}``: the OpenAI-compatible base URL of a server (``…/v1``), which differs
  between runners (loopback for local processes, the container name on a docker network);
* ``${servers.NAME.model}``: the model name that server answers to;
* ``${env.NAME}``: an environment variable named in ``env_required`` (e.g. the Hub organisation), never a
  secret — secrets are passed by name to the tools, which read them themselves.

A step may name a ``launcher`` (``[accelerate, launch, --config_file, …]``): the tool then runs as
``<launcher…> -m finr1_<tool> <args…>`` on every process, which is how multi-GPU training starts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field

from finr1_core.config import StrictModel, load_config

TOOLS = ("distill", "judge", "train", "evaluate", "serve")
_PLACEHOLDER = re.compile(r"\$\{([a-zA-Z0-9_.-]+)\}")


class ServerSpec(StrictModel):
    """A model server a stage talks to (``finr1-serve up``), or an external endpoint."""

    model: str | None = Field(default=None, description="Model ref for finr1-serve up ('embedded', dir, hf://).")
    port: int = 8000
    served_model_name: str = "Fin-R1"
    engine: Literal["auto", "vllm", "transformers"] = "auto"
    args: list[str] = Field(default_factory=list, description="Extra `finr1-serve up` flags.")
    gpus: int = Field(default=0, description="GPUs to reserve for the container runners (-1 = all).")
    external_url: str | None = Field(default=None, description="An endpoint already running (e.g. an API).")
    external_model: str | None = None


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


class ReportSpec(StrictModel):
    """Files copied into the report folder once every step has run (training curves, metrics)."""

    dir: str = "${artifacts}/report"
    collect: list[str] = Field(default_factory=list, description="Files to copy (missing ones are a warning).")


class PipelineConfig(StrictModel):
    """A whole pipeline: where artifacts go, what must exist before work starts, servers and steps."""

    name: str
    description: str = ""
    artifacts: str = "artifacts"
    env_required: list[str] = Field(default_factory=list, description="Env var names checked before any work.")
    servers: dict[str, ServerSpec] = Field(default_factory=dict)
    steps: list[StepSpec]
    report: ReportSpec = Field(default_factory=ReportSpec)


def load_pipeline(path: str | Path) -> PipelineConfig:
    """Load and cross-check a pipeline file (servers named by steps must exist, step names unique)."""
    from finr1_core.errors import ConfigError

    cfg = load_config(PipelineConfig, path)
    names = [s.name for s in cfg.steps]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: step names must be unique, repeated: {', '.join(dupes)}")
    for step in cfg.steps:
        for server in step.servers:
            if server not in cfg.servers:
                raise ConfigError(f"{path}: step '{step.name}' uses server '{server}', which is not under 'servers'")
    return cfg


def substitute(text: str, values: dict[str, str], *, where: str) -> str:
    """Replace ``${key}`` placeholders; an unknown key is a ConfigError naming ``where``."""
    from finr1_core.errors import ConfigError

    def repl(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ConfigError(f"{where}: unknown placeholder ${{{key}}} (known: {', '.join(sorted(values))})")
        return values[key]

    return _PLACEHOLDER.sub(repl, text)
