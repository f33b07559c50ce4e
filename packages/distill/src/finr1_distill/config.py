"""Configuration of ``finr1-distill run`` (defaults < ``--config`` YAML < flags).

Defaults follow RECIPE.md §1–§2: DeepSeek-R1 over its OpenAI-compatible API with no system prompt,
temperature 0.6, top_p 0.95, max_tokens 16384, one generation per prompt, and a per-source quota
table with the published counts (FinPEE is private and left out), filled by seeded sampling.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from finr1_core.config import StrictModel
from finr1_core.runner import EndpointConfig, min_usable_field

#: RECIPE.md §1 "Used" column: items per source in Fin-R1-Data (FinPEE is private and left out).
DEFAULT_QUOTAS: dict[str, int] = {
    "financeqt": 152,
    "finance_instruct_500k": 11_300,
    "financeiq": 2_596,
    "ant_finance": 1_548,
    "fincorpus": 29_288,
    "finqa": 2_948,
    "convfinqa": 7_629,
    "tfns": 2_451,
    "fincuge": 2_000,
}


class TeacherConfig(EndpointConfig):
    """The teacher endpoint (all runner endpoint settings) plus its sampling parameters."""

    base_url: str = Field(default="https://api.deepseek.com", description="OpenAI-compatible base URL.")
    model: str = Field(default="deepseek-reasoner", description="Teacher model id (DeepSeek-R1 on its API).")
    api_key_env: str | None = Field(default="DEEPSEEK_API_KEY", description="NAME of the env var holding the key.")
    temperature: float = Field(default=0.6, ge=0, description="RECIPE §2: 0.6.")
    top_p: float | None = Field(default=0.95, gt=0, le=1, description="RECIPE §2 default (DeepSeek's advice).")
    max_tokens: int = Field(default=16384, ge=1, description="Traces cut at this length are flagged, not kept.")
    extra_body: dict[str, Any] = Field(
        default_factory=dict, description="More request fields (seed, repetition_penalty, ...); never secrets."
    )
    reasoning: Literal["required", "split_final"] = Field(
        default="required",
        description="required: the trace must come from reasoning_content or a <think> block (R1 teachers); "
        "split_final: for teachers without a reasoning channel, an answer with neither is split into the "
        "reasoning (all but the last paragraph) and the final answer (the last paragraph).",
    )

    def endpoint(self) -> EndpointConfig:
        """The runner's endpoint settings (keeping how the user named each setting, for messages)."""
        fields = set(EndpointConfig.model_fields)
        return EndpointConfig(**self.model_dump(include=fields)).with_setting_names(self.setting_names())

    def params(self) -> dict[str, Any]:
        """Sampling fields of every request."""
        params: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.top_p is not None:
            params["top_p"] = self.top_p
        return {**params, **self.extra_body}


class SourceSpec(StrictModel):
    """One source to distil and how many of its items to use."""

    name: str = Field(description="Adapter name (finr1-distill sources), e.g. finqa or fincuge:finfe.")
    data: str | None = Field(default=None, description="Local file/folder in the original format; null = Hub.")
    hub_id: str | None = Field(default=None, description="Hub dataset id instead of the adapter's default.")
    split: str = Field(default="train", description="Split to read (train = the adapter's training split).")
    quota: int | None = Field(default=None, ge=0, description="Items to sample (seeded); null = all items.")


def _default_sources() -> list[SourceSpec]:
    return [SourceSpec(name=name, quota=quota) for name, quota in DEFAULT_QUOTAS.items()]


class DecontaminationConfig(StrictModel):
    """Drop items whose question appears in evaluation sets (RECIPE.md §11)."""

    enabled: bool = Field(default=True, description="false: keep every item (the card says so).")
    eval_data: list[str] = Field(
        default_factory=list,
        description="Roots laid out like ../shared/data (finqa/, convfinqa/, tfns/, ...); empty = skipped, "
        "with a warning.",
    )
    ngram: int = Field(default=8, ge=1, description="n of the n-gram overlap.")
    threshold: float = Field(default=0.5, ge=0, le=1, description="Share of n-grams that marks an item (0: any).")


class DistillConfig(StrictModel):
    """Everything ``finr1-distill run`` needs; see packages/distill/README.md.

    ``min_usable`` (default 0.5): a run in which fewer than half of the teacher calls give a usable
    trace fails before anything is written. Below half is a systemic failure (a revoked key mid-run,
    500s after every retry, the wrong model, an instruct model behind a reasoning parser), not
    item-level noise: a healthy DeepSeek-R1 run keeps more than 90% (the rest are traces cut by
    ``max_tokens`` and the odd empty answer). The finished calls stay in the work dir for the re-run.
    """

    sources: list[SourceSpec] = Field(default_factory=_default_sources, description="Sources and their quotas.")
    samples: bool = Field(default=False, description="Read the shipped sample of each source without data.")
    output: str = Field(
        default="artifacts/distill", description="Output dataset ref (local dir or hf://datasets/...)."
    )
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    samples_per_item: int = Field(default=1, ge=1, description="Generations per prompt (RECIPE: 1).")
    concurrency: int = Field(default=64, ge=1, description="Requests in flight at once.")
    limit: int | None = Field(default=None, ge=1, description="Read at most N items per source (smoke runs).")
    seed: int = Field(default=42, description="Seed of the quota sampling.")
    shard: str | None = Field(default=None, description="'I/N': distil only shard I of N (0-based), by item id.")
    decontamination: DecontaminationConfig = Field(default_factory=DecontaminationConfig)
    max_requests: int | None = Field(default=None, ge=1, description="Budget: start at most N requests this run.")
    max_total_tokens: int | None = Field(default=None, ge=1, description="Budget: stop after N tokens this run.")
    progress: bool = Field(default=True, description="Show the runner's progress bar.")
    min_usable: float = min_usable_field("teacher calls that give a usable trace")

    @model_validator(mode="after")
    def _distinct_sources(self) -> DistillConfig:
        names = [s.name for s in self.sources]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"source(s) listed twice: {', '.join(repeated)}")
        return self
