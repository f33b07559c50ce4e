"""Run each stage as a single container through the Docker SDK for Python.

This is how a team that owns one stage runs it: the image ``finr1-<tool>:<version>`` with the same
arguments as the local command. Containers share one docker network (servers are reached by container
name); every container mounts the folders of :meth:`~finr1_pipeline.plan.Plan.mounts`: the artifacts folder at
``/work/artifacts``, configs and training recipes read-only at their repo paths, the data folders read-only
at the same path relative to ``/work`` (``../shared/data`` is ``/shared/data``) and the Hugging Face cache as
the named volume ``finr1-hf-cache``. Environment variables are passed by *name*: the config lists names, their
values are read from this process's environment and go only into the container spec, never into a log line.
A server container is stopped and removed right after the last step that needs it. The container specs are
plain data (no Docker SDK types), so ``--dry-run`` works without the SDK.
"""

from __future__ import annotations

import logging
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from finr1_core.errors import Finr1Error, MissingDependencyError
from finr1_pipeline.config import StepSpec
from finr1_pipeline.plan import CONTAINER_WORKDIR, HF_HOME, Launch, Plan, StepResult
from finr1_pipeline.runner import Runner, StageFailed

log = logging.getLogger(__name__)

HEALTH_INTERVAL_S = 30
HEALTH_RETRIES = 5
_NS = 1_000_000_000


def image_tag(root: Path, tool: str) -> str:
    """``finr1-<tool>:<version>``, the version read from the package's own pyproject (never ``latest``)."""
    meta = tomllib.loads((root / "packages" / tool / "pyproject.toml").read_text(encoding="utf-8"))
    return f"finr1-{tool}:{meta['project']['version']}"


def device_requests(gpus: int) -> list[dict[str, Any]]:
    """GPU requests as the SDK's keyword form (it builds ``DeviceRequest(**item)`` itself)."""
    if not gpus:
        return []
    # count=-1 means all GPUs; device_ids would pin specific ones (never both, STYLE.md).
    return [{"count": gpus, "capabilities": [["gpu"]]}]


def shm_size(gpus: int) -> str:
    """Shared memory: NCCL and DataLoader workers of multi-GPU training need more than docker's 64 MB."""
    return "16g" if gpus else "8g"


def health_test(port: int) -> list[str]:
    """The healthcheck of a server container: the port it serves (not the image's default 8000)."""
    return ["CMD", "finr1-serve", "health", "--url", f"http://127.0.0.1:{port}/v1", "--timeout", "5"]


def _volumes(plan: Plan) -> dict[str, dict[str, str]]:
    return {m.source: {"bind": m.target, "mode": "ro" if m.read_only else "rw"} for m in plan.mounts()}


def bind_containers(plan: Plan) -> Plan:
    """Server URLs on the docker network (``http://<pipeline>-<server>:<port>/v1``) and ``/work/artifacts``."""
    return plan.bind(
        lambda name, server: f"http://{plan.config.name}-{name}:{server.port}/v1",
        f"{CONTAINER_WORKDIR}/artifacts",
        container=True,
    )


def step_container_spec(plan: Plan, step: StepSpec, network: str) -> dict[str, Any]:
    """Keyword arguments of ``client.containers.run`` for one stage (``plan`` bound by :func:`bind_containers`)."""
    command = plan.command(step)
    launch: dict[str, Any] = {"command": command[1:]}
    if step.launcher:  # e.g. accelerate launch … -m finr1_train: the launcher replaces the tool's entrypoint
        launch = {"entrypoint": [command[0]], "command": command[1:]}
    return {
        "image": image_tag(plan.root, step.tool),
        **launch,
        "name": f"{plan.config.name}-{step.name}",
        "working_dir": CONTAINER_WORKDIR,
        "network": network,
        "environment": {"HF_HOME": HF_HOME, **plan.environment(step.env)},
        "volumes": _volumes(plan),
        "device_requests": device_requests(step.gpus),
        "shm_size": shm_size(step.gpus),
        "detach": True,
        "labels": {"finr1.pipeline": plan.config.name, "finr1.step": step.name},
    }


def server_container_spec(plan: Plan, name: str, network: str) -> dict[str, Any]:
    """Keyword arguments of ``client.containers.run`` for one `finr1-serve up` server."""
    server = plan.config.servers[name]
    return {
        "image": image_tag(plan.root, "serve"),
        "command": plan.server_args(name, "0.0.0.0"),
        "name": f"{plan.config.name}-{name}",
        "working_dir": CONTAINER_WORKDIR,
        "network": network,
        "environment": {"HF_HOME": HF_HOME, **plan.environment([])},
        "volumes": _volumes(plan),
        "device_requests": device_requests(server.gpus),
        "ipc_mode": "host",  # vLLM's tensor-parallel workers share memory
        # The same wait as the local runner's: a start period of the server's health timeout, then quick probes.
        "healthcheck": {
            "test": health_test(server.port),
            "interval": HEALTH_INTERVAL_S * _NS,
            "timeout": 10 * _NS,
            "retries": HEALTH_RETRIES,
            "start_period": int(server.health_timeout() * _NS),
        },
        "detach": True,
        "labels": {"finr1.pipeline": plan.config.name, "finr1.server": name},
    }


