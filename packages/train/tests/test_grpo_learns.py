"""GRPO learns with the real rewards: a tiny model SFT'd on Fin-R1-format rows gets format reward and moves.

Also the length trap (TOOLING.md §9): completions all cut off at ``max_completion_length`` carry no reward
signal; the run warns at every such step and fails instead of writing a model that learned nothing.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from finr1_train.callbacks import CLIPPED_KEY
from finr1_train.cli import main
from finr1_train.config import load_recipe
from finr1_train.train import run

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
SFT_CPU = str(RECIPES / "smollm2-135m/sft/cpu.yaml")
GRPO_CPU = str(RECIPES / "smollm2-135m/grpo/cpu.yaml")


def _question(i: int) -> tuple[str, int]:
    old, new = 100 + 7 * i, 130 + 11 * i
    return f"Revenue went from {old} to {new}. What is the change?", new - old


def _sft_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        question, change = _question(i)
        trace = f"<think>\n{change + 100 + 7 * i} - {100 + 7 * i} = {change}.\n</think>\n<answer>\n{change}\n</answer>"
        rows.append(
            {
                "id": f"toy/{i}",
                "source": "toy",
                "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": trace}],
            }
        )
    return rows


def _rl_rows(n: int) -> list[dict]:
    return [
        {
            "id": f"toy-rl/{i}",
            "source": "toy",
            "prompt": [{"role": "user", "content": _question(i)[0]}],
            "solution": str(_question(i)[1]),
            "answer_type": "numeric",
            "choices": None,
            "labels": None,
            "failed_filter": False,
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def fin_r1_sft(tiny_model, tmp_path_factory, toy) -> tuple[Path, Path]:
    """The tiny Qwen2 after a short SFT on Fin-R1-format traces with the Fin-R1 system prompt (the recipe's)."""
    root = tmp_path_factory.mktemp("learns")
    data = toy.write_judged(root / "judge", {"sft": _sft_rows(8), "rl": _rl_rows(8)})
    sft = root / "sft"
    # 50 full-batch steps at 5e-3 put the format in about 60-75 % of sampled completions (measured: format
    # reward 0.75 / 0.625 / 0.625 / 0.125 at GRPO steps 1-4), enough for groups with mixed rewards.
    run(
        load_recipe(
            "sft",
            SFT_CPU,
            {"model": str(tiny_model), "dataset": str(data), "output": str(sft)},
            [
                *("--max_steps", "50", "--learning_rate", "5e-3", "--lr_scheduler_type", "constant"),
                *("--warmup_steps", "0", "--per_device_train_batch_size", "8", "--bf16", "false"),
                *("--save_strategy", "no", "--logging_steps", "10", "--plot", "false"),
            ],
        )
    )
    return sft, data


def test_grpo_after_sft_gets_format_reward_and_moves_the_weights(fin_r1_sft, tmp_path):
    from safetensors.torch import load_file

    sft, data = fin_r1_sft
    out = tmp_path / "grpo"
    result = run(
        load_recipe(
            "grpo",
            GRPO_CPU,  # the real rewards: format 1.0 + accuracy 1.0, beta 0, loss grpo, the Fin-R1 system prompt
            {"model": str(sft), "dataset": str(data), "output": str(out)},
            [
                *("--max_steps", "3", "--learning_rate", "1e-3", "--max_completion_length", "48"),
                *("--num_generations", "4", "--per_device_train_batch_size", "8", "--save_strategy", "no"),
                *("--plot", "false"),
            ],
        )
    )
    logs = [e for e in result.trainer.state.log_history if "reward" in e]
    assert len(logs) == 3
    assert result.trainer.reward_func_names == ["format_reward", "accuracy_reward"]
    # Below max_completion_length: the traces end on their own (the length trap would make this 1.0).
    assert all(e[CLIPPED_KEY] < 1.0 for e in logs), [e[CLIPPED_KEY] for e in logs]
    assert max(e["rewards/format_reward/mean"] for e in logs) > 0, logs
    assert any(e["grad_norm"] > 0 for e in logs)  # some group had mixed rewards
    before, after = load_file(str(sft / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert any(not before[k].equal(after[k]) for k in before)
    summary = json.loads((out / "metrics.json").read_text())["summary"]
    assert summary["rewards/format_reward/mean"]["mean"] > 0


def test_every_completion_cut_off_warns_at_each_step_and_fails(tiny_model, judged, tmp_path, capsys, caplog):
    out = tmp_path / "grpo"
    argv = ["grpo", "--config", GRPO_CPU, "--model", str(tiny_model), "--dataset", str(judged), "--output", str(out)]
    argv += ["--max_steps", "3", "--max_completion_length", "6", "--num_generations", "4"]
    argv += ["--per_device_train_batch_size", "4", "--save_steps", "1", "--plot", "false"]
    caplog.set_level(logging.WARNING, logger="finr1_train")
    assert main(argv) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert "every completion of all 3 logged GRPO steps was cut off at max_completion_length=6" in errors[0]
    assert "raise max_completion_length" in errors[0]
    assert [r.getMessage().split(":")[0] for r in caplog.records if "was cut off" in r.getMessage()] == [
        "step 1",
        "step 2",
        "step 3",
    ]
    assert not (out / "lineage.json").exists()  # nothing usable: not an output
    assert (out / ".finr1-work" / "checkpoints" / "checkpoint-3").is_dir()  # the paid work stays


def test_a_run_that_stays_cut_off_stops_early(tiny_model, judged, tmp_path):
    from finr1_core.errors import ConfigError

    recipe = load_recipe(
        "grpo",
        GRPO_CPU,
        {"model": str(tiny_model), "dataset": str(judged), "output": str(tmp_path / "grpo")},
        [
            *("--max_steps", "20", "--max_completion_length", "6", "--num_generations", "4"),
            *("--per_device_train_batch_size", "4", "--save_strategy", "no", "--stop_after_clipped_steps", "2"),
        ],
    )
    with pytest.raises(ConfigError, match="GRPO stopped at step 2: every completion of the last 2 steps"):
        run(recipe)
