"""The run loop the local, docker and compose runners share: follow :meth:`Plan.schedule`, skip complete steps.

A server is started lazily, only before a step that actually runs needs it (a re-run that skips every step
starts nothing), and stopped right after the last step that needs it, so the training steps get the GPUs the
judge and baseline servers held.
"""

from __future__ import annotations

import logging
import time
from typing import ClassVar

from finr1_core.errors import Finr1Error
from finr1_pipeline.config import StepSpec
from finr1_pipeline.plan import Launch, Plan, StepResult

log = logging.getLogger(__name__)


class StageFailed(Finr1Error):
    """A stage or server failed; the message names it and where its log is."""


class Runner:
    """Base class: subclasses start and stop servers, run one step, and describe both for dry runs."""

    kind: ClassVar[str] = "local"

    def __init__(self, plan: Plan, *, force: bool = False) -> None:
        self.plan = plan
        self.force = force
        self.running: list[str] = []

    # --- what subclasses implement -------------------------------------------------------------------------

    def start_server(self, name: str) -> None:
        raise NotImplementedError

    def stop_server(self, name: str) -> None:
        raise NotImplementedError

    def run_step(self, step: StepSpec) -> int:
        """Run one step to the end and return its exit code."""
        raise NotImplementedError

    def describe_server(self, name: str) -> Launch:
        raise NotImplementedError

    def describe_step(self, step: StepSpec) -> Launch:
        raise NotImplementedError

    def log_hint(self, step: StepSpec) -> str:
        """Where a failed step's output can be read."""
        return ""

    def finish(self) -> None:
        """Called once at the end, after every server is stopped."""

    # --- shared -------------------------------------------------------------------------------------------

    def describe(self) -> list[Launch]:
        """The schedule as this runner would carry it out (what ``--dry-run`` prints)."""
        out = []
        for action, name in self.plan.schedule():
            if action == "start":
                out.append(self.describe_server(name))
            elif action == "stop":
                out.append(Launch("stop", name))
            else:
                out.append(self.describe_step(self.plan.step(name)))
        return out

    def _stop(self, name: str) -> None:
        if name in self.running:
            self.running.remove(name)
            log.info("stopping server %s (no later step needs it)", name)
            self.stop_server(name)

    def stop_all(self) -> None:
        for name in list(reversed(self.running)):
            try:
                self._stop(name)
            except Exception as exc:  # cleanup must not hide the real error
                log.warning("could not stop server %s: %s", name, exc)

    def run(self) -> list[StepResult]:
        """Carry out the schedule; a failed step stops every server and raises :class:`StageFailed`."""
        self.plan.artifacts.mkdir(parents=True, exist_ok=True)
        self.plan.write_overrides()
        results: list[StepResult] = []
        try:
            for action, name in self.plan.schedule():
                if action == "stop":
                    self._stop(name)
                    continue
                if action == "start":
                    continue  # lazily, before the first step that runs and needs it
                step = self.plan.step(name)
                if not self.force and self.plan.is_complete(step):
                    log.info("step %s: output %s is complete, skipping", step.name, self.plan.output(step))
                    results.append(StepResult(step.name, "skipped"))
                    continue
                started = time.monotonic()
                for server in step.servers:
                    if server not in self.running and not self.plan.config.servers[server].external_url:
                        self.start_server(server)
                        self.running.append(server)
                step_started = time.monotonic()
                rc = self.run_step(step)
                elapsed = time.monotonic() - started
                if rc != 0:
                    results.append(StepResult(step.name, "failed", elapsed, rc))
                    hint = self.log_hint(step)
                    raise StageFailed(f"step '{step.name}' exited with {rc}{'; see ' + hint if hint else ''}")
                results.append(
                    StepResult(
                        step.name, "ran", elapsed, rc, detail=f"{time.monotonic() - step_started:.0f} s in the stage"
                    )
                )
        finally:
            self.stop_all()
            self.finish()
        self.plan.collect_report()
        return results
