"""A finished training whose output write failed is written by the rerun, as trained, without training again."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from finr1_core import refs
from finr1_core.refs import read_lineage
from finr1_train.cli import main

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
SFT_CPU = str(RECIPES / "smollm2-135m/sft/cpu.yaml")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    return errors[0]


def _refuse_training(*args, **kwargs):
    raise AssertionError("the rerun built a trainer: it would train again")


def _unavailable(*args, **kwargs):
    from huggingface_hub.errors import HfHubHTTPError

    request = httpx.Request("POST", "http://127.0.0.1/api/models/x/commit/main")
    raise HfHubHTTPError("503 Server Error: Service Unavailable", response=httpx.Response(503, request=request))


@pytest.fixture
def sft_argv(tiny_model, judged, hub_repo_id, tmp_path, monkeypatch):
    monkeypatch.setenv("FINR1_CACHE", str(tmp_path / "cache"))  # Hub outputs keep their work folder there
    return [
        "sft",
        "--config",
        SFT_CPU,
        "--model",
        str(tiny_model),
        "--dataset",
        str(judged),
        "--output",
        f"hf://{hub_repo_id}",
        "--max_steps",
        "3",
        "--save_steps",
        "2",
        "--logging_steps",
        "1",
        "--warmup_steps",
        "0",
        "--bf16",
        "false",
    ]


def _train_with_a_failing_push(argv: list[str], monkeypatch, capsys) -> Path:
    """Run 1: training finishes, the Hub commit answers 503 (every try); returns the staged weights."""
    with monkeypatch.context() as m:
        m.setattr("huggingface_hub.HfApi.create_commit", _unavailable)
        assert main(argv) == 1
    assert "503" in _error_line(capsys.readouterr().err)
    staged = refs.work_dir(argv[argv.index("--output") + 1], repo_type="model") / "final" / "model.safetensors"
    assert staged.is_file()
    return staged


def test_a_finished_training_whose_push_failed_is_pushed_without_training_again(
    sft_argv, hub_repo_id, monkeypatch, capsys
):
    from huggingface_hub import hf_hub_download

    staged = _train_with_a_failing_push(sft_argv, monkeypatch, capsys)
    trained = _sha(staged)
    staged_metrics = json.loads((staged.parent / "metrics.json").read_text())

    with monkeypatch.context() as m:
        m.setattr("trl.SFTTrainer.__init__", _refuse_training)
        code = main(sft_argv)
    assert code == 0, capsys.readouterr().err

    assert _sha(Path(hf_hub_download(hub_repo_id, "model.safetensors"))) == trained  # the weights trained in run 1
    metrics = json.loads(Path(hf_hub_download(hub_repo_id, "metrics.json")).read_text())
    assert metrics == staged_metrics  # recorded during that training, before the failed push
    assert metrics["counts"]["steps"] == 3
    assert [e["step"] for e in metrics["log_history"] if "loss" in e] == [1, 2, 3]
    lineage = read_lineage(f"hf://{hub_repo_id}")
    assert lineage is not None and lineage.counts["steps"] == 3 and lineage.config["trl"]["max_steps"] == 3
    assert not refs.work_dir(f"hf://{hub_repo_id}", repo_type="model").joinpath("final").exists()


def test_a_staged_training_with_other_settings_is_refused_in_one_line(sft_argv, monkeypatch, capsys):
    _train_with_a_failing_push(sft_argv, monkeypatch, capsys)
    with monkeypatch.context() as m:
        m.setattr("trl.SFTTrainer.__init__", _refuse_training)
        changed = [*sft_argv[:-2], "--learning_rate", "3e-4", *sft_argv[-2:]]
        assert main(changed) == 1
    line = _error_line(capsys.readouterr().err)
    assert "a finished training with other settings (trl.learning_rate)" in line and "--no-resume" in line
    # --no-resume discards it and trains again from step 0 with the new settings.
    assert main([*changed, "--no-resume"]) == 0, capsys.readouterr().err
    lineage = read_lineage(sft_argv[sft_argv.index("--output") + 1])
    assert lineage is not None and lineage.config["trl"]["learning_rate"] == 3e-4


def test_resumed_at_max_steps_it_does_not_train_a_step_more(tiny_model, judged, tmp_path, monkeypatch, capsys):
    """Killed after the last checkpoint (at max_steps, mid-epoch) but before the final folder was staged."""
    import transformers

    from finr1_train.config import load_recipe
    from finr1_train.train import run

    out = tmp_path / "sft"
    argv_flags = {"model": str(tiny_model), "dataset": str(judged), "output": str(out)}
    # 8 rows, batch 2: 4 steps an epoch; max_steps 3 with an epoch save puts the last checkpoint at step 3.
    tokens = ["--max_steps", "3", "--save_strategy", "epoch", "--logging_steps", "1", "--bf16", "false"]
    real_save = transformers.Trainer.save_model

    def crash_on_final(self, output_dir=None, _internal_call=False):
        if output_dir is not None and Path(output_dir).name == "final":
            raise KeyboardInterrupt  # stands in for the kill
        return real_save(self, output_dir, _internal_call)

    with monkeypatch.context() as m:
        m.setattr(transformers.Trainer, "save_model", crash_on_final)
        with pytest.raises(KeyboardInterrupt):
            run(load_recipe("sft", SFT_CPU, argv_flags, tokens))
    checkpoint = out / ".finr1-work" / "checkpoints" / "checkpoint-3"
    weights = _sha(checkpoint / "model.safetensors")

    result = run(load_recipe("sft", SFT_CPU, argv_flags, tokens))
    assert result.global_step == 3
    metrics = json.loads((out / "metrics.json").read_text())
    assert [e["step"] for e in metrics["log_history"] if "loss" in e] == [1, 2, 3]
    assert _sha(out / "model.safetensors") == weights
