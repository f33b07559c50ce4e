"""SFT and GRPO end to end on the tiny Qwen2 (CPU, seconds): outputs, resume, beta 0, hub revisions, bad input."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from finr1_core.refs import read_lineage
from finr1_train import rewards as rewards_module
from finr1_train.callbacks import revision_name
from finr1_train.cli import main
from finr1_train.config import load_recipe
from finr1_train.train import run

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
SFT_CPU = str(RECIPES / "smollm2-135m/sft/cpu.yaml")
GRPO_CPU = str(RECIPES / "smollm2-135m/grpo/cpu.yaml")
QUICK = ["--logging_steps", "1", "--save_steps", "2", "--warmup_steps", "0"]


def test_sft_writes_a_complete_model_folder(tiny_model, judged, tmp_path, capsys):
    out = tmp_path / "sft"
    code = main(
        [
            "sft",
            "--config",
            SFT_CPU,
            "--model",
            str(tiny_model),
            "--dataset",
            str(judged),
            "--output",
            str(out),
            "--max_steps",
            "3",
            *QUICK,
        ]
    )
    assert code == 0, capsys.readouterr().err
    names = {p.name for p in out.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
        "README.md",
        "lineage.json",
        "metrics.json",
        "training_curves.png",
    } <= names
    assert ".finr1-work" not in names and "training_args.bin" not in names  # resume state and pickles removed
    assert (out / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["counts"] == {"input_rows": 8, "dropped_long": 0, "train_rows": 8, "steps": 3}
    assert [e["step"] for e in metrics["log_history"] if "loss" in e] == [1, 2, 3]
    lineage = read_lineage(str(out))
    assert lineage is not None and lineage.tool == "finr1-train"
    assert [r.ref for r in lineage.inputs] == [str(tiny_model), str(judged)]
    assert lineage.config["trl"]["max_steps"] == 3 and lineage.config["system_prompt"]
    assert "Trained with this system prompt" in (out / "README.md").read_text()
    stdout = capsys.readouterr().out
    assert f"model: {out}" in stdout and "curves:" in stdout

    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(str(out))
    assert AutoTokenizer.from_pretrained(str(out)).chat_template


class _Crash(Exception):
    pass


def test_sft_resumes_from_the_last_checkpoint(tiny_model, judged, tmp_path, monkeypatch, caplog):
    from transformers import TrainerCallback

    class CrashAt3(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise _Crash()

    out = tmp_path / "sft"
    flags = {"model": str(tiny_model), "dataset": str(judged), "output": str(out)}
    recipe = load_recipe("sft", SFT_CPU, flags, ["--max_steps", "4", *QUICK])
    monkeypatch.setattr("finr1_train.train._callbacks", lambda recipe: [CrashAt3()])
    with pytest.raises(_Crash):
        run(recipe)
    assert (out / ".finr1-work/checkpoints/checkpoint-2").is_dir() and read_lineage(str(out)) is None
    monkeypatch.undo()

    caplog.set_level(logging.INFO, logger="finr1_train")
    result = run(load_recipe("sft", SFT_CPU, {**flags, "resume": True}, ["--max_steps", "4", *QUICK]))
    assert "resuming from" in caplog.text and "checkpoint-2" in caplog.text
    assert result.global_step == 4
    steps = [e["step"] for e in result.trainer.state.log_history if "loss" in e]
    assert steps == [1, 2, 3, 4]  # the log of steps 1-2 comes back from the checkpoint


def test_resume_without_a_checkpoint_is_one_line(tiny_model, judged, tmp_path, capsys, no_model_loading):
    code = main(
        [
            "sft",
            "--config",
            SFT_CPU,
            "--model",
            str(tiny_model),
            "--dataset",
            str(judged),
            "--output",
            str(tmp_path / "o"),
            "--resume",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and _error_line(err).startswith("error: --resume: no complete checkpoint-* folder")


def _error_line(stderr: str) -> str:
    """The one error line a bad input must give (log lines may come before it; no traceback)."""
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    return errors[0]


def _partial(completions, **kwargs):
    """A partial-credit reward that differs between completions of a random model (longer text scores more)."""
    return [min(len(rewards_module.completion_text(c)), 400) / 400 for c in completions]


def test_grpo_beta0_has_no_reference_model_and_a_nonzero_gradient(tiny_model, judged, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    monkeypatch.setitem(rewards_module.REWARDS, "partial", _partial)
    out = tmp_path / "grpo"
    recipe = load_recipe(
        "grpo",
        GRPO_CPU,
        {"model": str(tiny_model), "dataset": str(judged), "output": str(out)},
        [
            "--rewards",
            "{format: 1.0, accuracy: 1.0, partial: 0.5}",
            "--max_steps",
            "2",
            "--max_completion_length",
            "24",
            "--learning_rate",
            "1e-3",
            *QUICK,
        ],
    )
    result = run(recipe)
    trainer = result.trainer
    assert trainer.args.beta == 0.0 and trainer.ref_model is None
    assert trainer.reward_func_names == ["format_reward", "accuracy_reward", "_partial"]
    assert trainer.args.reward_weights == [1.0, 1.0, 0.5]
    logs = [e for e in trainer.state.log_history if "reward" in e]
    assert len(logs) == 2
    assert any(e["grad_norm"] > 0 for e in logs)  # the rewards vary within a group
    assert all(e["rewards/format_reward/mean"] == 0.0 for e in logs)  # a random model has no format yet
    before, after = load_file(str(tiny_model / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert any(not before[k].equal(after[k]) for k in before)
    metrics = json.loads((out / "metrics.json").read_text())
    assert "rewards/_partial/mean" in metrics["summary"] and "completions/mean_length" in metrics["summary"]


def test_grpo_drops_long_prompts(tiny_model, judged, tmp_path, caplog, no_model_loading):
    recipe = load_recipe(
        "grpo",
        GRPO_CPU,
        {"model": str(tiny_model), "dataset": str(judged), "output": str(tmp_path / "g")},
        ["--max_prompt_tokens", "1"],
    )
    with pytest.raises(Exception, match="every one of the 4 GRPO prompts is longer than 1 tokens"):
        run(recipe)


@pytest.mark.parametrize(
    ("command", "case", "message"),
    [
        ("sft", "unknown_key", "unknown key 'max_sequence_length'"),
        ("sft", "missing_split", "no split 'sft' (splits: rl)"),
        ("sft", "missing_columns", "missing column(s) messages needed by finr1-train sft (has: id, text)"),
        ("grpo", "missing_columns", "missing column(s) prompt, solution, answer_type"),
        ("sft", "missing_model", "folder does not exist"),
        ("sft", "not_a_model", "no config.json in this folder"),
        ("sft", "missing_dataset", "dataset"),
        ("grpo", "foreign_output", "a non-empty folder that finr1 did not write"),
        ("grpo", "empty_split", "no rows to train on"),
    ],
)
def test_bad_input_is_one_line_before_any_model_loads(
    tiny_model, judged, tmp_path, capsys, no_model_loading, toy, command, case, message
):
    model, dataset, output = str(tiny_model), str(judged), str(tmp_path / "out")
    config = SFT_CPU if command == "sft" else GRPO_CPU
    if case == "unknown_key":
        path = tmp_path / "r.yaml"
        path.write_text(Path(config).read_text() + "max_sequence_length: 512\n")
        config = str(path)
    elif case == "missing_split":
        dataset = str(toy.write_judged(tmp_path / "only-rl", {"rl": toy.rl_rows()}))
    elif case == "missing_columns":
        dataset = str(
            toy.write_judged(
                tmp_path / "text",
                {command if command == "sft" else "rl": [{"id": "1", "text": "hello"}]},
                schema=False,
            )
        )
    elif case == "missing_model":
        model = str(tmp_path / "no-such-model")
    elif case == "not_a_model":
        model = str(tmp_path)
    elif case == "missing_dataset":
        dataset = str(tmp_path / "no-such-dataset")
    elif case == "foreign_output":
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "notes.txt").write_text("mine")
    elif case == "empty_split":
        dataset = str(toy.write_judged(tmp_path / "empty", {"rl": [], "sft": toy.sft_rows(2)}))
    code = main([command, "--config", config, "--model", model, "--dataset", dataset, "--output", output])
    err = capsys.readouterr().err
    assert code == 1, err
    assert message in _error_line(err)


def test_push_checkpoint_revisions_and_hub_output(tiny_model, judged, hub_repo_id):
    from huggingface_hub import HfApi

    output = f"hf://{hub_repo_id}"
    result = run(
        load_recipe(
            "sft",
            SFT_CPU,
            {"model": str(tiny_model), "dataset": str(judged), "output": output},
            ["--max_steps", "2", "--save_steps", "1", "--logging_steps", "1", "--push_checkpoints", "--run", "toy"],
        )
    )
    assert result.location.startswith("http") and result.metrics_path is None
    refs = HfApi().list_repo_refs(hub_repo_id)
    branches = {b.name for b in refs.branches}
    assert {"main", "toy-step-000000001", "toy-step-000000002"} <= branches
    files = set(HfApi().list_repo_files(hub_repo_id, revision="toy-step-000000002"))
    assert "model.safetensors" in files and not any(f.endswith((".pt", ".pth")) for f in files)
    main_files = set(HfApi().list_repo_files(hub_repo_id))
    assert {"model.safetensors", "lineage.json", "metrics.json", "training_curves.png", "README.md"} <= main_files
    assert read_lineage(output) is not None


def test_revision_name():
    assert revision_name("fin-r1", 1000) == "fin-r1-step-000001000"
