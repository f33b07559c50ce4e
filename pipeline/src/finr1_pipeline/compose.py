"""The compose runner: a compose project generated from the pipeline file, then driven service by service.

:func:`compose_project` turns any pipeline file into a compose project: one service per server (the same
``finr1-serve up`` command, GPU reservation, healthcheck on the port it serves, start period = the server's
health timeout) and one per step (profile ``jobs``, the same command, environment variable names, mounts and
GPU request as the docker runner). ``compose/pipeline.yaml`` is this generator's output for
``configs/pipeline/fin-r1.yaml``, kept in the repository for people who use compose by hand; a test checks it
matches (regenerate with ``finr1-pipeline compose --config configs/pipeline/fin-r1.yaml --output
compose/pipeline.yaml``).

Values never go into the file: variables pass by name (``HF_TOKEN:`` with no value is taken from the shell
that runs ``docker compose``), and ``${env.NAME}`` placeholders become compose's ``${NAME:?…}``, which refuses
to start when the variable is unset. Literal ``$`` in arguments is escaped as ``$$``.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from finr1_core.errors import Finr1Error
from finr1_pipeline.config import StepSpec
from finr1_pipeline.containers import HEALTH_INTERVAL_S, HEALTH_RETRIES, health_test, image_tag, shm_size
from finr1_pipeline.plan import CONTAINER_WORKDIR, HF_CACHE_VOLUME, HF_HOME, Launch, Plan, StepResult
from finr1_pipeline.runner import Runner

log = logging.getLogger(__name__)

HF_CACHE_SERVICE_VOLUME = "hf-cache"
_SENTINEL = "\x00"
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?[^}]*\}")

HEADER = """\
# GENERATED from {config} by `finr1-pipeline compose --config {config} --output {output}`:
# do not edit; change the pipeline file and regenerate (pipeline/tests check that the two agree).
# Run the chain: python3 -m nox -s images && finr1-pipeline run --config {config} --runner compose
# (a server is started and healthy before the first step that needs it and removed after the last one;
# each step is `docker compose -p {project} -f {output} --profile jobs run --rm <step>`).
# Secrets and Hub settings pass by name from the shell that runs docker compose (values never appear
# here); ${{NAME:?...}} refuses to start when NAME is unset. Validate offline: nox -s lint.
"""


class _Flow(list):  # type: ignore[type-arg]
    """A list written on one line, as people write commands in compose files."""


def project_name(plan: Plan) -> str:
    """A valid compose project name for the pipeline (lowercase letters, digits, '-' and '_')."""
    return re.sub(r"[^a-z0-9_-]", "-", plan.config.name.lower()) or "finr1"


def bind_compose(plan: Plan) -> Plan:
    """Server URLs by compose service name (``http://<server>:<port>/v1``) and ``/work/artifacts``."""
    return plan.bind(
        lambda name, server: f"http://{name}:{server.port}/v1", f"{CONTAINER_WORKDIR}/artifacts", container=True
    )


def _escape(value: Any) -> Any:
    """Escape literal ``$`` for compose and turn ``${env.NAME}`` sentinels into ``${NAME:?…}``."""
    if isinstance(value, str):
        parts = value.split(_SENTINEL)
        # Odd positions are variable names (see the sentinel in compose_project).
        return "".join(f"${{{part}:?required}}" if i % 2 else part.replace("$", "$$") for i, part in enumerate(parts))
    if isinstance(value, list):
        return type(value)(_escape(v) for v in value)
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    return value


def _host_path(source: str, root: Path, compose_dir: Path) -> str:
    """A mount source as compose reads it: relative to the compose file when it lies near the repository."""
    path = Path(source)
    if not path.is_relative_to(root.parent):
        return source
    rel = os.path.relpath(path, compose_dir)
    # Compose reads a bare name as a named volume: relative paths must start with '.'.
    return rel if rel.startswith(".") else f"./{rel}"


def _deploy(gpus: int) -> dict[str, Any]:
    device = {"driver": "nvidia", "count": "all" if gpus < 0 else gpus, "capabilities": _Flow(["gpu"])}
    return {"resources": {"reservations": {"devices": [device]}}}


def _environment(plan: Plan, declared: list[str]) -> dict[str, str | None]:
    env: dict[str, str | None] = {"HF_HOME": HF_HOME}
    for name in plan.env_names(declared):
        env[name] = plan.config.env.get(name)  # None: passed through from the shell by name
    return env


def compose_project(plan: Plan, compose_dir: Path) -> dict[str, Any]:
    """The compose project (a mapping) that runs ``plan``'s pipeline; paths relative to ``compose_dir``."""
    gen = Plan(plan.config, plan.root, env_placeholder=lambda name: f"{_SENTINEL}{name}{_SENTINEL}")
    bind_compose(gen)
    volumes = []
    for mount in gen.mounts():
        source = HF_CACHE_SERVICE_VOLUME if mount.volume else _host_path(mount.source, gen.root, compose_dir)
        volumes.append(f"{source}:{mount.target}" + (":ro" if mount.read_only else ""))
    services: dict[str, Any] = {}
    started = [name for action, name in gen.schedule() if action == "start"]
    for name in started:
        server = gen.config.servers[name]
        service: dict[str, Any] = {
            "image": image_tag(gen.root, "serve"),
            "command": _Flow(gen.server_args(name, "0.0.0.0")),
            "working_dir": CONTAINER_WORKDIR,
            "environment": _environment(gen, []),
            "volumes": volumes,
            "ipc": "host",
            "restart": "unless-stopped",
            "healthcheck": {
                "test": _Flow(health_test(server.port)),
                "interval": f"{HEALTH_INTERVAL_S}s",
                "timeout": "10s",
                "retries": HEALTH_RETRIES,
                "start_period": f"{server.health_timeout():g}s",
            },
        }
        if server.gpus:
            service["deploy"] = _deploy(server.gpus)
        services[name] = service
    for step in gen.config.steps:
        command = gen.command(step)
        service = {"image": image_tag(gen.root, step.tool), "profiles": _Flow(["jobs"]), "restart": "no"}
        if step.launcher:
            service["entrypoint"] = _Flow([command[0]])
        service["command"] = _Flow(command[1:])
        service.update(
            working_dir=CONTAINER_WORKDIR,
            environment=_environment(gen, step.env),
            volumes=volumes,
            shm_size=shm_size(step.gpus),
        )
        if step.gpus:
            service["deploy"] = _deploy(step.gpus)
        needs = [s for s in step.servers if s in started]
        if needs:
            service["depends_on"] = {s: {"condition": "service_healthy"} for s in needs}
        services[step.name] = service
    return _escape({"services": services, "volumes": {HF_CACHE_SERVICE_VOLUME: {"name": HF_CACHE_VOLUME}}})


class _Dumper(yaml.SafeDumper):
    """Block style, except :class:`_Flow` lists; no anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True  # every service spells out its volumes (no &id001 anchors)


_Dumper.add_representer(
    _Flow, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)
)


def render_compose(plan: Plan, output: Path, config_label: str) -> str:
    """The compose file text for ``plan`` written at ``output`` (header, then the project)."""
    root = plan.root
    label_out = os.path.relpath(output, root) if output.is_absolute() and output.is_relative_to(root) else str(output)
    header = HEADER.format(config=config_label, output=label_out, project=project_name(plan))
    project = compose_project(plan, output.parent if output.is_absolute() else (root / output).parent)
    body = yaml.dump(project, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=119, default_flow_style=False)
    return header + "\n" + body


def write_compose(plan: Plan, output: Path, config_label: str) -> Path:
    """Write the generated compose file (atomically) and return its path."""
    output = output if output.is_absolute() else plan.root / output
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(render_compose(plan, output, config_label), encoding="utf-8")
    tmp.replace(output)
    return output


class ComposeRunner(Runner):
    """Generates the compose project for the pipeline and drives it with `docker compose`, step by step."""

    kind = "compose"

    def __init__(
        self, plan: Plan, compose_file: Path | None = None, *, config_label: str = "", force: bool = False
    ) -> None:
        super().__init__(plan, force=force)
        bind_compose(plan)
        self.compose_file = compose_file or plan.artifacts / "compose" / f"{project_name(plan)}.yaml"
        if not self.compose_file.is_absolute():
            self.compose_file = plan.root / self.compose_file
        self.config_label = config_label or plan.config.name

    def base(self) -> list[str]:
        return ["docker", "compose", "-p", project_name(self.plan), "-f", str(self.compose_file)]

    def _call(self, cmd: list[str]) -> int:
        log.info("compose: %s", " ".join(cmd[6:]))
        try:
            return subprocess.call(cmd, cwd=self.plan.root, env={**os.environ, **self.plan.config.env})
        except FileNotFoundError:
            raise Finr1Error("the docker client is not installed; install Docker with the compose plugin") from None

    def run(self) -> list[StepResult]:
        write_compose(self.plan, self.compose_file, self.config_label)
        log.info("compose project %s written to %s", project_name(self.plan), self.compose_file)
        return super().run()

    def start_server(self, name: str) -> None:
        started = time.monotonic()
        # --wait returns once the healthcheck passes, or fails once it turns unhealthy (after the start period).
        rc = self._call([*self.base(), "up", "--detach", "--wait", name])
        if rc != 0:
            self._call([*self.base(), "logs", "--tail", "20", name])
            self._call([*self.base(), "rm", "--stop", "--force", name])
            raise Finr1Error(f"compose service {name} did not become healthy (exit {rc}); see the log lines above")
        log.info("server %s healthy after %.0f s", name, time.monotonic() - started)

    def stop_server(self, name: str) -> None:
        self._call([*self.base(), "rm", "--stop", "--force", name])

    def run_step(self, step: StepSpec) -> int:
        return self._call([*self.base(), "--profile", "jobs", "run", "--rm", step.name])

    def finish(self) -> None:
        self._call([*self.base(), "down"])

    def log_hint(self, step: StepSpec) -> str:
        return f"the output above (service {step.name} in {self.compose_file})"

    # --- dry run: read back what the generated file will run -------------------------------------------------

    def _project(self) -> dict[str, Any]:
        return compose_project(self.plan, self.compose_file.parent)

    def _interpolate(self, value: str) -> str:
        """What compose makes of a value: ``${NAME:?…}`` from the environment, ``$$`` as ``$``."""

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            return self.plan.env_value(name) or f"${{env.{name}}}"

        return _INTERPOLATION.sub(repl, value).replace("$$", "$")

    def _describe(self, action: str, name: str, entry: str, how: list[str]) -> Launch:
        service = self._project()["services"][name]
        devices = service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
        gpus = sum(-1 if d["count"] == "all" else int(d["count"]) for d in devices)
        volumes = []
        for spec in service["volumes"]:
            source, target, *mode = spec.split(":")
            if source == HF_CACHE_SERVICE_VOLUME:
                source = HF_CACHE_VOLUME
            else:
                source = os.path.normpath(self.compose_file.parent / source)
            volumes.append(f"{source}:{target}:{mode[0] if mode else 'rw'}")
        return Launch(
            action,
            name,
            [self._interpolate(v) for v in [*(service.get("entrypoint") or [entry]), *service["command"]]],
            env=[k for k in service["environment"] if k != "HF_HOME"],
            volumes=volumes,
            gpus=gpus,
            how=" ".join([*self.base(), *how]),
            notes=[f"fixed env: HF_HOME={HF_HOME}"],
        )

    def describe_server(self, name: str) -> Launch:
        launch = self._describe("start", name, "finr1-serve", ["up", "--detach", "--wait", name])
        hc = self._project()["services"][name]["healthcheck"]
        launch.notes.append(f"healthcheck {' '.join(hc['test'][1:])}, start period {hc['start_period']}")
        return launch

    def describe_step(self, step: StepSpec) -> Launch:
        return self._describe("run", step.name, f"finr1-{step.tool}", ["--profile", "jobs", "run", "--rm", step.name])
