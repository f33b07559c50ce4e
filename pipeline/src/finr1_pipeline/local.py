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
from typing import IO

from finr1_core.errors import Finr1Error
from finr1_pipeline.config import StepSpec
from finr1_pipeline.plan import Launch, Plan
from finr1_pipeline.runner import Runner, StageFailed

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 20
_POLL_S = 0.5  # how often the health wait checks whether the server process is still alive

__all__ = ["LocalRunner", "StageFailed", "tool_executable"]


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


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file (empty when it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


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


def _stop_process(proc: subprocess.Popen[bytes], *, group: bool) -> None:
    if proc.poll() is not None:
        return
    try:
        if group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        if group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        proc.wait()
    except ProcessLookupError:
        pass


class LocalRunner(Runner):
    """Starts servers on loopback when a step needs them, runs steps in order, skips complete ones."""

    kind = "local"

    def __init__(self, plan: Plan, *, force: bool = False) -> None:
        super().__init__(plan, force=force)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._sinks: dict[str, IO[bytes]] = {}
        self.logs = plan.artifacts / "logs"
        plan.bind(lambda name, server: f"http://127.0.0.1:{server.port}/v1", None, container=False)

    def _env(self) -> dict[str, str]:
        env = {**os.environ, **self.plan.config.env}
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        return env

    def server_log(self, name: str) -> Path:
        return self.logs / f"server-{name}.log"

    def start_server(self, name: str) -> None:
        server = self.plan.config.servers[name]
        cmd = [tool_executable("serve"), *self.plan.server_args(name, "127.0.0.1")]
        self.logs.mkdir(parents=True, exist_ok=True)
        sink = self.server_log(name).open("ab")
        self._sinks[name] = sink
        log.info("starting server %s: %s (log %s)", name, shlex.join(cmd[1:]), sink.name)
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=self._env(), start_new_session=True)
        self.procs[name] = proc
        timeout = server.health_timeout()
        url = f"http://127.0.0.1:{server.port}/v1"
        health = subprocess.Popen(
            [tool_executable("serve"), "health", "--url", url, "--timeout", f"{timeout:g}"],
            env=self._env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        started = time.monotonic()
        # Poll both: a server that exits (bad model ref, CUDA error, port in use) fails the wait at once.
        while health.poll() is None and proc.poll() is None:
            time.sleep(_POLL_S)
        if proc.poll() is not None:
            _stop_process(health, group=False)
            health.communicate()
            self._drop(name)
            tail = log_tail(self.server_log(name))
            raise StageFailed(
                f"server '{name}' exited with code {proc.returncode} after {time.monotonic() - started:.0f} s, "
                f"before it was healthy; see {self.server_log(name)}" + (f"; last lines:\n{tail}" if tail else "")
            )
        answer = (health.communicate()[0] or b"").decode("utf-8", "replace").strip()
        if health.returncode != 0:
            self.stop_server(name)
            raise StageFailed(
                f"server '{name}' did not become healthy within {timeout:g} s (servers.{name}.health_timeout_s); "
                f"see {self.server_log(name)}: {answer.splitlines()[-1] if answer else ''}"
            )
        log.info("server %s healthy after %.0f s", name, time.monotonic() - started)

    def _drop(self, name: str) -> None:
        self.procs.pop(name, None)
        sink = self._sinks.pop(name, None)
        if sink is not None:
            sink.close()

    def stop_server(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is not None:
            _stop_process(proc, group=True)
        self._drop(name)

    def run_step(self, step: StepSpec) -> int:
        cmd = self.plan.command(step, tool_executable(step.tool) if not step.launcher else None)
        log.info("step %s: %s", step.name, shlex.join(cmd))
        return _tee(cmd, self.logs / f"{step.name}.log", self._env())

    def log_hint(self, step: StepSpec) -> str:
        return str(self.logs / f"{step.name}.log")

    # --- dry run --------------------------------------------------------------------------------------------

    def _volumes(self) -> list[str]:
        # Local processes read and write the folders the containers mount, at their host paths (and this
        # environment's own Hugging Face cache instead of the finr1-hf-cache volume).
        return [f"{m.source}:{'ro' if m.read_only else 'rw'}" for m in self.plan.mounts() if not m.volume]

    def describe_server(self, name: str) -> Launch:
        server = self.plan.config.servers[name]
        return Launch(
            "start",
            name,
            ["finr1-serve", *self.plan.server_args(name, "127.0.0.1")],
            env=self.plan.env_names([]),
            volumes=self._volumes(),
            gpus=server.gpus,
            how="local process, log " + str(self.server_log(name)),
            notes=[f"health wait {server.health_timeout():g} s on http://127.0.0.1:{server.port}/health"],
        )

    def describe_step(self, step: StepSpec) -> Launch:
        return Launch(
            "run",
            step.name,
            self.plan.command(step),
            env=self.plan.env_names(step.env),
            volumes=self._volumes(),
            gpus=step.gpus,
            how="local process, log " + str(self.logs / f"{step.name}.log"),
            notes=[f"servers: {', '.join(f'{s} {self.plan.server_urls[s]}' for s in step.servers)}"]
            if step.servers
            else [],
        )
