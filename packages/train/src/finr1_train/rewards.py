"""GRPO reward functions of Fin-R1 (RECIPE.md §6) in a plain dict registry.

Every reward follows TRL 1.16's calling convention: keyword arguments ``prompts``, ``completions``,
``completion_ids``, every dataset column except ``prompt`` (one entry per completion: ``solution``,
``answer_type``, ``choices``, ``labels``, …) plus ``trainer_state``, ``log_extra`` and ``log_metric``.
A reward returns one float per completion, or ``None`` to abstain (TRL turns it into NaN and leaves
it out of the group statistics).

- ``format`` (:func:`format_reward`): 1 only when the whole completion is
  ``<think>\\n…\\n</think>\\n<answer>\\n…\\n</answer>``; 0 otherwise (the one definition,
  :func:`finr1_core.answers.is_formatted`).
- ``accuracy`` (:func:`accuracy_reward`): the ``<answer>`` block graded by ``finr1_core.answers.match_item`` against
  the row (``solution``, ``answer_type``, ``choices``, ``labels`` and the ``question`` column: the item's question
  only, never the prompt with its report text), exactly as evaluation grades it; no ``<answer>`` block gives 0, an
  undecidable pair gives ``None``.
- ``accuracy_llm`` (:class:`LLMAccuracyReward`): the same rules, then an OpenAI-compatible verifier
  (the paper used Qwen2.5-Max) for what the rules cannot decide, or for everything (``mode: always``),
  through the judge loop of :mod:`finr1_core.judging` (an echoing or hedging verifier abstains, never 0/1).
- ``tag_count`` (:func:`tag_count_reward`): open-r1's 0.25-per-tag partial credit; not in the
  paper's formula, off by default.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from finr1_core.answers import format as fmt

# The format contract is defined once in core (judge writes it, serve and evaluation read it); re-exported here.
from finr1_core.answers.format import EOS_STRINGS, TAGS, is_formatted, strip_trailing
from finr1_core.errors import ConfigError
from finr1_core.runner import EndpointConfig, UsableCount, check_usable, min_usable_field

__all__ = [
    "CONFIGURED_REWARDS",
    "EOS_STRINGS",
    "REWARDS",
    "TAGS",
    "LLMAccuracyReward",
    "VerifierConfig",
    "accuracy_reward",
    "answer_content",
    "build_rewards",
    "completion_text",
    "format_reward",
    "is_formatted",
    "reward_names",
    "rule_accuracy",
    "strip_trailing",
    "tag_count_reward",
]

logger = logging.getLogger(__name__)

RewardFunc = Callable[..., list[float | None]]


def completion_text(completion: Any) -> str:
    """Return the text of one completion, standard (``str``) or conversational (list of messages)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return str(completion.get("content") or "")
    if isinstance(completion, Sequence):
        return "".join(
            completion_text(m)
            for m in completion
            if not isinstance(m, Mapping) or m.get("role", "assistant") == "assistant"
        )
    return str(completion)


def answer_content(text: str) -> str | None:
    """The committed ``<answer>`` block (stripped): the last complete one after the reasoning, or ``None``.

    A block inside a ``<think>`` that later closes is thinking, not an answer; a ``<think>`` that never closes
    may still hold a complete block (the model forgot ``</think>``).
    """
    reasoning, after = fmt.split_reasoning(text)
    return fmt.answer_block(reasoning if after is None else after)


def format_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """R_fmt: 1.0 when the whole completion has the Fin-R1 format, else 0.0.

    The completion, after only trailing whitespace and EOS strings are removed, must be exactly
    ``<think>\\n{reasoning}\\n</think>\\n<answer>\\n{answer}\\n</answer>``: nothing before ``<think>``,
    nothing after ``</answer>``, each of the four tags exactly once.
    """
    return [1.0 if is_formatted(completion_text(c)) else 0.0 for c in completions]


def tag_count_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """open-r1's partial credit: 0.25 for each of the four tag lines present exactly once (off by default)."""
    rewards: list[float | None] = []
    for completion in completions:
        text = completion_text(completion)
        score = 0.0
        for needle in ("<think>\n", "\n</think>\n", "\n<answer>\n", "\n</answer>"):
            if text.count(needle) == 1:
                score += 0.25
        rewards.append(score)
    return rewards


def _column(kwargs: Mapping[str, Any], name: str, n: int) -> list[Any]:
    value = kwargs.get(name)
    return list(value) if value is not None else [None] * n


