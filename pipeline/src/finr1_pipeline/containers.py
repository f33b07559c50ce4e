"""Run each stage as a single container through the Docker SDK for Python, or as compose services.

This is how a team that owns one stage runs it: the image ``finr1-<tool>:<version>`` with the same
arguments as the local command. Containers share one docker network (servers are reached by
container name), the artifacts folder is bind-mounted at ``/work/artifacts`` (configs read-only at
``/work/configs``), and the Hugging Face cache is the named volume ``finr1-hf-cache``; configs and training recipes are mounted read-only at their repo paths. Environment
variables are passed by *name*: the config lists names, their values are read from this process's
environment and go only into the container spec, never into a log line.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from finr1_core.errors import Finr1Error, MissingDependencyError
from finr1_pipeline.config import ServerSpec, StepSpec
from finr1_pipeline.plan import Plan, StepResult

log = logging.getLogger(__name__)

CONTAINER_WORKDIR = "/work"
HF_CACHE_VOLUME = "finr1-hf-cache"
HF_HOME = "/cache/huggingface"
# Always passed through when set (by name): Hub access and the log settings.
PASSTHROUGH_ENV = ("HF_TOKEN", "HF_ENDPOINT", "FINR1_LOG_LEVEL", "FINR1_LOG_FORMAT")


def image_tag(root: Path, tool: str) -> str:
    """``finr1-<tool>:<version>``, the version read from the package's own pyproject (never ``latest``)."""
    meta = tomllib.loads((root / "packages" / tool / "pyproject.toml").read_text(encoding="utf-8"))
    return f"finr1-{tool}:{meta['project']['version']}"


def _environment(names: list[str]) -> dict[str, str]:
    env = {"HF_HOME": HF_HOME}
    for name in [*PASSTHROUGH_ENV, *names]:
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _device_requests(gpus: int) -> list[Any]:
    if not gpus:
        return []
    from docker.types import DeviceRequest

    # count=-1 means all GPUs; device_ids would pin specific ones (never both, STYLE.md).
    return [DeviceRequest(count=gpus, capabilities=[["gpu"]])]


def _volumes(root: Path, plan: Plan) -> dict[str, dict[str, str]]:
    return {
        str(plan.artifacts): {"bind": f"{CONTAINER_WORKDIR}/artifacts", "mode": "rw"},
        str(root / "configs"): {"bind": f"{CONTAINER_WORKDIR}/configs", "mode": "ro"},
        # Pipeline files name recipes by their repo path; mount them where those paths resolve.
        str(root / "packages/train/recipes"): {"bind": f"{CONTAINER_WORKDIR}/packages/train/recipes", "mode": "ro"},
        HF_CACHE_VOLUME: {"bind": HF_HOME, "mode": "rw"},
    }


def step_container_spec(plan: Plan, step: StepSpec, network: str) -> dict[str, Any]:
    """Keyword arguments of ``client.containers.run`` for one stage."""
    args = plan.args(step, artifacts=f"{CONTAINER_WORKDIR}/artifacts")
    launch: dict[str, Any] = {"command": args}
    if step.launcher:  # e.g. accelerate launch … -m finr1_train: the launcher replaces the tool's entrypoint
        launch = {"entrypoint": [step.launcher[0]], "command": [*step.launcher[1:], "-m", f"finr1_{step.tool}", *args]}
    return {
        "image": image_tag(plan.root, step.tool),
        **launch,
        "name": f"{plan.config.name}-{step.name}",
        "working_dir": CONTAINER_WORKDIR,
        "network": network,
        "environment": _environment(step.env),
        "volumes": _volumes(plan.root, plan),
        "device_requests": _device_requests(step.gpus),
        "shm_size": "8g",
        "detach": True,
        "labels": {"finr1.pipeline": plan.config.name, "finr1.step": step.name},
    }


def server_container_spec(plan: Plan, name: str, server: ServerSpec, network: str) -> dict[str, Any]:
    """Keyword arguments of ``client.containers.run`` for one `finr1-serve up` server."""
    model = plan.resolve(str(server.model), where=f"servers.{name}.model")
    if model and not model.startswith(("hf://", "/")) and model != "embedded":
        model = f"{CONTAINER_WORKDIR}/{model}"
    command = ["up", "--model", model, "--host", "0.0.0.0", "--port", str(server.port)]
    command += ["--served-model-name", server.served_model_name, "--engine", server.engine, *server.args]
    return {
        "image": image_tag(plan.root, "serve"),
        "command": command,
        "name": f"{plan.config.name}-{name}",
        "working_dir": CONTAINER_WORKDIR,
        "network": network,
        "environment": _environment([]),
        "volumes": _volumes(plan.root, plan),
        "device_requests": _device_requests(server.gpus),
        "ipc_mode": "host",  # vLLM's tensor-parallel workers share memory
        "detach": True,
        "labels": {"finr1.pipeline": plan.config.name, "finr1.server": name},
    }


