"""Recipes: one flat YAML per run, finr1's few keys next to TRL's own arguments.

A recipe (``recipes/<model>/<sft|grpo>/<name>.yaml``) is read once and split in two:

- the keys of :class:`SFTSettings` / :class:`GRPOSettings` (``model``, ``dataset``, ``output``,
  ``rewards``, ``system_prompt``, …) are finr1's and validated by pydantic;
- every other key must be a field of TRL's ``SFTConfig`` / ``GRPOConfig`` and goes to
  ``transformers.HfArgumentParser`` exactly as ``trl sft --config`` would take it.

Flags after the command override the file: finr1's keys as ``--key value`` and TRL's arguments as TRL
spells them (``--learning_rate 1e-5``, ``--bf16 false``). Precedence: defaults < YAML < flags.
Unknown keys, removed TRL 1.16 arguments and values TRL rejects fail here, in one line, before any model
or dataset is touched.
"""

from __future__ import annotations

import argparse
import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from finr1_core.config import StrictModel, read_yaml
from finr1_core.errors import ConfigError

Kind = Literal["sft", "grpo"]

FIN_R1_SYSTEM_PROMPT = (
    "You are a helpful AI Assistant that provides well-reasoned and detailed responses. You first think about "
    "the reasoning process as an internal monologue and then provide the user with the answer. Respond in the "
    "following format: <think>\n...\n</think>\n<answer>\n...\n</answer>"
)
"""open-r1's demo system prompt, which Fin-R1's README uses for inference (RECIPE.md §6)."""

EMBEDDED_MODEL = "embedded"
"""``model: embedded`` names the embedded SmolLM2-135M-Instruct (``finr1_core.models.embedded_model_path``)."""

# Keys of open-r1 recipes and TRL < 1.16 that no longer load, with what to write instead.
MOVED_KEYS: dict[str, str] = {
    "max_seq_length": "renamed to max_length in TRL 1.16",
    "torch_dtype": "renamed to dtype; write it inside model_init_kwargs: {dtype: bfloat16}",
    "warmup_ratio": "removed in transformers 5: give warmup_steps as a fraction below 1 (warmup_steps: 0.1)",
    "max_prompt_length": "removed in TRL 1.16: use finr1's max_prompt_tokens (longer prompts are dropped)",
    "overwrite_output_dir": "removed in transformers 5: finr1 resumes or restarts with --resume/--no-resume",
    "vllm_device": "removed in TRL 1.x: use vllm_mode: colocate or vllm_mode: server",
    "activation_checkpointing": (
        "not a TrainingArguments field in transformers 5.17: use gradient_checkpointing "
        "(or fsdp_config: {activation_checkpointing: true} under FSDP)"
    ),
    "model_name_or_path": "finr1 calls it model (a local folder, hf://ORG/NAME[@REV] or 'embedded')",
    "model_revision": "put the revision in the model ref: hf://ORG/NAME@REVISION",
    "dataset_name": "finr1 calls it dataset (a local folder or hf://datasets/ORG/NAME[@REV])",
    "dataset_train_split": "finr1 calls it split",
    "reward_funcs": "finr1 calls it rewards (a list, or a mapping reward -> weight)",
    "hub_model_revision": "finr1 names checkpoint revisions <run>-step-000001000: set run and push_checkpoints",
    "callbacks": "finr1 adds its callbacks itself (push_checkpoints: true pushes checkpoint revisions)",
    "attn_implementation": "write it inside model_init_kwargs: {attn_implementation: sdpa}",
}


class CommonSettings(StrictModel):
    """finr1's keys shared by both commands (everything else in a recipe is TRL's)."""

    model: str | None = Field(
        default=None, description="Base model: a local folder, hf://ORG/NAME[@REVISION], or 'embedded'."
    )
    dataset: str = Field(
        default="artifacts/judge", description="Judged dataset ref (local folder or hf://datasets/…)."
    )
    split: str = Field(default="", description="Split to train on (sft: 'sft', grpo: 'rl').")
    output: str = Field(default="", description="Final model ref: a local folder or hf://ORG/NAME[@BRANCH].")
    system_prompt: str | None = Field(
        default=FIN_R1_SYSTEM_PROMPT,
        description="System turn put first in every prompt, replacing any system turn the row has; null keeps rows as they are.",
    )
    max_samples: int | None = Field(default=None, ge=1, description="Use only the first N rows (quick runs).")
    run: str | None = Field(default=None, description="Run name for checkpoint revisions (default: output's name).")
    push_checkpoints: bool = Field(
        default=False, description="Push every saved checkpoint to the hf:// output at revision <run>-step-000001000."
    )
    resume: bool | None = Field(
        default=None,
        description="null: resume from the last checkpoint when there is one; true: must resume; false: start over.",
    )
    plot: bool = Field(default=True, description="Write training_curves.png next to metrics.json.")