def rule_accuracy(
    completions: Sequence[Any],
    solution: Sequence[str],
    **kwargs: Any,
) -> list[tuple[str | None, bool | None]]:
    """Per completion: (the ``<answer>`` content or None, the rule verdict True/False/None).

    Each completion is graded by :func:`finr1_core.answers.match_item` on the row built from the dataset columns
    (``solution``, ``answer_type``, ``choices``, ``labels``, ``question``), the same call evaluation makes. The
    prompt is not read: a row without a ``question`` column is graded without one.
    """
    from finr1_core.answers import match_item

    n = len(completions)
    columns = {name: _column(kwargs, name, n) for name in ("answer_type", "choices", "labels", "question")}
    out: list[tuple[str | None, bool | None]] = []
    for i, completion in enumerate(completions):
        text = completion_text(completion)
        content = answer_content(text)
        if content is None:
            out.append((None, False))
            continue
        reference = solution[i]
        if reference is None or not str(reference).strip():
            out.append((content, None))
            continue
        row = {name: values[i] for name, values in columns.items()}
        row["solution"] = reference
        out.append((content, match_item(content, row).correct))
    return out


def accuracy_reward(completions: Sequence[Any], solution: Sequence[str], **kwargs: Any) -> list[float | None]:
    """R_acc by rule: 1.0 when the ``<answer>`` content matches ``solution``, 0.0 when it does not.

    No ``<answer>`` block scores 0.0. ``None`` (abstain) when the rules cannot decide, e.g. an unparseable
    gold answer or a free-form ``answer_type``; use ``accuracy_llm`` to send those to a verifier.
    """
    verdicts = rule_accuracy(completions, solution, **kwargs)
    return [None if correct is None else float(correct) for _, correct in verdicts]


# --- LLM verifier -----------------------------------------------------------------------------------------------

VERIFIER_PROMPT = (
    "You are an expert financial evaluator. Decide whether the answer to be scored gives the same final result as "
    "the correct answer.\n"
    "Rules:\n"
    "1. Only the correctness of the final result matters: the same value scores 1, a significant deviation "
    "scores 0.\n"
    "2. Equivalent forms count as the same (0.2 = 20%), as do unit variants that are equal after conversion and "
    "reasonable rounding (0.98 vs 98%, 2 vs 1.98).\n"
    "3. A correct answer without steps scores 1; a wrong answer with good steps scores 0.\n"
    "4. Output only the score as \\boxed{1} or \\boxed{0}, with no reasoning.\n\n"
    "Correct answer:\n{reference}\n\nAnswer to be scored:\n{prediction}\n"
)

# The usable share is judged over the whole run, and only after this many verdicts: one unusable reply in a small
# GRPO batch is item-level noise, while a verifier that echoes or fails for twenty asks in a row is broken.
_MIN_VERDICTS_FOR_USABLE_CHECK = 20


class VerifierConfig(EndpointConfig):
    """The optional LLM verifier of ``accuracy_llm``: an OpenAI-compatible endpoint (every runner setting) plus its asks.

    ``min_usable`` (default 0.5) stops training when, over the run and once 20 verdicts were asked, fewer than
    half were usable: a verifier that echoes its prompt or has its answer eaten by a reasoning parser would
    otherwise abstain on every reward silently (below half is a broken verifier, not item noise).
    """

    renamed_keys: ClassVar[dict[str, str]] = {"tries": "max_asks"}

    base_url: str = Field(description="OpenAI-compatible base URL, ending in /v1.")
    model: str = Field(description="Model name served at base_url (the paper used Qwen2.5-Max).")
    mode: Literal["fallback", "always"] = Field(
        default="fallback",
        description="fallback: ask only when the rules cannot decide; always: ask for every answer (the paper).",
    )
    temperature: float = 0.0
    max_tokens: int = Field(default=16, ge=1, description="The verifier only writes \\boxed{0|1}.")
    timeout_s: float = Field(default=60.0, gt=0, description="Per-request limit.")
    max_retries: int = Field(default=3, ge=0, description="Transport retries per request (429, 5xx, timeouts).")
    max_asks: int = Field(default=3, ge=1, description="Asks per verdict while the reply is unusable; then abstain.")
    concurrency: int = Field(default=16, ge=1)
    min_usable: float = min_usable_field("verifier verdicts that are usable (over the run, after 20 verdicts)")


