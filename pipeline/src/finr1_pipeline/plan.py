"""What the pipeline will do, independent of how it runs: preflight checks, completion, placeholders."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from finr1_core.errors import ConfigError, EndpointError
from finr1_pipeline.config import PipelineConfig, StepSpec, substitute

log = logging.getLogger(__name__)


@dataclass
class StepResult:
    """How one step ended: ran (with its wall time and exit code) or skipped as complete."""

    name: str
    status: str  # "ran", "skipped", "failed"
    seconds: float = 0.0
    exit_code: int | None = None
    detail: str = ""


@dataclass
class Plan:
    """A loaded pipeline plus the values its placeholders resolve to under one runner."""

    config: PipelineConfig
    root: Path
    server_urls: dict[str, str] = field(default_factory=dict)
    server_models: dict[str, str] = field(default_factory=dict)

    @property
    def artifacts(self) -> Path:
        return (self.root / self.config.artifacts).resolve()

    def values(self, artifacts: str | None = None) -> dict[str, str]:
        values = {"artifacts": artifacts if artifacts is not None else str(self.config.artifacts)}
        for name in self.config.env_required:
            if not _looks_secret(name):
                # Unset variables stay visible as placeholders (dry runs); preflight refuses to start without them.
                values[f"env.{name}"] = os.environ.get(name) or f"${{env.{name}}}"
        for name in self.config.servers:
            values[f"servers.{name}.url"] = self.server_urls.get(name, "")
            values[f"servers.{name}.model"] = self.server_models.get(name, "")
        return values

    def args(self, step: StepSpec, artifacts: str | None = None) -> list[str]:
        vals = self.values(artifacts)
        return [substitute(a, vals, where=f"step '{step.name}'") for a in step.args]

    def output(self, step: StepSpec) -> str | None:
        return substitute(step.output, self.values(), where=f"step '{step.name}'") if step.output else None

    def resolve(self, text: str, *, where: str, artifacts: str | None = None) -> str:
        """Substitute placeholders in any config string (server models, report paths)."""
        return substitute(text, self.values(artifacts), where=where)

    def collect_report(self) -> list[Path]:
        """Copy the configured extra files (e.g. training curves) into the report folder."""
        import shutil

        report = self.root / self.resolve(self.config.report.dir, where="report.dir")
        report.mkdir(parents=True, exist_ok=True)
        copied = []
        for pattern in self.config.report.collect:
            source = self.root / self.resolve(pattern, where="report.collect")
            if not source.exists():
                log.warning("report: %s does not exist, not collected", source)
                continue
            # Name copies after their stage folder: sft/training_curves.png -> sft_training_curves.png.
            target = report / f"{source.parent.name}_{source.name}"
            shutil.copy2(source, target)
            copied.append(target)
        return copied

    def is_complete(self, step: StepSpec) -> bool:
        """A step is complete when its output carries a finished lineage."""
        output = self.output(step)
        if not output:
            return False
        from finr1_core.refs import read_lineage

        if not output.startswith("hf://"):
            output = str(self.root / output)
        try:
            return read_lineage(output) is not None
        except Exception as exc:  # an unreadable output is simply not complete
            log.debug("lineage of %s unreadable: %s", output, exc)
            return False


def _looks_secret(name: str) -> bool:
    from finr1_core.lineage import is_secret_key

    return is_secret_key(name)


def command(step: StepSpec, executable: str, args: list[str]) -> list[str]:
    """The full command of a step: ``finr1-<tool> args`` or ``<launcher…> -m finr1_<tool> args``."""
    if step.launcher:
        return [*step.launcher, "-m", f"finr1_{step.tool}", *args]
    return [executable, *args]


def preflight(cfg: PipelineConfig, *, check_endpoints: bool = True) -> None:
    """Fail before any work when a required env var is missing or an external endpoint is unreachable."""
    needed = list(cfg.env_required)
    for step in cfg.steps:
        needed += [name for name in step.env if name not in needed]
    missing = [name for name in needed if not os.environ.get(name)]
    if missing:
        raise ConfigError(
            f"pipeline '{cfg.name}' needs these environment variables set before it starts: {', '.join(missing)}"
        )
    if not check_endpoints:
        return
    import httpx

    for name, server in cfg.servers.items():
        if not server.external_url:
            continue
        url = server.external_url.rstrip("/") + "/models"
        try:
            # Any HTTP answer proves the endpoint is there; auth is checked by the stage itself.
            httpx.get(url, timeout=10.0)
        except httpx.HTTPError as exc:
            raise EndpointError(f"server '{name}': endpoint {server.external_url} is unreachable ({exc})") from None