class SFTSettings(CommonSettings):
    """finr1's keys of ``finr1-train sft``."""

    split: str = "sft"
    output: str = "artifacts/sft"
    drop_overlong: bool = Field(
        default=True,
        description="Drop samples longer than max_length instead of letting TRL truncate them (RECIPE.md §5).",
    )


class GRPOSettings(CommonSettings):
    """finr1's keys of ``finr1-train grpo``."""

    model: str | None = "artifacts/sft"
    split: str = "rl"
    output: str = "artifacts/grpo"
    rewards: list[str] | dict[str, float] = Field(
        default_factory=lambda: {"format": 1.0, "accuracy": 1.0},
        description="Reward names (weights from TRL's reward_weights, else 1) or a mapping reward -> weight.",
    )
    max_prompt_tokens: int | None = Field(
        default=None,
        ge=1,
        description="Drop prompts longer than this many tokens (TRL 1.16 has no max_prompt_length).",
    )
    verifier: Any = Field(default=None, description="accuracy_llm's endpoint: base_url, model, api_key_env, mode, …")
    stop_after_clipped_steps: int | None = Field(
        default=10,
        ge=1,
        description=(
            "Stop with an error after this many consecutive steps in which every completion was cut off at "
            "max_completion_length and the rewards carried no signal (TOOLING.md §9); null only warns."
        ),
    )

    @field_validator("rewards")
    @classmethod
    def _known_rewards(cls, value: list[str] | dict[str, float]) -> list[str] | dict[str, float]:
        from finr1_train.rewards import reward_names

        names = list(value)
        if not names:
            raise ValueError("at least one reward is needed")
        unknown = [n for n in names if n not in reward_names()]
        if unknown:
            raise ValueError(f"unknown reward {unknown[0]!r} (known: {', '.join(reward_names())})")
        if len(set(names)) != len(names):
            raise ValueError("a reward is listed twice")
        return value

    @field_validator("verifier")
    @classmethod
    def _verifier(cls, value: Any) -> Any:
        from finr1_train.rewards import VerifierConfig

        return None if value is None else VerifierConfig.model_validate(value)

    def reward_list(self) -> list[str]:
        """Reward names in order."""
        return list(self.rewards)


SETTINGS: dict[str, type[CommonSettings]] = {"sft": SFTSettings, "grpo": GRPOSettings}


@dataclass
class Recipe:
    """A parsed recipe: finr1's settings, TRL's config object, and where values came from."""

    kind: Kind
    settings: CommonSettings
    args: Any  # trl.SFTConfig | trl.GRPOConfig
    source: str
    explicit_trl_keys: frozenset[str]

    def effective_config(self) -> dict[str, Any]:
        """finr1's settings plus every TRL argument (TRL's own ``to_dict``, tokens masked) for lineage."""
        return {"command": self.kind, **self.settings.model_dump(mode="json"), "trl": _jsonable(self.args.to_dict())}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(getattr(value, "value", value))


def trl_config_class(kind: Kind) -> type:
    """TRL's config dataclass for ``kind`` (imports trl)."""
    from trl import GRPOConfig, SFTConfig

    return SFTConfig if kind == "sft" else GRPOConfig


def _unknown_key_message(source: str, key: str, known: Sequence[str]) -> str:
    if key in MOVED_KEYS:
        return f"{source}: key '{key}' is not accepted: {MOVED_KEYS[key]}"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{source}: unknown key '{key}'{hint}: not a finr1 key nor a field of TRL's config"