class LLMAccuracyReward:
    """Rules first, then an OpenAI-compatible verifier (the paper used Qwen2.5-Max); a failed verdict abstains.

    Following the paper's judge layout (RECIPE.md §3), the verifier sees the rules, the gold answer and
    the ``<answer>`` content only (not the question, not the reasoning) and replies ``\\boxed{1}`` or
    ``\\boxed{0}``. Replies are read by :func:`finr1_core.judging.parse_verdict` and asked through
    :func:`finr1_core.judging.ask_judges`, as the judge stage and the evaluation do: a reply that echoes the
    prompt, holds both verdicts or none is asked again ``max_asks`` times and then abstains (``None``) — it
    never counts as 0 or 1. A refused key (401/402/403) stops training at once; too few usable verdicts over the
    run (``min_usable``) stops it with one line.
    """

    __name__ = "accuracy_llm_reward"

    def __init__(self, config: VerifierConfig) -> None:
        # Checked here, when the rewards are built, so a missing key fails before any model is loaded.
        if config.api_key_env and not os.environ.get(config.api_key_env):
            raise ConfigError(f"verifier.api_key_env: environment variable {config.api_key_env} is not set")
        self.config = config
        self.count = UsableCount()
        """Usable verifier verdicts so far (over the whole run)."""
        self._checked = False

    def verdicts(self, pairs: Sequence[tuple[str, str]]) -> list[int | None]:
        """Ask the verifier about ``(prediction, reference)`` pairs; 1, 0 or ``None`` (no usable verdict) each.

        Raises:
            AuthError: The verifier refused the key.
            EndpointError: The verifier is unreachable or does not serve the model (checked once).
            TooFewUsableError: Over the run, fewer than ``min_usable`` of the verdicts were usable.
        """
        if not pairs:
            return []
        import tempfile

        from finr1_core.judging import Judge, ask_judges

        tasks = {
            str(i): [
                {"role": "user", "content": VERIFIER_PROMPT.replace("{reference}", ref).replace("{prediction}", pred)}
            ]
            for i, (pred, ref) in enumerate(pairs)
        }
        config = self.config
        endpoint = EndpointConfig(**config.model_dump(include=set(EndpointConfig.model_fields)))
        # Verdicts of one reward call are not worth resuming (a resumed GRPO step samples new completions).
        with tempfile.TemporaryDirectory(prefix="finr1-verifier-") as log_dir:
            run = ask_judges(
                tasks,
                [Judge(endpoint, "verifier")],
                log_dir,
                name="verifier",
                params={"temperature": config.temperature, "max_tokens": config.max_tokens},
                max_asks=config.max_asks,
                concurrency=config.concurrency,
                progress=False,
                check=not self._checked,
            )
        self._checked = True
        self.count.merge(run.count)
        if self.count.total >= _MIN_VERDICTS_FOR_USABLE_CHECK:
            check_usable(self.count, config.min_usable, what="verifier verdicts", setting="verifier.min_usable")
        return [run.decisions[str(i)].score for i in range(len(pairs))]

    def verify(self, prediction: str, reference: str) -> bool | None:
        """One verdict: True/False, or None when the verifier gives no usable one."""
        (score,) = self.verdicts([(prediction, reference)])
        return None if score is None else score == 1

    def __call__(self, completions: Sequence[Any], solution: Sequence[str], **kwargs: Any) -> list[float | None]:
        verdicts = rule_accuracy(completions, solution, **kwargs)
        rewards: list[float | None] = [None if c is None else float(c) for _, c in verdicts]
        todo = [
            i
            for i, (content, correct) in enumerate(verdicts)
            if content is not None and solution[i] and (correct is None or self.config.mode == "always")
        ]
        if todo:
            scores = self.verdicts([(str(verdicts[i][0]), str(solution[i])) for i in todo])
            for i, score in zip(todo, scores, strict=True):
                rewards[i] = None if score is None else float(score)
            log_metric = kwargs.get("log_metric")
            if callable(log_metric):
                log_metric("verifier/calls", float(len(todo)))
                log_metric("verifier/failed", float(sum(s is None for s in scores)))
        return rewards


#: Reward name (as used in recipes' ``rewards:``) -> reward function.
REWARDS: dict[str, RewardFunc] = {
    "format": format_reward,
    "accuracy": accuracy_reward,
    "tag_count": tag_count_reward,
}
#: Rewards that need configuration: name -> factory taking the verifier config.
CONFIGURED_REWARDS: dict[str, Callable[[VerifierConfig], RewardFunc]] = {
    "accuracy_llm": LLMAccuracyReward,
}


def reward_names() -> list[str]:
    """Every reward name a recipe may list."""
    return sorted({*REWARDS, *CONFIGURED_REWARDS})


def build_rewards(names: Sequence[str], verifier: VerifierConfig | None = None) -> list[RewardFunc]:
    """Look up ``names`` in the registries; unknown names and a missing verifier are ConfigErrors."""
    funcs: list[RewardFunc] = []
    for name in names:
        if name in REWARDS:
            funcs.append(REWARDS[name])
        elif name in CONFIGURED_REWARDS:
            if verifier is None:
                raise ConfigError(f"reward '{name}' needs a 'verifier:' section (base_url, model, api_key_env)")
            funcs.append(CONFIGURED_REWARDS[name](verifier))
        else:
            raise ConfigError(f"unknown reward '{name}' (known: {', '.join(reward_names())})")
    return funcs
