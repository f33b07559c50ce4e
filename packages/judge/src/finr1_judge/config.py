"""Configuration of ``finr1-judge run`` (defaults < ``--config`` YAML < flags).

Defaults follow RECIPE.md §3–§4: a Qwen2.5-72B-Instruct judge at temperature 0, three tries per
verdict, round 2 on round-1 passes only with all seven criteria required.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from finr1_core.config import StrictModel
from finr1_core.runner import EndpointConfig, min_usable_field

#: The Fin-R1 inference system prompt (RECIPE.md §6): SFT teaches exactly the format GRPO rewards.
FIN_R1_SYSTEM_PROMPT = (
    "You are a helpful AI Assistant that provides well-reasoned and detailed responses. You first think about the "
    "reasoning process as an internal monologue and then provide the user with the answer. Respond in the "
    "following format: <think>\n...\n</think>\n<answer>\n...\n</answer>"
)

#: Task domain per category (RECIPE.md §4 criterion 6); ``domains`` overrides it per source or category.
DEFAULT_DOMAINS: dict[str, str] = {
    "financial_code": "financial programming and quantitative trading code",
    "professional_knowledge": "professional financial knowledge (finance, accounting, economics, regulation)",
    "business_knowledge": "financial business knowledge (banking, insurance, securities, compliance)",
    "reasoning_business_knowledge": "financial reasoning over reports, tables and market news",
}


class JudgeEndpoint(EndpointConfig):
    """One OpenAI-compatible judge endpoint: every runner endpoint setting (retries, backoff, HTTP client) plus a name."""

    name: str | None = Field(default=None, description="Label in summaries (default: the model name).")
    base_url: str = Field(default="http://localhost:8000/v1", description="OpenAI-compatible base URL.")
    model: str = Field(default="Qwen2.5-72B-Instruct", description="Model name sent with every request.")
    timeout_s: float = Field(default=300.0, gt=0, description="Per-request timeout.")

    @property
    def label(self) -> str:
        """Name shown in summaries."""
        return self.name or self.model

    def endpoint(self) -> EndpointConfig:
        """The runner's endpoint settings (keeping how the user named each setting, for messages)."""
        fields = set(EndpointConfig.model_fields)
        return EndpointConfig(**self.model_dump(include=fields)).with_setting_names(self.setting_names())


class Round1Config(StrictModel):
    """Round 1: is the final answer right? Rules for objective items, the LLM judge for the rest."""

    max_tokens: int = Field(default=64, ge=1, description="The judge only writes \\boxed{0|1}.")
    prompt: str | None = Field(
        default=None, description="Template with {reference} and {answer}; null = the Fin-R1 rules-first prompt."
    )

    @field_validator("prompt")
    @classmethod
    def _placeholders(cls, value: str | None) -> str | None:
        _require_placeholders(value, ("{reference}", "{answer}"))
        return value


class Round2Config(StrictModel):
    """Round 2: is the reasoning trace good? Seven criteria on round-1 passes only."""

    enabled: bool = Field(default=True, description="false: round-1 passes are good without round 2.")
    max_tokens: int = Field(default=2048, ge=1, description="The judge may reason before its verdicts.")
    decision: Literal["criteria", "boxed"] = Field(
        default="criteria",
        description="criteria: good when at least min_criteria of the parsed criteria hold (all seven must be "
        "parsed); boxed: the judge's final \\boxed{} decides (criteria stored when parsed).",
    )
    min_criteria: int = Field(default=7, ge=1, le=7, description="How many of the seven must hold.")
    prompt: str | None = Field(
        default=None,
        description="Template with {task_domain}, {question}, {reasoning}, {reference}; null = the Fin-R1 prompt.",
    )

    @field_validator("prompt")
    @classmethod
    def _placeholders(cls, value: str | None) -> str | None:
        _require_placeholders(value, ("{task_domain}", "{question}", "{reasoning}", "{reference}"))
        return value