def _launch(action: str, name: str, spec: dict[str, Any], entry: str, env: list[str], gpus: int) -> Launch:
    extra = f", shm {spec['shm_size']}" if "shm_size" in spec else ", ipc host"
    return Launch(
        action,
        name,
        [*(spec.get("entrypoint") or [entry]), *spec["command"]],
        env=env,
        volumes=[f"{src}:{v['bind']}:{v['mode']}" for src, v in spec["volumes"].items()],
        gpus=gpus,
        how=f"container {spec['name']} from {spec['image']} on network {spec['network']}{extra}",
        notes=[f"fixed env: HF_HOME={HF_HOME}"],
    )


class DockerRunner(Runner):
    """Runs every step as one container and every server as a container that lives while steps need it."""

    kind = "docker"

    def __init__(self, plan: Plan, *, client: Any = None, force: bool = False, poll_s: float = 5.0) -> None:
        super().__init__(plan, force=force)
        self._client = client
        self.poll_s = poll_s
        self.network = f"{plan.config.name}-net"
        self.servers: dict[str, Any] = {}
        bind_containers(plan)

    @property
    def client(self) -> Any:
        """The Docker client, connected on first use (a dry run never needs the SDK)."""
        if self._client is None:
            try:
                import docker
            except ImportError:
                raise MissingDependencyError("the docker runner needs the Docker SDK: pip install docker") from None
            try:
                client = docker.from_env()
                client.ping()
            except Exception as exc:
                raise Finr1Error(
                    f"no Docker engine reachable ({type(exc).__name__}); start Docker or use --runner local"
                ) from None
            self._client = client
        return self._client

    def run(self) -> list[StepResult]:
        if not self.client.networks.list(names=[self.network]):
            self.client.networks.create(self.network, driver="bridge")
        return super().run()

    def start_server(self, name: str) -> None:
        spec = server_container_spec(self.plan, name, self.network)
        server = self.plan.config.servers[name]
        log.info("starting server container %s (%s)", spec["name"], spec["image"])
        container = self.client.containers.run(**spec)
        self.servers[name] = container
        # The healthcheck turns "unhealthy" after start_period + retries x interval; wait a little longer.
        deadline = time.monotonic() + server.health_timeout() + HEALTH_RETRIES * HEALTH_INTERVAL_S + 60
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            container.reload()
            state = container.attrs.get("State", {})
            health = state.get("Health", {}).get("Status")
            if health == "healthy":
                return
            if state.get("Status") in ("exited", "dead") or health == "unhealthy":
                break
            time.sleep(self.poll_s)
        tail = _container_tail(container)
        self.stop_server(name)
        why = f"exited with {state.get('ExitCode')}" if state.get("Status") in ("exited", "dead") else "is not healthy"
        raise StageFailed(
            f"server container {spec['name']} {why} (health wait {server.health_timeout():g} s, "
            f"servers.{name}.health_timeout_s); docker logs {spec['name']}"
            + (f"; last lines:\n{tail}" if tail else "")
        )

    def stop_server(self, name: str) -> None:
        container = self.servers.pop(name, None)
        if container is None:
            return
        try:
            container.stop(timeout=30)
        finally:
            container.remove(force=True)

    def run_step(self, step: StepSpec) -> int:
        spec = step_container_spec(self.plan, step, self.network)
        log.info("step %s: %s %s", step.name, spec["image"], " ".join(spec["command"]))
        container = self.client.containers.run(**spec)
        try:
            for chunk in container.logs(stream=True, follow=True):
                sys.stderr.write(chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk)
            return int(container.wait().get("StatusCode", 1))
        finally:
            container.remove(force=True)

    def log_hint(self, step: StepSpec) -> str:
        return f"the container output above ({self.plan.config.name}-{step.name})"

    def describe_server(self, name: str) -> Launch:
        server = self.plan.config.servers[name]
        spec = server_container_spec(self.plan, name, self.network)
        launch = _launch("start", name, spec, "finr1-serve", self.plan.env_names([]), server.gpus)
        launch.notes.append(
            f"healthcheck {' '.join(health_test(server.port)[1:])}, start period {server.health_timeout():g} s"
        )
        return launch

    def describe_step(self, step: StepSpec) -> Launch:
        spec = step_container_spec(self.plan, step, self.network)
        launch = _launch("run", step.name, spec, f"finr1-{step.tool}", self.plan.env_names(step.env), step.gpus)
        if step.servers:
            launch.notes.append(f"servers: {', '.join(f'{s} {self.plan.server_urls[s]}' for s in step.servers)}")
        return launch


def _container_tail(container: Any, lines: int = 20) -> str:
    try:
        raw = container.logs(tail=lines)
    except Exception:  # the container may be gone already
        return ""
    return (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)).rstrip()
