"""Recipes: every shipped recipe loads; finr1 keys and TRL arguments split, override and fail in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from finr1_core.errors import ConfigError
from finr1_train.config import (
    FIN_R1_SYSTEM_PROMPT,
    SETTINGS,
    GRPOSettings,
    load_recipe,
    split_cli_tokens,
    trl_config_class,
)

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
# GPU recipes are checked on CPU machines with the device flags overridden; nothing else changes.
CPU_OVERRIDES = ["--use_cpu", "true", "--bf16", "false"]


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*/*/*.yaml")), ids=lambda p: str(p.relative_to(RECIPES)))
def test_every_shipped_recipe_loads(path):
    kind = path.parent.name
    if kind not in ("sft", "grpo"):
        pytest.skip("accelerate config")
    recipe = load_recipe(kind, path, trl_tokens=[] if "cpu" in path.name else CPU_OVERRIDES)
    assert recipe.settings.output and recipe.settings.model
    assert recipe.settings.system_prompt == FIN_R1_SYSTEM_PROMPT
    if kind == "grpo":
        assert recipe.args.beta == 0.0 and recipe.args.loss_type == "grpo"
        assert recipe.args.max_completion_length > 100  # above the SFT traces (length trap)
        assert recipe.settings.reward_list() == ["format", "accuracy"]


def test_cpu_recipes_follow_the_cpu_rules():
    sft = load_recipe("sft", RECIPES / "smollm2-135m/sft/cpu.yaml")
    assert sft.args.use_cpu and sft.args.bf16 and not sft.args.gradient_checkpointing
    assert sft.settings.model == "embedded"
    grpo = load_recipe("grpo", RECIPES / "smollm2-135m/grpo/cpu.yaml")
    assert grpo.args.use_cpu and not grpo.args.use_vllm and not grpo.args.gradient_checkpointing
    assert grpo.settings.model == sft.settings.output  # the SFT output is GRPO's base


def test_gpu_recipes_use_vllm_in_both_modes():
    server = load_recipe("grpo", RECIPES / "qwen2.5-7b-instruct/grpo/fin-r1.yaml", trl_tokens=CPU_OVERRIDES)
    colocate = load_recipe("grpo", RECIPES / "qwen2.5-7b-instruct/grpo/fin-r1-colocate.yaml", trl_tokens=CPU_OVERRIDES)
    assert (server.args.use_vllm, server.args.vllm_mode) == (True, "server")
    assert (colocate.args.use_vllm, colocate.args.vllm_mode) == (True, "colocate")
    assert server.args.model_init_kwargs["dtype"] == "bfloat16"
    assert server.args.mask_truncated_completions
    sft = load_recipe("sft", RECIPES / "qwen2.5-7b-instruct/sft/fin-r1.yaml", trl_tokens=CPU_OVERRIDES)
    assert sft.args.max_length == 8192 and sft.args.num_train_epochs == 1 and sft.args.learning_rate == 2e-5


def test_gpu_recipe_on_cpu_fails_in_one_line():
    with pytest.raises(ConfigError, match="use_cpu: true, bf16: false") as info:
        load_recipe("sft", RECIPES / "qwen2.5-7b-instruct/sft/fin-r1.yaml", trl_tokens=["--use_cpu", "false"])
    assert "\n" not in str(info.value)


def test_finr1_keys_do_not_shadow_trl_fields():
    for kind, settings in SETTINGS.items():
        trl_fields = set(trl_config_class(kind).__dataclass_fields__)
        assert not set(settings.model_fields) & trl_fields


def test_precedence_defaults_yaml_flags(tmp_path):
    path = _write(
        tmp_path,
        {
            "model": "m",
            "learning_rate": "3e-5",
            "max_length": 64,
            "use_cpu": True,
            "bf16": False,
            "drop_overlong": False,
        },
    )
    recipe = load_recipe("sft", path)
    assert recipe.args.learning_rate == 3e-5  # YAML 1.1 reads 3e-5 as a string; converted like a flag
    assert recipe.args.max_length == 64 and recipe.settings.drop_overlong is False
    assert recipe.settings.dataset == "artifacts/judge"  # default
    recipe = load_recipe(
        "sft",
        path,
        overrides={"output": "out", "model": None},
        trl_tokens=["--learning_rate", "1e-5", "--max-length=32", "--drop_overlong", "true"],
    )
    assert recipe.args.learning_rate == 1e-5 and recipe.args.max_length == 32
    assert recipe.settings.drop_overlong is True and recipe.settings.output == "out"
    assert recipe.settings.model == "m"  # None overrides are ignored
    assert {"learning_rate", "max_length"} <= recipe.explicit_trl_keys


def test_grpo_reward_weights_from_a_mapping_or_list(tmp_path):
    recipe = load_recipe(
        "grpo", _write(tmp_path, {"rewards": {"format": 1.0, "accuracy": 2.0}, "use_cpu": True, "bf16": False})
    )
    assert isinstance(recipe.settings, GRPOSettings) and recipe.settings.reward_list() == ["format", "accuracy"]
    recipe = load_recipe(
        "grpo",
        _write(
            tmp_path, {"rewards": ["format", "tag_count"], "reward_weights": [1, 0.5], "use_cpu": True, "bf16": False}
        ),
    )
    assert recipe.args.reward_weights == [1.0, 0.5]


@pytest.mark.parametrize(
    ("data", "tokens", "message"),
    [
        ({"learning_rat": 1e-5}, [], "unknown key 'learning_rat' (did you mean 'learning_rate'?)"),
        ({"max_seq_length": 512}, [], "renamed to max_length in TRL 1.16"),
        ({"max_prompt_length": 512}, [], "use finr1's max_prompt_tokens"),
        ({"warmup_ratio": 0.1}, [], "warmup_steps: 0.1"),
        ({"model_name_or_path": "x"}, [], "finr1 calls it model"),
        ({"activation_checkpointing": False}, [], "use gradient_checkpointing"),
        ({}, ["--nope", "1"], "command line: unknown option 'nope'"),
        ({}, ["--learning_rate", "fast"], "invalid float value: 'fast'"),
        ({"learning_rate": "fast"}, [], "key 'learning_rate': cannot read 'fast'"),
        ({"rewards": ["format", "nope"]}, [], "unknown reward 'nope'"),
        ({"rewards": []}, [], "at least one reward"),
        ({"rewards": ["format", "accuracy"], "reward_weights": [1.0]}, [], "reward_weights has 1 values for 2"),
        ({"rewards": {"format": 1.0}, "reward_weights": [1.0]}, [], "not both"),
        ({"rewards": ["accuracy_llm"]}, [], "needs a verifier"),
        ({"verifier": {"base_url": "http://x/v1"}}, [], "verifier"),
        ({"push_checkpoints": True}, [], "push_checkpoints needs an hf:// output"),
        ({"max_prompt_tokens": 0}, [], "max_prompt_tokens"),
        ({"num_generations": 3, "per_device_train_batch_size": 4}, [], "divisible by num_generations"),
    ],
)
def test_bad_recipes_fail_in_one_line(tmp_path, data, tokens, message):
    path = _write(tmp_path, {"use_cpu": True, "bf16": False, **data})
    with pytest.raises(ConfigError) as info:
        load_recipe("grpo", path, trl_tokens=tokens)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_recipe_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_recipe("sft", tmp_path / "nope.yaml")


def test_split_cli_tokens():
    finr1, rest = split_cli_tokens(
        ["--rewards", "[format, accuracy]", "--lr", "1", "--push_checkpoints", "--max-prompt-tokens=64", "--bf16"],
        ["rewards", "push_checkpoints", "max_prompt_tokens"],
    )
    assert finr1 == {"rewards": ["format", "accuracy"], "push_checkpoints": True, "max_prompt_tokens": 64}
    assert rest == ["--lr", "1", "--bf16"]


def test_effective_config_is_complete_and_json_ready(tmp_path):
    import json

    recipe = load_recipe("sft", _write(tmp_path, {"model": "m", "use_cpu": True, "bf16": False}))
    config = recipe.effective_config()
    assert config["command"] == "sft" and config["model"] == "m"
    assert config["trl"]["use_cpu"] is True and "learning_rate" in config["trl"]
    json.dumps(config)
