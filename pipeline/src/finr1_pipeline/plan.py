"""What the pipeline will do, independent of how it runs: schedule, placeholders, mounts, preflight, completion.

The three runners share this: the order of server starts, steps and server stops (:meth:`Plan.schedule`), the
environment variable names each process gets (:meth:`Plan.env_names`), the folders it reads and writes
(:meth:`Plan.mounts`), its GPU request, and the files an overlay changes (:meth:`Plan.write_overrides`). A runner
only decides where things live (loopback or container names, ``artifacts`` or ``/work/artifacts``) by binding
the plan (:meth:`Plan.bind`), and how a process is started.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finr1_core.errors import ConfigError, EndpointError, InputError
from finr1_pipeline.config import PipelineConfig, ServerSpec, StepSpec, substitute

log = logging.getLogger(__name__)

CONTAINER_WORKDIR = "/work"
HF_CACHE_VOLUME = "finr1-hf-cache"
HF_HOME = "/cache/huggingface"
# Always passed through when set (by name): Hub access and the log settings.
PASSTHROUGH_ENV = ("HF_TOKEN", "HF_ENDPOINT", "FINR1_LOG_LEVEL", "FINR1_LOG_FORMAT")
OVERRIDES_DIR = "overrides"


@dataclass
class StepResult:
    """How one step ended: ran (with its wall time and exit code) or skipped as complete."""

    name: str
    status: str  # "ran", "skipped", "failed"
    seconds: float = 0.0
    exit_code: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class Mount:
    """A folder a step or server reads or writes: a bind mount (or named volume) in containers."""

    source: str  # host path (absolute) or the name of a docker volume
    target: str  # path inside the container
    read_only: bool
    volume: bool = False  # a named volume, not a host folder

    def describe(self) -> str:
        return f"{self.source}:{self.target}:{'ro' if self.read_only else 'rw'}"


@dataclass
class Launch:
    """One line of a dry run: a server start, a step or a server stop, as a runner will do it."""

    action: str  # "start", "run", "stop"
    name: str
    argv: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)  # names only: values are never printed
    volumes: list[str] = field(default_factory=list)
    gpus: int = 0
    how: str = ""  # how the runner starts it (container image, compose command)
    notes: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """A loaded pipeline plus the values its placeholders resolve to under one runner."""

    config: PipelineConfig
    root: Path
    server_urls: dict[str, str] = field(default_factory=dict)
    server_models: dict[str, str] = field(default_factory=dict)
    server_refs: dict[str, str] = field(default_factory=dict)
    artifacts_value: str | None = None  # what ${artifacts} becomes for this runner (None: as configured)
    # How ${env.NAME} reads a variable the pipeline's `env` does not set: this process's environment by default;
    # the compose generator leaves it to compose's own interpolation instead (a file that does not depend on
    # the environment it was generated in).
    env_placeholder: Callable[[str], str] | None = None

    @property
    def artifacts(self) -> Path:
        return Path(os.path.abspath(self.root / self.config.artifacts))

    # --- binding to a runner ------------------------------------------------------------------------------

    def bind(self, url: Callable[[str, ServerSpec], str], artifacts: str | None, container: bool) -> Plan:
        """Fill server URLs, names and refs and ``${artifacts}`` for one runner (local or containers)."""
        self.artifacts_value = artifacts
        for name, server in self.config.servers.items():
            if server.external_url:
                self.server_urls[name] = server.external_url
                self.server_models[name] = server.external_model or server.served_model_name
            else:
                self.server_urls[name] = url(name, server)
                self.server_models[name] = server.served_model_name
        for name, server in self.config.servers.items():
            if not server.external_url:
                self.server_refs[name] = self.model_ref(name, container=container)
        return self

    def model_ref(self, name: str, *, container: bool) -> str:
        """The model a started server serves, resolved the way ``finr1-serve up`` resolves it.

        ``hf://`` refs stay as written (placeholders filled; serve and the stages resolve the revision); a
        relative folder is made absolute (the repo root locally, ``/work`` in containers); ``embedded`` stays ``embedded``.
        """
        server = self.config.servers[name]
        model = self.resolve(server.model or "", where=f"servers.{name}.model")
        if model.startswith("hf://") or model.startswith("/"):
            return model
        if model == "embedded":
            # The same word in every runner: each tool resolves `embedded` itself (evaluate's --model-ref names
            # the embedded model), and a container cannot see this machine's conversion cache anyway.
            return model
        if container:
            return posixpath.normpath(posixpath.join(CONTAINER_WORKDIR, model))
        return os.path.abspath(self.root / model)

    # --- placeholders -------------------------------------------------------------------------------------

    def env_value(self, name: str) -> str | None:
        """A variable's value for the processes: the pipeline's ``env`` (overlays), else this process's."""
        return self.config.env.get(name) or os.environ.get(name)

    def values(self, artifacts: str | None = None) -> dict[str, str]:
        if artifacts is None:
            artifacts = self.artifacts_value if self.artifacts_value is not None else str(self.config.artifacts)
        values = {"artifacts": artifacts}
        for name in self.config.env_required:
            if not _looks_secret(name):
                if self.env_placeholder is not None:
                    values[f"env.{name}"] = self.config.env.get(name) or self.env_placeholder(name)
                    continue
                # Unset variables stay visible as placeholders (dry runs); preflight refuses to start without them.
                values[f"env.{name}"] = self.env_value(name) or f"${{env.{name}}}"
        for name in self.config.servers:
            values[f"servers.{name}.url"] = self.server_urls.get(name, "")
            values[f"servers.{name}.model"] = self.server_models.get(name, "")
            if not self.config.servers[name].external_url:  # an external API serves no model ref
                values[f"servers.{name}.ref"] = self.server_refs.get(name, "")
        return values

    def _with_overrides(self, parts: list[str]) -> list[str]:
        """Point arguments naming an overridden config or recipe file at its changed copy."""
        if not self.config.overrides:
            return parts
        copies = {_norm(path): self.override_copy(path) for path in self.config.overrides}
        return [copies.get(_norm(part), part) for part in parts]

    def override_copy(self, path: str) -> str:
        """Where the changed copy of an overridden file lives, as a placeholder path under ``${artifacts}``."""
        return f"${{artifacts}}/{OVERRIDES_DIR}/{_norm(path)}"

    def args(self, step: StepSpec, artifacts: str | None = None) -> list[str]:
        vals = self.values(artifacts)
        return [substitute(a, vals, where=f"step '{step.name}'") for a in self._with_overrides(step.args)]

    def launcher(self, step: StepSpec, artifacts: str | None = None) -> list[str]:
        vals = self.values(artifacts)
        return [substitute(a, vals, where=f"step '{step.name}' launcher") for a in self._with_overrides(step.launcher)]

    def command(self, step: StepSpec, executable: str | None = None, artifacts: str | None = None) -> list[str]:
        """``finr1-<tool> args`` or ``<launcher…> -m finr1_<tool> args``."""
        args = self.args(step, artifacts)
        if step.launcher:
            return [*self.launcher(step, artifacts), "-m", f"finr1_{step.tool}", *args]
        return [executable or f"finr1-{step.tool}", *args]

    def server_args(self, name: str, host: str) -> list[str]:
        """``finr1-serve`` arguments (``up …``) of one server; the reasoning parser is always explicit."""
        server = self.config.servers[name]
        # `embedded` stays itself: finr1-serve converts it on first use (the ref names the converted folder).
        model = self.server_refs.get(name) or str(server.model)
        args = ["up", "--model", "embedded" if server.model == "embedded" else model, "--host", host]
        args += ["--port", str(server.port), "--served-model-name", server.served_model_name]
        args += ["--engine", server.engine, "--reasoning-parser", server.parser_flag(), *server.args]
        return args

    def output(self, step: StepSpec) -> str | None:
        return substitute(step.output, self.values(), where=f"step '{step.name}'") if step.output else None

    def resolve(self, text: str, *, where: str, artifacts: str | None = None) -> str:
        """Substitute placeholders in any config string (server models, report paths)."""
        return substitute(text, self.values(artifacts), where=where)

    # --- schedule, environment, mounts ---------------------------------------------------------------------

    def schedule(self) -> list[tuple[str, str]]:
        """``(action, name)`` in order: ``start`` a server before the first step that needs it, ``run`` each
        step, ``stop`` a server right after the last step that needs it (so SFT and GRPO get the GPUs)."""
        steps = self.config.steps
        last_use: dict[str, int] = {}
        for index, step in enumerate(steps):
            for server in step.servers:
                if not self.config.servers[server].external_url:
                    last_use[server] = index
        actions: list[tuple[str, str]] = []
        running: list[str] = []
        for index, step in enumerate(steps):
            for server in step.servers:
                if server in last_use and server not in running:
                    actions.append(("start", server))
                    running.append(server)
            actions.append(("run", step.name))
            for server in [s for s in running if last_use[s] == index]:
                actions.append(("stop", server))
                running.remove(server)
        return actions

    def step(self, name: str) -> StepSpec:
        return next(s for s in self.config.steps if s.name == name)

    def env_names(self, declared: list[str]) -> list[str]:
        """Names of the variables a process gets from this environment: Hub and log settings, the ones it
        declares, and the pipeline's own ``env`` (values set by the pipeline file or an overlay)."""
        names = [*PASSTHROUGH_ENV, *declared, *self.config.env]
        return list(dict.fromkeys(names))

    def environment(self, declared: list[str]) -> dict[str, str]:
        """Name -> value for the names in :meth:`env_names` that have a value (container specs only)."""
        env = {}
        for name in self.env_names(declared):
            value = self.env_value(name)
            if value is not None:
                env[name] = value
        return env

    def data_paths(self) -> list[str]:
        """Folders the steps read besides artifacts and configs: ``data``, ``requires`` and every ``--data``."""
        paths = list(self.config.data)
        for step in self.config.steps:
            paths += [req.path for req in step.requires]
            args = self.args(step, str(self.config.artifacts))
            for flag, value in zip(args, args[1:], strict=False):
                if flag == "--data":
                    # evaluate: name=path,name=path; distill: one path
                    paths += [part.partition("=")[2] or part for part in value.split(",") if part]
        artifacts = str(self.config.artifacts)
        kept: list[str] = []
        for path in dict.fromkeys(p.rstrip("/") for p in paths if p):
            if _under(path, artifacts) or _under(path, "configs") or _under(path, "packages/train/recipes"):
                continue  # mounted anyway
            if any(_under(path, other) for other in kept):
                continue
            kept = [other for other in kept if not _under(other, path)] + [path]
        return kept

    def mounts(self) -> list[Mount]:
        """Folders every container mounts: artifacts (rw), configs and recipes (ro), data (ro), the HF cache."""
        mounts = [
            Mount(str(self.artifacts), f"{CONTAINER_WORKDIR}/artifacts", read_only=False),
            Mount(str(self.root / "configs"), f"{CONTAINER_WORKDIR}/configs", read_only=True),
            # Pipeline files name recipes by their repo path; mount them where those paths resolve.
            Mount(
                str(self.root / "packages/train/recipes"),
                f"{CONTAINER_WORKDIR}/packages/train/recipes",
                read_only=True,
            ),
        ]
        for path in self.data_paths():
            if os.path.isabs(path):
                mounts.append(Mount(path, path, read_only=True))
            else:
                # The same relative path resolves inside: ../shared/data from /work is /shared/data.
                target = posixpath.normpath(posixpath.join(CONTAINER_WORKDIR, path))
                # abspath, not resolve(): a symlinked ../shared must give the same compose file everywhere.
                mounts.append(Mount(os.path.abspath(self.root / path), target, read_only=True))
        mounts.append(Mount(HF_CACHE_VOLUME, HF_HOME, read_only=False, volume=True))
        return mounts

    # --- overrides ------------------------------------------------------------------------------------------

    def write_overrides(self) -> list[Path]:
        """Write the changed copies of the overridden config and recipe files under ``<artifacts>/overrides``."""
        written = []
        for path, keys in self.config.overrides.items():
            source = self.root / path
            target = self.artifacts / OVERRIDES_DIR / _norm(path)
            data = _read_structured(source, f"overrides: {path}")
            for dotted, value in keys.items():
                _set_file_key(data, dotted, value, f"overrides: {path}")
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.suffix == ".json":
                target.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            else:
                import yaml

                header = f"# {path} with pipeline overrides: {', '.join(keys)}\n"
                body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=119)
                target.write_text(header + body, encoding="utf-8")
            log.info("override: %s -> %s (%s)", path, target, ", ".join(f"{k}={v!r}" for k, v in keys.items()))
            written.append(target)
        return written

    # --- completion and report ------------------------------------------------------------------------------

    def collect_report(self) -> list[Path]:
        """Copy the configured extra files (e.g. training curves) into the report folder."""
        import shutil

        report = self.root / self.resolve(self.config.report.dir, where="report.dir", artifacts=self.config.artifacts)
        report.mkdir(parents=True, exist_ok=True)
        copied = []
        for pattern in self.config.report.collect:
            source = self.root / self.resolve(pattern, where="report.collect", artifacts=self.config.artifacts)
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
        host = self.values(str(self.config.artifacts))
        output = substitute(step.output, host, where=step.name) if step.output else None
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


