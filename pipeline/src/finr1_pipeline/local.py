"""Run the pipeline as local processes: `finr1-serve up` servers and `finr1-<tool>` stage commands."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from finr1_core.errors import Finr1Error
from finr1_pipeline.config import ServerSpec
from finr1_pipeline.plan import Plan, StepResult, command

log = logging.getLogger(__name__)


class StageFailed(Finr1Error):
    """A stage exited non-zero; the message names it and its log file."""


def tool_executable(tool: str) -> str:
    """Path of the `finr1-<tool>` console script, preferring the running interpreter's environment."""
    name = f"finr1-{tool}"
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise Finr1Error(f"{name} is not installed in this environment (pip install -e packages/{tool})")
    return found


def serve_command(server: ServerSpec, port: int) -> list[str]:
    """The `finr1-serve up` command line for one server."""
    cmd = [tool_executable("serve"), "up", "--model", str(server.model), "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--served-model-name", server.served_model_name, "--engine", server.engine, *server.args]
    return cmd


def _tee(cmd: list[str], log_path: Path, env: dict[str, str]) -> int:
    """Run ``cmd``, streaming its output to the console and to ``log_path``; return the exit code."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as sink:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1)
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                sys.stderr.write(line)
                sink.write(line)
            return proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
            raise


class LocalRunner:
    """Starts servers on loopback when a step needs them, runs steps in order, skips complete ones."""

    def __init__(self, plan: Plan, *, force: bool = False) -> None:
        self.plan = plan
        self.force = force
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = plan.artifacts / "logs"
        for name, server in plan.config.servers.items():
            if server.external_url:
                plan.server_urls[name] = server.external_url
                plan.server_models[name] = server.external_model or server.served_model_name
            else:
                plan.server_urls[name] = f"http://127.0.0.1:{server.port}/v1"
                plan.server_models[name] = server.served_model_name

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        return env

    def start_server(self, name: str) -> None:
        server = self.plan.config.servers[name]
        if server.external_url or name in self.procs:
            return
        model = self.plan.resolve(server.model or "", where=f"servers.{name}.model")
        # A server may serve the output of an earlier step: resolve artifact paths against the repo root.
        if model and not model.startswith(("hf://", "/")) and model != "embedded":
            model = str(self.plan.root / model)
        spec = server.model_copy(update={"model": model})
        cmd = serve_command(spec, server.port)
        self.logs.mkdir(parents=True, exist_ok=True)
        sink = (self.logs / f"server-{name}.log").open("ab")
        log.info("starting server %s: %s (log %s)", name, " ".join(cmd[1:]), sink.name)
        self.procs[name] = subprocess.Popen(
            cmd, stdout=sink, stderr=subprocess.STDOUT, env=self._env(), start_new_session=True
        )
        health = [tool_executable("serve"), "health", "--url", f"http://127.0.0.1:{server.port}", "--timeout", "900"]
        started = time.monotonic()
        rc = subprocess.call(health, env=self._env())
        if rc != 0 or self.procs[name].poll() is not None:
            self.stop_server(name)
            raise StageFailed(f"server '{name}' did not become healthy; see {sink.name}")
        log.info("server %s healthy after %.0f s", name, time.monotonic() - started)

    def stop_server(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop_server(name)

    def run(self) -> list[StepResult]:
        steps = self.plan.config.steps
        last_use = {}
        for index, step in enumerate(steps):
            for server in step.servers:
                last_use[server] = index
        results: list[StepResult] = []
        try:
            for index, step in enumerate(steps):
                if not self.force and self.plan.is_complete(step):
                    log.info("step %s: output %s is complete, skipping", step.name, self.plan.output(step))
                    results.append(StepResult(step.name, "skipped"))
                    continue
                # Free memory before starting servers this step needs: stop servers no later step uses.
                for server in list(self.procs):
                    if last_use.get(server, -1) < index:
                        self.stop_server(server)
                started = time.monotonic()
                for server in step.servers:
                    self.start_server(server)
                cmd = command(step, tool_executable(step.tool), self.plan.args(step))
                log.info("step %s: %s", step.name, shlex.join(cmd))
                step_started = time.monotonic()
                rc = _tee(cmd, self.logs / f"{step.name}.log", self._env())
                elapsed = time.monotonic() - started
                if rc != 0:
                    results.append(StepResult(step.name, "failed", elapsed, rc))
                    raise StageFailed(f"step '{step.name}' exited with {rc}; see {self.logs / (step.name + '.log')}")
                results.append(
                    StepResult(
                        step.name,
                        "ran",
                        elapsed,
                        rc,
                        detail=f"{time.monotonic() - step_started:.0f} s in the stage itself",
                    )
                )
        finally:
            self.stop_all()
        self.plan.collect_report()
        return results
