"""Trainer callbacks: checkpoints pushed to Hub revisions named ``<run>-step-000001000`` (open-r1's scheme)."""

from __future__ import annotations

import fnmatch
import logging
import os
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

logger = logging.getLogger(__name__)

# Optimizer, scheduler and RNG states, DeepSpeed shards and the completion marker stay local: a revision is for
# loading, not resuming.
CHECKPOINT_IGNORE = [
    "*.pt",
    "*.pth",
    "global_step*/**",
    "global_step*",
    "finr1-checkpoint.json",
    ".finr1-checkpoint.json*",
]


def revision_name(run: str, step: int) -> str:
    """The branch a checkpoint is pushed to: ``<run>-step-<step, 9 digits>`` (``fin-r1-step-000001000``)."""
    return f"{run}-step-{step:09d}"


class PushCheckpointRevisions(TrainerCallback):
    """After every save, upload the checkpoint's weights and tokenizer to ``repo_id`` on its own branch.

    Uploads run one at a time in a background thread so training does not wait; :meth:`wait` (called at
    the end of training) blocks until they are done. The checkpoint is first snapshotted with hard links
    (no copy, no extra space), so ``save_total_limit`` may rotate it away while it uploads. A failed
    upload is logged and recorded in :attr:`failures`, not raised from inside the training loop.

    Args:
        repo_id: Model repository on the Hub (created if missing).
        run: Prefix of the revision names.
        api: An ``huggingface_hub.HfApi`` (default: one for ``HF_ENDPOINT``/``HF_TOKEN``).
        background: Upload in a background thread (tests pass ``False``).
    """

    def __init__(self, repo_id: str, run: str, api: Any = None, background: bool = True) -> None:
        if api is None:
            from huggingface_hub import HfApi

            api = HfApi()
        self.repo_id = repo_id
        self.run = run
        self.api = api
        self.pushed: list[str] = []
        self.failures: list[str] = []
        self._executor = ThreadPoolExecutor(max_workers=1) if background else None
        self._futures: list[Future[None]] = []

    @staticmethod
    def _snapshot(folder: Path) -> Path:
        """Hard-link (or copy, across filesystems) the files worth pushing into a private temporary folder."""
        snapshot = Path(tempfile.mkdtemp(prefix=f".push-{folder.name}-", dir=folder.parent))
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder).as_posix()
            if not path.is_file() or any(fnmatch.fnmatch(rel, pattern) for pattern in CHECKPOINT_IGNORE):
                continue
            target = snapshot / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, target)
            except OSError:
                shutil.copy2(path, target)
        return snapshot

    def _push(self, folder: Path, revision: str, step: int) -> None:
        try:
            self.api.create_repo(self.repo_id, repo_type="model", exist_ok=True)
            self.api.create_branch(self.repo_id, branch=revision, repo_type="model", exist_ok=True)
            self.api.upload_folder(
                folder_path=str(folder),
                repo_id=self.repo_id,
                repo_type="model",
                revision=revision,
                commit_message=f"checkpoint at step {step}",
                ignore_patterns=CHECKPOINT_IGNORE,
            )
            self.pushed.append(revision)
            logger.info("pushed the step-%d checkpoint to %s@%s", step, self.repo_id, revision)
        except Exception as exc:
            self.failures.append(f"{revision}: {exc}")
            logger.error("pushing %s to %s@%s failed: %s", folder, self.repo_id, revision, exc)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if not folder.is_dir():
            logger.warning("checkpoint folder %s not found; nothing pushed", folder)
            return
        revision = revision_name(self.run, state.global_step)
        folder = self._snapshot(folder)
        if self._executor is None:
            self._push(folder, revision, state.global_step)
        else:
            self._futures.append(self._executor.submit(self._push, folder, revision, state.global_step))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.wait()

    def wait(self) -> None:
        """Block until queued uploads are done."""
        for future in self._futures:
            future.result()
        self._futures.clear()


