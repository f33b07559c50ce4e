"""DeepSpeed and vLLM a recipe needs but the machine lacks: one line with the pip command, before any model loads.

This machine (and CI) has neither package, which is the case under test; "installed" is simulated by
patching the lookup.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from finr1_train import preflight
from finr1_train.cli import main

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
ZERO3 = str(RECIPES / "accelerate/zero3.yaml")
FSDP = str(RECIPES / "accelerate/fsdp.yaml")
SFT_7B = str(RECIPES / "qwen2.5-7b-instruct/sft/fin-r1.yaml")
GRPO_7B = str(RECIPES / "qwen2.5-7b-instruct/grpo/fin-r1.yaml")
GRPO_CPU = str(RECIPES / "smollm2-135m/grpo/cpu.yaml")
SFT_CPU = str(RECIPES / "smollm2-135m/sft/cpu.yaml")
ON_CPU = ["--use_cpu", "true", "--bf16", "false"]  # the GPU recipes' device flags, on this machine


@pytest.fixture(autouse=True)
def _neither_installed():
    if importlib.util.find_spec("deepspeed") or importlib.util.find_spec("vllm"):
        pytest.skip("DeepSpeed or vLLM is installed here")


@pytest.fixture
def installed(monkeypatch):
    """Pretend the given packages are installed."""

    def install(*packages: str) -> None:
        real = preflight.installed_version
        monkeypatch.setattr(preflight, "installed_version", lambda p: "9.9.9" if p in packages else real(p))

    return install


def _error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    return errors[0]


def test_dry_run_names_deepspeed_for_a_zero3_launch(capsys, no_model_loading):
    code = main(["sft", "--config", SFT_7B, *ON_CPU, "--dry-run", "--accelerate-config", ZERO3])
    line = _error_line(capsys.readouterr().err)
    assert code == 1
    assert f"accelerate config {ZERO3} (distributed_type DEEPSPEED) needs deepspeed, which is not installed" in line
    assert "pip install 'finr1-train[deepspeed]'" in line


def test_dry_run_names_vllm_for_both_grpo_modes(capsys, no_model_loading):
    for recipe, mode in (
        (GRPO_7B, "server"),
        (str(RECIPES / "qwen2.5-7b-instruct/grpo/fin-r1-colocate.yaml"), "colocate"),
    ):
        assert main(["grpo", "--config", recipe, *ON_CPU, "--dry-run", "--accelerate-config", FSDP]) == 1
        line = _error_line(capsys.readouterr().err)
        assert (
            f"use_vllm: true (vllm_mode: {mode}) needs vllm, which is not installed: pip install 'finr1-train[vllm]'"
            in line
        )
        assert "deepspeed" not in line  # FSDP needs no DeepSpeed


def test_dry_run_lists_both_and_passes_when_installed(capsys, installed, no_model_loading):
    assert main(["grpo", "--config", GRPO_7B, *ON_CPU, "--dry-run", "--accelerate-config", ZERO3]) == 1
    line = _error_line(capsys.readouterr().err)
    assert "needs deepspeed" in line and "needs vllm" in line
    installed("deepspeed", "vllm")
    assert main(["grpo", "--config", GRPO_7B, *ON_CPU, "--dry-run", "--accelerate-config", ZERO3]) == 0
    out = capsys.readouterr().out
    assert "needs deepspeed 9.9.9" in out and "needs vllm 9.9.9: use_vllm: true (vllm_mode: server)" in out
    assert "nothing was loaded or trained" in out


def test_cpu_recipes_need_neither(capsys):
    assert main(["sft", "--config", SFT_CPU, "--dry-run"]) == 0
    assert main(["grpo", "--config", GRPO_CPU, "--dry-run"]) == 0
    assert "needs " not in capsys.readouterr().out


def test_a_run_on_a_gpu_machine_without_vllm_stops_before_the_model(
    tiny_model, judged, tmp_path, capsys, monkeypatch, no_model_loading
):
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)  # a GPU machine, where TRL would start
    argv = ["grpo", "--config", GRPO_7B, *ON_CPU, "--model", str(tiny_model), "--dataset", str(judged)]
    assert main([*argv, "--output", str(tmp_path / "g")]) == 1
    assert "needs vllm, which is not installed: pip install 'finr1-train[vllm]'" in _error_line(
        capsys.readouterr().err
    )


def test_a_process_launched_with_deepspeed_stops_before_the_model(
    tiny_model, judged, tmp_path, capsys, monkeypatch, no_model_loading
):
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")  # what accelerate launch sets for a ZeRO config
    argv = ["sft", "--config", SFT_CPU, "--model", str(tiny_model), "--dataset", str(judged)]
    assert main([*argv, "--output", str(tmp_path / "s")]) == 1
    line = _error_line(capsys.readouterr().err)
    assert "ACCELERATE_USE_DEEPSPEED) needs deepspeed" in line and "finr1-train[deepspeed]" in line


@pytest.mark.parametrize("how", ["yaml", "flag"])
def test_a_deepspeed_argument_is_one_line(tmp_path, capsys, how, no_model_loading):
    recipe = Path(SFT_CPU)
    argv = ["sft", "--config", str(recipe), "--model", str(tmp_path), "--output", str(tmp_path / "o")]
    if how == "yaml":
        path = tmp_path / "r.yaml"
        path.write_text(recipe.read_text() + "deepspeed: ds_zero3.json\n")
        argv[2] = str(path)
    else:
        argv += ["--deepspeed", "ds_zero3.json"]
    assert main(argv) == 1
    line = _error_line(capsys.readouterr().err)
    assert "deepspeed: ds_zero3.json needs deepspeed, which is not installed" in line


def test_check_recipe_is_callable_on_its_own(installed):
    from finr1_core.errors import MissingDependencyError
    from finr1_train.config import load_recipe

    recipe = load_recipe("grpo", GRPO_7B, trl_tokens=ON_CPU)
    with pytest.raises(MissingDependencyError, match=r"\[vllm\]"):
        preflight.check_recipe(recipe)
    installed("vllm")
    assert [n.package for n in preflight.check_recipe(recipe)] == ["vllm"]
    with pytest.raises(MissingDependencyError, match=r"\[deepspeed\]"):
        preflight.check_recipe(recipe, ZERO3)


def test_an_unreadable_accelerate_config_is_one_line(tmp_path, capsys):
    assert main(["sft", "--config", SFT_CPU, "--dry-run", "--accelerate-config", str(tmp_path / "nope.yaml")]) == 1
    assert "accelerate config" in _error_line(capsys.readouterr().err)
