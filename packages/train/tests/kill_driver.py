"""Run ``finr1-train`` in a child process that stops at a chosen point, for kill -9 tests (not a test module).

Usage: ``python kill_driver.py SPEC_JSON -- finr1-train arguments…`` where the spec names where to stop:

- ``{"pause": "weights", "step": N}``: the safetensors weights of ``checkpoint-N`` are half written (the first
  half of the real bytes is on disk, flushed) — a kill in the middle of the largest file of a save;
- ``{"pause": "rng", "step": N}``: the model, optimizer and scheduler of ``checkpoint-N`` are written, the RNG
  state and ``trainer_state.json`` not yet — a kill between the files of a save;
- ``{"pause": "reward", "step": N}``: GRPO is scoring the completions of optimizer step N (the ``probe``
  reward registered here stops), so the step is generated but not applied — a kill in the middle of a step.

At that point the driver writes ``sentinel`` and sleeps; the test waits for the file, then kills the process
with SIGKILL, so the moment is chosen by the code, not by timing. The ``probe`` reward (weight 0 in the
tests' recipes) also appends ``{"step": global_step, "prompts": [...]}`` to ``probe_log`` on every call.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def _stop_here(spec: dict) -> None:
    Path(spec["sentinel"]).write_text("paused\n", encoding="utf-8")
    while True:  # wait for SIGKILL
        time.sleep(60)


def _install(spec: dict) -> None:
    import transformers.modeling_utils as modeling_utils
    from transformers import Trainer

    from finr1_train import rewards

    pause, step = spec.get("pause"), spec.get("step")

    real_save_file = modeling_utils.safe_save_file

    def save_file(tensors, filename, metadata=None):
        if pause == "weights" and Path(filename).parent.name == f"checkpoint-{step}":
            from safetensors.torch import save

            data = save(tensors, metadata=metadata)
            with open(filename, "wb") as handle:
                handle.write(data[: len(data) // 2])
                handle.flush()
            _stop_here(spec)
        return real_save_file(tensors, filename, metadata=metadata)

    modeling_utils.safe_save_file = save_file

    real_rng = Trainer._save_rng_state

    def save_rng_state(self, output_dir):
        if pause == "rng" and Path(output_dir).name == f"checkpoint-{step}":
            _stop_here(spec)
        return real_rng(self, output_dir)

    Trainer._save_rng_state = save_rng_state

    rewards.REWARDS["probe"] = make_probe(spec)


def make_probe(spec: dict):
    """The ``probe`` reward: logs the step and prompts it scores; stops at step N when ``pause`` is ``reward``."""

    def probe(completions, prompts=None, trainer_state=None, **kwargs):
        global_step = trainer_state.global_step if trainer_state is not None else -1
        if spec.get("probe_log"):
            texts = sorted({p[-1]["content"] if isinstance(p, list) else str(p) for p in prompts or []})
            with open(spec["probe_log"], "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": global_step, "prompts": texts}) + "\n")
        if spec.get("pause") == "reward" and global_step == spec["step"] - 1:  # scoring the completions of step N
            _stop_here(spec)
        return [0.0] * len(completions)

    return probe


def main() -> int:
    spec = json.loads(sys.argv[1])
    argv = sys.argv[sys.argv.index("--") + 1 :]
    _install(spec)
    from finr1_train.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