class AlreadyTrained(Exception):
    """Raised by :class:`StopWhenAlreadyTrained` before a step that would go past ``max_steps``."""


class StopWhenAlreadyTrained(TrainerCallback):
    """Refuse to run a step once ``max_steps`` is reached.

    transformers 5.17's loop checks ``max_steps`` only after a step: resumed from a checkpoint saved at
    ``max_steps`` in the middle of an epoch (``save_strategy: epoch`` with ``max_steps``, or ``save_steps``
    dividing ``max_steps``), ``train()`` runs one step more (global step ``max_steps + 1``). Raised at the
    first ``on_step_begin``, after the checkpoint's weights and state are loaded and before any data or
    generation is consumed; the caller catches it and writes the model as it is.
    """

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if args.max_steps > 0 and state.global_step >= args.max_steps:
            raise AlreadyTrained(f"global step {state.global_step} reached max_steps {args.max_steps}")


CLIPPED_KEY = "completions/clipped_ratio"
ZERO_STD_KEY = "frac_reward_zero_std"


class ClippedCompletionsGuard(TrainerCallback):
    """Warn at every logged GRPO step whose completions were all cut off; stop when such steps teach nothing.

    A completion cut at ``max_completion_length`` never closes ``</answer>``: its format reward is 0. When a
    step's completions are all cut off and either ``mask_truncated_completions`` leaves them all out of the
    loss or every group's rewards are equal (``frac_reward_zero_std`` 1: advantage 0), the step has no
    learning signal; with beta 0 the model does not move and the next steps are cut off too (TOOLING.md §9:
    SFT traces longer than ``max_completion_length``). Partial-credit rewards can still tell cut-off
    completions apart; such steps only warn.

    Args:
        max_completion_length: TRL's limit, for the messages.
        mask_truncated: TRL's ``mask_truncated_completions``.
        stop_after: Stop training once this many consecutive optimizer steps had no signal (None: only warn).
    """

    def __init__(self, max_completion_length: int, mask_truncated: bool, stop_after: int | None) -> None:
        self.max_completion_length = max_completion_length
        self.mask_truncated = mask_truncated
        self.stop_after = stop_after
        self.logged_steps = 0
        self.dead_steps = 0
        self.stopped_at: int | None = None
        self._last_alive = 0  # global step of the last log that had a learning signal

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        logs = logs or {}
        ratio = logs.get(CLIPPED_KEY)
        if ratio is None:  # eval logs, the final train summary
            return
        self.logged_steps += 1
        dead = ratio >= 1.0 and (self.mask_truncated or logs.get(ZERO_STD_KEY) == 1.0)
        if ratio >= 1.0 and state.is_world_process_zero:
            mean = logs.get("completions/mean_length")
            logger.warning(
                "step %d: every completion was cut off at max_completion_length=%d (%s 1.0, mean length %s)%s; "
                "raise max_completion_length above the length of the SFT traces",
                state.global_step,
                self.max_completion_length,
                CLIPPED_KEY,
                "?" if mean is None else f"{mean:.0f}",
                ": no complete answer and no reward signal" if dead else "",
            )
        if not dead:
            self._last_alive = state.global_step
            return
        self.dead_steps += 1
        if self.stop_after is not None and state.global_step - self._last_alive >= self.stop_after:
            if self.stopped_at is None:
                self.stopped_at = state.global_step
            control.should_training_stop = True

    def failure(self) -> str | None:
        """Why the run produced nothing usable, or None."""
        if self.stopped_at is not None:
            return (
                f"GRPO stopped at step {self.stopped_at}: every completion of the last {self.stop_after} steps was cut "
                f"off at max_completion_length={self.max_completion_length}, so the rewards carried no signal"
            )
        if self.logged_steps and self.dead_steps == self.logged_steps:
            return (
                f"every completion of all {self.logged_steps} logged GRPO steps was cut off at "
                f"max_completion_length={self.max_completion_length}, so the rewards carried no signal"
            )
        return None