class MechanicalConfig(StrictModel):
    """Deterministic versions of criteria 2, 3 and 5 (always computed and stored)."""

    min_steps: int = Field(default=3, ge=1, description="Criterion 3: at least this many reasoning steps.")
    max_repeated_fraction: float = Field(
        default=0.3, ge=0, le=1, description="Criterion 5: largest share of repeated steps still diverse."
    )
    min_term_overlap: float = Field(
        default=0.3, ge=0, le=1, description="Criterion 2 (free-form answers only): share of reference terms used."
    )
    reject_before_judge: bool = Field(
        default=False, description="true: a failed mechanical check rejects the row before any judge call."
    )


class CalibrationConfig(StrictModel):
    """Ask the LLM judge about a share of rule-scored items too and report agreement with the rule."""

    share: float = Field(default=0.0, ge=0, le=1, description="Share of rule-scored rows also sent to the judge.")
    seed: int = Field(default=42, description="Seed of the (hash-based) selection.")


class JudgeConfig(StrictModel):
    """Everything ``finr1-judge run`` needs; see packages/judge/README.md.

    ``min_usable`` (default 0.5): a round in which fewer than half of the judge's verdicts are usable
    after re-asking fails the run before anything is written. Below half is a systemic failure (a
    revoked key mid-run, the wrong model, a judge that echoes its prompt, a reasoning parser in front
    of an instruct judge), not item-level noise: a healthy Qwen2.5-72B judge gives a usable verdict
    on more than 95% of its asks (RECIPE.md §3: 0.0% format violations in the paper's layout study).
    """

    renamed_keys: ClassVar[dict[str, str]] = {"max_tries": "max_asks"}

    input: str = Field(default="artifacts/distill", description="Distilled dataset ref (local dir or hf://).")
    input_split: str = Field(default="train", description="Split of the input to judge.")
    output: str = Field(
        default="artifacts/judge", description="Output dataset ref (splits sft, rl, rejected, judged)."
    )
    judge: JudgeEndpoint = Field(default_factory=JudgeEndpoint, description="The (first) judge endpoint.")
    extra_judges: list[JudgeEndpoint] = Field(default_factory=list, description="More judges for a majority vote.")
    repeats: int = Field(default=1, ge=1, description="Verdicts per judge per row (majority vote over all).")
    temperature: float = Field(default=0.0, ge=0, description="Judge temperature (RECIPE: 0).")
    max_asks: int = Field(
        default=3, ge=1, description="Asks per verdict while the reply is unusable, then null (RECIPE §3: 3 tries)."
    )
    min_usable: float = min_usable_field("judge verdicts that are usable (per round, after re-asking)")
    concurrency: int = Field(default=64, ge=1, description="Requests in flight at once.")
    round1: Round1Config = Field(default_factory=Round1Config)
    round2: Round2Config = Field(default_factory=Round2Config)
    mechanical: MechanicalConfig = Field(default_factory=MechanicalConfig)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    system_prompt: str = Field(default=FIN_R1_SYSTEM_PROMPT, description="System turn of every sft conversation.")
    rl_system_prompt: bool = Field(
        default=False, description="true: also put system_prompt at the head of every rl prompt."
    )
    domains: dict[str, str] = Field(
        default_factory=dict, description="Task domain by source name or category (overrides the defaults)."
    )
    shard: str | None = Field(default=None, description="'I/N': judge only shard I of N (0-based), by item id.")
    limit: int | None = Field(default=None, ge=1, description="Judge only the first N rows (smoke runs).")
    progress: bool = Field(default=True, description="Show the runner's progress bar.")

    @model_validator(mode="after")
    def _distinct_judges(self) -> JudgeConfig:
        labels = [j.label for j in self.judges]
        if len(set(labels)) != len(labels):
            raise ValueError("judges need distinct names (set extra_judges[].name)")
        return self

    @property
    def judges(self) -> list[JudgeEndpoint]:
        """All judge endpoints, the primary first."""
        return [self.judge, *self.extra_judges]

    def domain_for(self, source: str, category: str) -> str:
        """Task domain of a row (criterion 6): by source, then category, then the defaults."""
        return self.domains.get(source) or self.domains.get(category) or DEFAULT_DOMAINS.get(category, "finance")


def _require_placeholders(template: str | None, names: tuple[str, ...]) -> None:
    if template is None:
        return
    missing = [n for n in names if n not in template]
    if missing:
        raise ValueError(f"prompt template lacks {', '.join(missing)}")