def _norm(path: str) -> str:
    return posixpath.normpath(path.replace("\\", "/"))


def _under(path: str, folder: str) -> bool:
    a, b = _norm(path), _norm(folder)
    return a == b or a.startswith(b.rstrip("/") + "/")


def _looks_secret(name: str) -> bool:
    from finr1_core.lineage import is_secret_key

    return is_secret_key(name)


def _read_structured(path: Path, where: str) -> Any:
    if not path.is_file():
        raise ConfigError(f"{where}: file not found (overrides name files relative to the repository root)")
    if path.suffix == ".json":
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"{where}: invalid JSON ({exc})") from None
    from finr1_core.config import read_yaml

    return read_yaml(path)


def _set_file_key(data: Any, dotted: str, value: Any, where: str) -> None:
    """Set a dotted key in a YAML/JSON document; list items by index or by their ``name``. The parent must
    exist (a typo is an error naming the key and what is there); the last key may be new."""
    node = data
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            names = [str(item.get("name")) for item in node if isinstance(item, dict) and "name" in item]
            if part.isdigit() and int(part) < len(node):
                index = int(part)
            elif part in names:
                index = next(j for j, item in enumerate(node) if isinstance(item, dict) and item.get("name") == part)
            else:
                raise ConfigError(
                    f"{where}: key '{dotted}': no list item '{part}' (indexes 0-{len(node) - 1}"
                    f"{', names ' + ', '.join(names) if names else ''})"
                )
            if last:
                node[index] = value
                return
            node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
                return
            if part not in node:
                raise ConfigError(
                    f"{where}: key '{dotted}': '{part}' not found (keys here: {', '.join(map(str, node))})"
                )
            node = node[part]
        else:
            raise ConfigError(f"{where}: key '{dotted}': '{'.'.join(parts[:i])}' is a value, not a mapping or list")


