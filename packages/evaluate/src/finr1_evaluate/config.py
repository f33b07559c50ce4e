"""Configuration of ``finr1-evaluate run``: defaults < YAML ``--config`` < explicit flags.

The defaults are Fin-R1's evaluation settings (RECIPE.md §7): temperature 0.6, top_p 0.95,
max_tokens 4096, one sample per item, no system prompt, 1,000 items per benchmark drawn stratified
with seed 42, and a GPT-4o judge at temperature 0 / top_p 0.9 that sees only the reference and the
extracted final answer, asked up to three times for a usable verdict. Secrets are never stored here:
endpoints name the environment variable that holds their key (``api_key_env``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from finr1_core.config import StrictModel
from finr1_core.judging import DEFAULT_MAX_ASKS
from finr1_core.runner import EndpointConfig, min_usable_field

Strategy = Literal["rule", "judge", "rule_then_judge"]
ApiMode = Literal["chat", "completions"]
PromptFormat = Literal["plain", "chatml"]


class ModelEndpoint(EndpointConfig):
    """The model under test: any OpenAI-compatible endpoint, or a raw completions URL.

    Every runner endpoint setting applies (``finr1_core.runner.EndpointConfig``): key variable, timeouts,
    ``max_retries``, ``backoff_initial_s``/``backoff_max_s``, ``max_retry_after_s``, extra ``headers`` and the
    ``http_client``. ``base_url`` and ``model`` are empty until given (``--rescore`` needs no endpoint).
    """

    base_url: str = Field(default="", description="Endpoint base URL (…/v1), or the full URL in raw mode.")
    model: str = Field(default="", description="Model name sent with every request.")
    api_mode: ApiMode = Field(
        default="chat",
        description=(
            "chat: POST {base_url}/chat/completions with messages. completions: the raw mode: POST a prompt "
            "string to {base_url}/completions (or to base_url itself when it does not end in /v1). Both go "
            "through finr1_core.runner."
        ),
    )
    prompt_format: PromptFormat = Field(
        default="plain", description="completions mode only: how messages become one prompt string."
    )

    def _default_setting_name(self, field: str) -> str:
        return f"model.{field}"


class Sampling(StrictModel):
    """Generation parameters of the model under test (RECIPE.md §7)."""

    temperature: float = Field(default=0.6, ge=0)
    top_p: float = Field(default=0.95, gt=0, le=1)
    max_tokens: int = Field(default=4096, gt=0)
    n: int = Field(default=1, description="Samples per item; Fin-R1 used 1 (only 1 is supported).")
    extra_body: dict[str, Any] = Field(
        default_factory=dict, description="Extra request fields (e.g. repetition_penalty, top_k)."
    )

    @field_validator("n")
    @classmethod
    def _only_one(cls, value: int) -> int:
        if value != 1:
            raise ValueError("only n = 1 is supported (Fin-R1's evaluation used one sample per item)")
        return value

    def request_params(self) -> dict[str, Any]:
        """The parameters as sent in the request body."""
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens, **self.extra_body}


class JudgeSettings(EndpointConfig):
    """The LLM judge for free-text items (RECIPE.md §7); disabled while ``base_url`` is empty.

    An endpoint like the model's (every ``EndpointConfig`` setting: retries, backoff, HTTP client), plus the
    judge's sampling, prompt and ``max_asks``. It is asked through ``finr1_core.judging`` (the judge loop and
    verdict parser of every judge call site): a reply that quotes the prompt, holds both verdicts or has none of
    its own is unusable, asked again, and finally a judge failure, never 0 or 1.
    """

    renamed_keys: ClassVar[dict[str, str]] = {"attempts": "max_asks"}

    base_url: str = Field(default="", description="Judge endpoint (…/v1); empty = no judge.")
    model: str = Field(default="gpt-4o", description="Judge model name.")
    timeout_s: float = Field(default=400.0, gt=0, description="Per-request limit, whole exchange.")
    temperature: float = Field(default=0.0, ge=0)
    top_p: float = Field(default=0.9, gt=0, le=1)
    max_tokens: int = Field(default=4096, gt=0)
    max_asks: int = Field(
        default=DEFAULT_MAX_ASKS,
        ge=1,
        description="Asks per item while the reply has no usable verdict (RECIPE.md §3: 3 tries); then judge_failed.",
    )
    prompt: str | None = Field(
        default=None,
        description="Judge prompt template with {reference}, {answer} and {label_map}; unset = the built-in one.",
    )
    concurrency: int | None = Field(default=None, gt=0, description="Concurrent judge requests (default: run's).")

    @property
    def enabled(self) -> bool:
        """Whether a judge endpoint is configured."""
        return bool(self.base_url)

    def _default_setting_name(self, field: str) -> str:
        return f"judge.{field}"


class UsableShares(StrictModel):
    """The least share of usable results per benchmark below which a run fails (issue 14: no false success).

    The rule and the count are core's (``finr1_core.runner.check_usable``, the same ``min_usable`` as every
    stage). Evaluation counts two things per benchmark, the model's answers and the judge's verdicts, and a user
    may relax one without the other (a tiny judge whose verdicts are mostly unusable, reported as judge failures,
    while the model's answers must still be there), so it has one share for each.

    The default, 0.9 (core's default is 0.5), is stricter because a missing item is not a smaller dataset here:
    Fin-R1's table compares models on the same sampled items, and when more than a tenth of them is missing
    (errors cluster on long prompts or one failing category) the score describes another sample, by more than
    the ±3-point Wilson interval of a 1,000-item benchmark. Below it the run exits 1 with no complete lineage;
    the work dir keeps every paid call, so a fixed re-run resumes.
    """

    generations: float = min_usable_field(
        "items of a benchmark whose model call succeeded with an answer (or was cut off at max_tokens)", default=0.9
    )
    verdicts: float = min_usable_field(
        "items of a benchmark sent to the judge that got a usable verdict (after re-asking)", default=0.9
    )


class EvalConfig(StrictModel):
    """Everything ``finr1-evaluate run`` needs; recorded (secrets removed) in the output's ``lineage.json``.

    ``model`` and ``judge`` are ``finr1_core.runner.EndpointConfig`` endpoints (retries, backoff, HTTP client
    configurable like every stage's). ``min_usable`` (``{generations: 0.9, verdicts: 0.9}``, ``--min-usable``
    sets both) is the stages' shared "too few usable results" rule (``finr1_core.runner.check_usable``), per
    benchmark: below either share the run exits 1 before anything is written (no lineage), and the work dir
    keeps every paid call so a fixed re-run resumes. See :class:`UsableShares` for why 0.9.
    """

    benchmarks: list[str] = Field(default_factory=list, description="Benchmark names from the registry.")
    data: str | None = Field(
        default=None,
        description="Local data: one PATH for every benchmark, or NAME=PATH pairs separated by commas.",
    )
    samples: bool = Field(default=False, description="Use each benchmark's small shipped sample instead.")
    model: ModelEndpoint = Field(default_factory=ModelEndpoint)
    model_ref: str | None = Field(
        default=None,
        description=(
            "The weights the endpoint serves: hf://ORG/NAME[@REV], a local folder or `embedded`; its commit sha "
            "(or local fingerprint) is recorded in the lineage and keys the response cache."
        ),
    )
    sampling: Sampling = Field(default_factory=Sampling)
    system_prompt: str | None = Field(default=None, description="System prompt; Fin-R1's evaluation sent none.")
    prompt_variant: Literal["faithful", "clean"] = "faithful"
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    scoring: dict[str, Strategy] = Field(
        default_factory=dict, description="Per-benchmark scoring strategy, overriding the registry's default."
    )
    sample_size: int = Field(default=1000, gt=0, description="Items per benchmark (all when the set is smaller).")
    limit: int | None = Field(default=None, gt=0, description="Cap on items per benchmark (quick runs).")
    seed: int = 42
    ids_from: str | None = Field(
        default=None,
        description="An evaluation artifact (folder or hf://datasets/ORG/NAME@REV) whose sampled ids are reused.",
    )
    concurrency: int = Field(default=16, gt=0)
    rescore: bool = Field(
        default=False,
        description="Score the responses already generated (work dir or output artifact); never generate.",
    )
    force: bool = Field(default=False, description="Replace a complete output even when its config differs.")
    min_usable: UsableShares = Field(
        default_factory=UsableShares,
        description="Least usable shares per benchmark (model answers, judge verdicts); below either the run fails.",
    )
    label: str | None = Field(default=None, description="Row name in results.md and reports (default: the model).")
    output: str | None = None

    def cache_key(self, served_revision: str | None = None) -> str:
        """Hash of what determines a response: model (and its revision when known), sampling, prompts, API mode."""
        payload = {
            "model": self.model.model,
            "api_mode": self.model.api_mode,
            "prompt_format": self.model.prompt_format if self.model.api_mode == "completions" else None,
            "sampling": self.sampling.model_dump(mode="json"),
            "prompt_variant": self.prompt_variant,
            "system_prompt": self.system_prompt,
        }
        if served_revision:  # weights of another revision served under the same name never reuse answers
            payload["served_revision"] = served_revision
        return short_hash(payload)

    def effective_sample_size(self) -> int:
        """``sample_size`` capped by ``limit``."""
        return min(self.sample_size, self.limit) if self.limit else self.sample_size


def short_hash(payload: Any, length: int = 12) -> str:
    """A stable short hex digest of a JSON-able value."""
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]