def split_cli_tokens(tokens: Sequence[str], finr1_keys: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """Separate ``--finr1_key value`` flags (parsed as YAML scalars) from the tokens meant for TRL's parser."""
    import yaml

    finr1: dict[str, Any] = {}
    rest: list[str] = []
    i = 0
    tokens = list(tokens)
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("--"):
            name, has_eq, inline = token[2:].partition("=")
            key = name.replace("-", "_")
            if key in finr1_keys:
                if has_eq:
                    raw = inline
                elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
                    raw = tokens[i + 1]
                    i += 1
                else:
                    raw = "true"
                try:
                    finr1[key] = yaml.safe_load(raw) if raw != "" else ""
                except yaml.YAMLError:
                    finr1[key] = raw
                i += 1
                continue
        rest.append(token)
        i += 1
    return finr1, rest


class _Parser:
    """``HfArgumentParser`` over one TRL config class whose errors are ConfigErrors, not ``SystemExit``."""

    def __init__(self, config_cls: type) -> None:
        from transformers import HfArgumentParser

        class Parser(HfArgumentParser):
            def error(self, message: str) -> None:  # type: ignore[override]
                raise ConfigError(f"command line: {message}")

        self.cls = config_cls
        self.parser = Parser(config_cls)
        # A bool field defaulting to True has two actions (--x and --no_x) with one dest; the first one's
        # default is what argparse uses, so defaults are set on every action of a dest.
        self.actions: dict[str, list[argparse.Action]] = {}
        for action in self.parser._actions:
            if action.dest != "help":
                self.actions.setdefault(action.dest, []).append(action)

    def set_defaults(self, values: Mapping[str, Any], source: str) -> None:
        """Use YAML values as defaults, converted with the same types the command line would use."""
        for key, value in values.items():
            actions = self.actions[key]
            converted = self._convert(actions[0], key, value, source)
            for action in actions:
                action.default = converted
                action.required = False

    @staticmethod
    def _convert(action: argparse.Action, key: str, value: Any, source: str) -> Any:
        kind = action.type
        if value is None or kind is None or kind is str or not callable(kind):
            return value
        try:
            if isinstance(value, list):
                return [kind(v) if isinstance(v, str) else v for v in value]
            if isinstance(value, str):
                return kind(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: key '{key}': cannot read {value!r} ({exc})") from None
        if action.choices is not None and value not in action.choices:
            choices = ", ".join(str(c) for c in action.choices)
            raise ConfigError(f"{source}: key '{key}': {value!r} is not one of {choices}")
        return value

    def parse(self, tokens: Sequence[str], source: str) -> Any:
        try:
            namespace, remaining = self.parser.parse_known_args(args=list(tokens))
        except ConfigError:
            raise
        if remaining:
            flags = [t for t in remaining if t.startswith("-")] or remaining
            name = flags[0].lstrip("-").split("=")[0].replace("-", "_")
            known = list(self.actions)
            raise ConfigError(_unknown_key_message("command line", name, known).replace("key", "option", 1))
        values = {k: v for k, v in vars(namespace).items() if k in {f.name for f in fields(self.cls) if f.init}}
        try:
            return self.cls(**values)
        except (ValueError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            hint = ""
            if "bf16" in first or "use_cpu" in first:
                hint = " (on a machine without a GPU set use_cpu: true, bf16: false or run a cpu recipe)"
            raise ConfigError(f"{source}: TRL rejected the arguments: {first}{hint}") from None


def _cli_value(tokens: Sequence[str], key: str) -> str | None:
    """The value of ``--key value`` / ``--key=value`` among command-line tokens, else None."""
    for i, token in enumerate(tokens):
        name, has_eq, inline = token.partition("=")
        if name.startswith("--") and name[2:].replace("-", "_") == key:
            if has_eq:
                return inline
            return tokens[i + 1] if i + 1 < len(tokens) else ""
    return None


def _explicit_cli_keys(tokens: Sequence[str]) -> set[str]:
    return {t[2:].split("=")[0].replace("-", "_") for t in tokens if t.startswith("--")}


def load_recipe(
    kind: Kind,
    config_path: str | Path | None,
    overrides: Mapping[str, Any] | None = None,
    trl_tokens: Sequence[str] = (),
) -> Recipe:
    """Read a recipe for ``kind`` and apply flag overrides; every error is one ConfigError line.

    Args:
        kind: ``"sft"`` or ``"grpo"``.
        config_path: The YAML recipe (``None``: defaults and flags only).
        overrides: finr1 keys set by explicit flags (``None`` values are ignored).
        trl_tokens: Remaining command-line tokens: finr1 keys as ``--key value`` and TRL's own arguments.

    Returns:
        The validated :class:`Recipe` (nothing is loaded: no model, no dataset).
    """
    settings_cls = SETTINGS[kind]
    finr1_keys = list(settings_cls.model_fields)
    data: dict[str, Any] = read_yaml(config_path) if config_path is not None else {}
    source = str(config_path) if config_path is not None else "config"
    env = data.pop("env", None)
    config_cls = trl_config_class(kind)
    parser = _Parser(config_cls)

    finr1_values = {k: v for k, v in data.items() if k in finr1_keys}
    trl_values = {k: v for k, v in data.items() if k not in finr1_keys}
    for key in trl_values:
        if key not in parser.actions or key in MOVED_KEYS:
            raise ConfigError(_unknown_key_message(source, key, [*finr1_keys, *parser.actions]))

    cli_finr1, cli_trl = split_cli_tokens(trl_tokens, finr1_keys)
    for key, value in (overrides or {}).items():
        if value is not None:
            cli_finr1[key] = value
    settings = _validate_settings(settings_cls, finr1_values, source)
    if cli_finr1:
        settings = _validate_settings(settings_cls, {**finr1_values, **cli_finr1}, "command line")

    # argparse itself would accept an unambiguous prefix (--learning for --learning_rate); refuse it like an unknown key.
    for key in _explicit_cli_keys(cli_trl):
        if key not in parser.actions or key in MOVED_KEYS:
            raise ConfigError(
                _unknown_key_message("command line", key, [*finr1_keys, *parser.actions]).replace("key", "option", 1)
            )

    if env is not None:
        if not isinstance(env, Mapping):
            raise ConfigError(f"{source}: key 'env': expected a mapping of variable names to values")
        for name, value in env.items():
            os.environ[str(name)] = str(value)

    # transformers imports DeepSpeed while it parses a deepspeed: argument or under accelerate's DeepSpeed
    # environment (a traceback without it): check first.
    from finr1_train.preflight import needs, require

    deepspeed = trl_values.get("deepspeed") or _cli_value(cli_trl, "deepspeed")
    require(source, [n for n in needs({"deepspeed": deepspeed}) if n.package == "deepspeed"])

    parser.set_defaults(trl_values, source)
    args = parser.parse(cli_trl, source if not cli_trl else f"{source} + command line")
    explicit = frozenset(set(trl_values) | _explicit_cli_keys(cli_trl))
    recipe = Recipe(kind=kind, settings=settings, args=args, source=source, explicit_trl_keys=explicit)
    _check_consistency(recipe)
    return recipe


def _validate_settings(cls: type[CommonSettings], values: Mapping[str, Any], source: str) -> CommonSettings:
    try:
        return cls.model_validate(dict(values))
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            return cls()  # unreachable: keys were split by name
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        got = err.get("input")
        got_text = "" if isinstance(got, dict) else f", got {got!r}"
        raise ConfigError(f"{source}: key '{key}': {message}{got_text}"[:400]) from None


def _check_consistency(recipe: Recipe) -> None:
    """Cross-checks between finr1's keys and TRL's that TRL would only make after loading the model."""
    settings, args = recipe.settings, recipe.args
    if not settings.output:
        raise ConfigError(f"{recipe.source}: key 'output' is empty: give a local folder or hf://ORG/NAME")
    if settings.model is None:
        raise ConfigError(f"{recipe.source}: key 'model' is missing: give a local folder, hf://ORG/NAME or 'embedded'")
    if isinstance(settings, GRPOSettings):
        names = settings.reward_list()
        if isinstance(settings.rewards, dict) and "reward_weights" in recipe.explicit_trl_keys:
            raise ConfigError(
                f"{recipe.source}: give weights either as rewards: {{name: weight}} or as reward_weights, not both"
            )
        if args.reward_weights is not None and len(args.reward_weights) != len(names):
            raise ConfigError(
                f"{recipe.source}: reward_weights has {len(args.reward_weights)} values for {len(names)} rewards "
                f"({', '.join(names)})"
            )
        if "accuracy_llm" in names and settings.verifier is None:
            raise ConfigError(f"{recipe.source}: reward 'accuracy_llm' needs a verifier: section (base_url, model)")
    if settings.push_checkpoints and not settings.output.startswith("hf://"):
        raise ConfigError(f"{recipe.source}: push_checkpoints needs an hf:// output (got {settings.output!r})")