def preflight(plan: Plan, *, runner: str = "local", check_endpoints: bool = True, force: bool = False) -> None:
    """Fail before any work: a missing env var, a missing local input, a missing data folder (containers
    mount it), an unreachable external endpoint, or an override naming a file no step uses."""
    cfg = plan.config
    needed = list(cfg.env_required)
    for step in cfg.steps:
        needed += [name for name in step.env if name not in needed]
    missing = [name for name in needed if not plan.env_value(name)]
    if missing:
        raise ConfigError(
            f"pipeline '{cfg.name}' needs these environment variables set before it starts: {', '.join(missing)}"
        )
    used = {_norm(a) for step in cfg.steps for a in [*step.args, *step.launcher]}
    for path in cfg.overrides:
        if _norm(path) not in used:
            raise ConfigError(f"overrides: {path} is not named by any step's args or launcher (check the path)")
    for step in cfg.steps:
        for req in step.requires:
            if not (plan.root / req.path).exists() and (force or not plan.is_complete(step)):
                raise InputError(f"step '{step.name}' needs {req.path}, which does not exist: {req.fetch}")
    if runner != "local":
        data = {os.path.abspath(plan.root / p) for p in plan.data_paths()}
        for mount in plan.mounts():
            if mount.source in data and not Path(mount.source).exists():
                raise InputError(
                    f"data folder {mount.source} (mounted at {mount.target}) does not exist: create it or fix the "
                    "pipeline's `data` (docker would mount an empty folder)"
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