class DockerRunner:
    """Runs every step as one container and every server as a long-lived container on one network."""

    def __init__(self, plan: Plan, *, client: Any = None, force: bool = False, health_timeout_s: float = 1800) -> None:
        if client is None:
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
        self.client = client
        self.plan = plan
        self.force = force
        self.health_timeout_s = health_timeout_s
        self.network = f"{plan.config.name}-net"
        self.servers: dict[str, Any] = {}
        for name, server in plan.config.servers.items():
            if server.external_url:
                plan.server_urls[name] = server.external_url
                plan.server_models[name] = server.external_model or server.served_model_name
            else:
                plan.server_urls[name] = f"http://{plan.config.name}-{name}:{server.port}/v1"
                plan.server_models[name] = server.served_model_name

    def _ensure_network(self) -> None:
        if not self.client.networks.list(names=[self.network]):
            self.client.networks.create(self.network, driver="bridge")

    def start_server(self, name: str) -> None:
        server = self.plan.config.servers[name]
        if server.external_url or name in self.servers:
            return
        spec = server_container_spec(self.plan, name, server, self.network)
        log.info("starting server container %s (%s)", spec["name"], spec["image"])
        container = self.client.containers.run(**spec)
        self.servers[name] = container
        deadline = time.monotonic() + self.health_timeout_s
        while time.monotonic() < deadline:
            container.reload()
            state = container.attrs.get("State", {})
            health = state.get("Health", {}).get("Status")
            if health == "healthy":
                return
            if state.get("Status") in ("exited", "dead"):
                break
            time.sleep(5)
        raise Finr1Error(f"server container {spec['name']} did not become healthy (docker logs {spec['name']})")

    def stop_all(self) -> None:
        for container in self.servers.values():
            try:
                container.stop(timeout=30)
                container.remove()
            except Exception as exc:  # cleanup must not hide the real error
                log.warning("could not remove %s: %s", getattr(container, "name", "?"), exc)
        self.servers.clear()

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

    def run(self) -> list[StepResult]:
        self.plan.artifacts.mkdir(parents=True, exist_ok=True)
        self._ensure_network()
        results = []
        try:
            for step in self.plan.config.steps:
                if not self.force and self.plan.is_complete(step):
                    results.append(StepResult(step.name, "skipped"))
                    continue
                started = time.monotonic()
                for server in step.servers:
                    self.start_server(server)
                rc = self.run_step(step)
                results.append(StepResult(step.name, "ran" if rc == 0 else "failed", time.monotonic() - started, rc))
                if rc != 0:
                    raise Finr1Error(f"step '{step.name}' container exited with {rc}")
        finally:
            self.stop_all()
        self.plan.collect_report()
        return results


def compose_commands(plan: Plan, compose_file: Path) -> list[list[str]]:
    """The `docker compose` commands that run the pipeline: servers up and healthy, then each job in order."""
    base = ["docker", "compose", "-f", str(compose_file)]
    commands = []
    started: set[str] = set()
    for step in plan.config.steps:
        needed = [s for s in step.servers if s not in started and not plan.config.servers[s].external_url]
        if needed:
            commands.append([*base, "up", "--detach", "--wait", *needed])
            started.update(needed)
        commands.append([*base, "--profile", "jobs", "run", "--rm", step.name])
    commands.append([*base, "down"])
    return commands


class ComposeRunner:
    """Drives `compose/pipeline.yaml`: the same chain, one compose service per step."""

    def __init__(self, plan: Plan, compose_file: Path) -> None:
        self.plan = plan
        self.compose_file = compose_file

    def run(self) -> list[StepResult]:
        results = []
        for cmd in compose_commands(self.plan, self.compose_file):
            started = time.monotonic()
            log.info("compose: %s", " ".join(cmd[4:]))
            try:
                rc = subprocess.call(cmd)
            except FileNotFoundError:
                raise Finr1Error(
                    "the docker client is not installed; install Docker with the compose plugin"
                ) from None
            name = cmd[-1] if "run" in cmd else " ".join(cmd[4:])
            results.append(StepResult(name, "ran" if rc == 0 else "failed", time.monotonic() - started, rc))
            if rc != 0:
                raise Finr1Error(f"`{' '.join(cmd)}` exited with {rc}")
        return results
