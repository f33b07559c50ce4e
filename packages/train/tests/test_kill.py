"""kill -9 during a checkpoint save and in the middle of a GRPO step: the rerun resumes, loses and repeats nothing.

The child process (``kill_driver.py``) stops at a chosen point of the save or step and announces it with a
sentinel file; the test then sends SIGKILL. The moment is set by the code, not by timing.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finr1_core.refs import read_lineage
from finr1_train import rewards as rewards_module
from finr1_train.cli import main

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "kill_driver.py"
RECIPES = HERE.parent / "recipes"
SFT_CPU = str(RECIPES / "smollm2-135m/sft/cpu.yaml")
GRPO_CPU = str(RECIPES / "smollm2-135m/grpo/cpu.yaml")
# Generous: the child imports torch, transformers and TRL on a shared 2-core machine before it gets there.
PAUSE_TIMEOUT_S = 300


def _driver_module():
    spec = importlib.util.spec_from_file_location("finr1_train_kill_driver", DRIVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_until_paused(tmp_path: Path, spec: dict, argv: list[str]) -> None:
    """Start finr1-train in a child, wait until it stops at ``spec``'s point, then kill -9 it."""
    sentinel = tmp_path / "paused"
    sentinel.unlink(missing_ok=True)
    spec = {**spec, "sentinel": str(sentinel)}
    log = (tmp_path / "child.log").open("wb")
    child = subprocess.Popen(
        [sys.executable, str(DRIVER), json.dumps(spec), "--", *argv],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + PAUSE_TIMEOUT_S
        while not sentinel.exists():
            if child.poll() is not None:
                pytest.fail(f"the child exited ({child.returncode}) before the pause:\n{_tail(tmp_path)}")
            if time.monotonic() > deadline:
                pytest.fail(f"the child did not reach the pause in {PAUSE_TIMEOUT_S} s:\n{_tail(tmp_path)}")
            time.sleep(0.2)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
        log.close()
    assert child.returncode == -signal.SIGKILL


def _tail(tmp_path: Path) -> str:
    return (tmp_path / "child.log").read_text(errors="replace")[-3000:]


def _error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    return errors[0]


def _sft_argv(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "sft",
        "--config",
        SFT_CPU,
        "--model",
        str(model),
        "--dataset",
        str(data),
        "--output",
        str(out),
        "--max_steps",
        "6",
        "--save_steps",
        "2",
        "--save_total_limit",
        "1",
        "--logging_steps",
        "1",
        "--warmup_steps",
        "0",
        "--bf16",
        "false",
        *extra,
    ]


@pytest.mark.parametrize("point", ["weights", "rng"])
def test_sft_killed_while_saving_resumes_from_the_last_complete_checkpoint(
    tiny_model, judged, tmp_path, capsys, caplog, point
):
    out = tmp_path / "sft"
    checkpoints = out / ".finr1-work" / "checkpoints"
    argv = _sft_argv(tiny_model, judged, out)
    _run_until_paused(tmp_path, {"pause": point, "step": 4}, argv)

    # What the kill left: checkpoint-2 (save_total_limit 1 has not rotated it away) and a half-written checkpoint-4.
    assert (checkpoints / "checkpoint-2").is_dir() and (checkpoints / "checkpoint-4").is_dir()
    assert read_lineage(str(out)) is None

    caplog.set_level(logging.INFO, logger="finr1_train")
    assert main(argv) == 0, capsys.readouterr().err
    assert f"resuming from {checkpoints / 'checkpoint-2'}" in caplog.text
    reason = "model.safetensors is truncated" if point == "weights" else "no trainer_state.json"
    assert f"removed what an interrupted save left in {checkpoints}: checkpoint-4 (" in caplog.text
    assert f"[checkpoint-4: {reason}]" in caplog.text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["counts"]["steps"] == 6
    assert [e["step"] for e in metrics["log_history"] if "loss" in e] == [1, 2, 3, 4, 5, 6]
    assert not (out / ".finr1-work").exists()


def test_sft_killed_during_its_first_save_starts_over_in_one_line(tiny_model, judged, tmp_path, capsys, caplog):
    out = tmp_path / "sft"
    checkpoints = out / ".finr1-work" / "checkpoints"
    argv = _sft_argv(tiny_model, judged, out)
    _run_until_paused(tmp_path, {"pause": "weights", "step": 2}, argv)
    assert (checkpoints / "checkpoint-2" / "model.safetensors").is_file()

    # --resume insists: nothing usable is one line, no traceback, and the half-written weights are gone.
    assert main([*argv, "--resume"]) == 1
    line = _error_line(capsys.readouterr().err)
    assert (
        "--resume: no complete checkpoint-* folder" in line and "checkpoint-2 (model.safetensors is truncated)" in line
    )
    assert not (checkpoints / "checkpoint-2").exists()

    _run_until_paused(tmp_path, {"pause": "weights", "step": 2}, argv)
    caplog.set_level(logging.WARNING, logger="finr1_train")
    assert main(argv) == 0, capsys.readouterr().err
    assert "no complete checkpoint in" in caplog.text and "training starts from step 0" in caplog.text
    metrics = json.loads((out / "metrics.json").read_text())
    assert [e["step"] for e in metrics["log_history"] if "loss" in e] == [1, 2, 3, 4, 5, 6]


def test_grpo_killed_mid_step_resumes_without_losing_or_repeating_steps(tiny_model, toy, tmp_path, monkeypatch):
    data = toy.write_judged(tmp_path / "judge", {"rl": toy.rl_rows(8)})
    out = tmp_path / "grpo"
    probe_log = tmp_path / "probe.jsonl"
    argv = [
        "grpo",
        "--config",
        GRPO_CPU,
        "--model",
        str(tiny_model),
        "--dataset",
        str(data),
        "--output",
        str(out),
        "--rewards",
        "{format: 1.0, accuracy: 1.0, probe: 0.0}",
        "--max_steps",
        "4",
        "--save_steps",
        "2",
        "--logging_steps",
        "1",
        "--num_generations",
        "4",
        "--per_device_train_batch_size",
        "4",
        "--gradient_accumulation_steps",
        "2",  # one generation batch (2 prompts x 4) feeds two micro-steps: the buffered path
        "--max_completion_length",
        "16",
    ]
    # Killed while scoring step 3: steps 1-2 are checkpointed, step 3 was generated but never applied.
    _run_until_paused(tmp_path, {"pause": "reward", "step": 3, "probe_log": str(probe_log)}, argv)
    first = [json.loads(line) for line in probe_log.read_text().splitlines()]
    assert [r["step"] for r in first] == [0, 1, 2]
    probe_log.unlink()

    monkeypatch.setitem(rewards_module.REWARDS, "probe", _driver_module().make_probe({"probe_log": str(probe_log)}))
    assert main(argv) == 0
    second = [json.loads(line) for line in probe_log.read_text().splitlines()]
    # Only steps 3 and 4 are generated again: 1-2 are not repeated, 3 (never applied) is redone.
    assert [r["step"] for r in second] == [2, 3]
    # The data order continues where the checkpoint left it: step 3 scores the same prompts as before the kill,
    # and no prompt of steps 1-2 comes back (8 prompts, 2 per step: one epoch).
    assert second[0]["prompts"] == first[2]["prompts"]
    seen_before = set(first[0]["prompts"]) | set(first[1]["prompts"])
    assert not seen_before & (set(second[0]["prompts"]) | set(second[1]["prompts"]))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["counts"]["steps"] == 4
    assert [e["step"] for e in metrics["log_history"] if "reward" in e] == [1, 2, 3, 4]
