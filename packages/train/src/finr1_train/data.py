"""Turn the judge's splits into what TRL trains on, with the same system prompt in SFT and GRPO.

SFT rows become conversational ``prompt``/``completion`` pairs: the prompt is every turn before the last
assistant turn, the completion is that turn. TRL then computes the loss on the completion only
(``completion_only_loss``), whatever the chat template. This matters for SmolLM2, whose template has no
``{% generation %}`` markers and is not one TRL can swap for a training template, so
``assistant_only_loss=True`` fails on it (TOOLING.md §2); the prompt/completion split gives the same
assistant-only loss on every template, including the end-of-turn token so the model learns to stop.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from finr1_core.errors import InputError
from finr1_train.rewards import is_formatted

logger = logging.getLogger(__name__)


def _messages(value: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise InputError(f"{where}: expected a list of chat messages, got {type(value).__name__}")
    out = []
    for i, message in enumerate(value):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise InputError(f"{where}: message {i} is not a {{role, content}} mapping")
        out.append({"role": str(message["role"]), "content": str(message["content"] or "")})
    return out


def with_system_prompt(messages: list[dict[str, str]], system_prompt: str | None) -> list[dict[str, str]]:
    """Put ``system_prompt`` first, replacing any system turn; ``None`` leaves the messages as they are."""
    if system_prompt is None:
        return messages
    return [{"role": "system", "content": system_prompt}, *(m for m in messages if m["role"] != "system")]


def _row_name(row: Mapping[str, Any], index: int) -> str:
    return f"row {index}" + (f" (id {row['id']})" if row.get("id") else "")


def sft_pairs(dataset: Any, system_prompt: str | None, source: str) -> Any:
    """Convert a ``messages`` split into a conversational ``prompt``/``completion`` dataset.

    Raises:
        InputError: a row whose last turn is not an assistant turn or that has no user turn.
    """
    import datasets

    prompts, completions, ids = [], [], []
    for index, row in enumerate(dataset):
        where = f"{source} {_row_name(row, index)}"
        messages = _messages(row["messages"], where)
        if not messages or messages[-1]["role"] != "assistant":
            raise InputError(f"{where}: the last message must be the assistant turn to train on")
        if not any(m["role"] == "user" for m in messages[:-1]):
            raise InputError(f"{where}: no user turn before the assistant turn")
        prompts.append(with_system_prompt(messages[:-1], system_prompt))
        completions.append([messages[-1]])
        ids.append(str(row.get("id") or index))
    formatted = sum(is_formatted(c[0]["content"]) for c in completions)
    if formatted < len(completions):
        logger.warning(
            "%d of %d SFT completions do not have the <think>/<answer> format that GRPO's format reward checks",
            len(completions) - formatted,
            len(completions),
        )
    return datasets.Dataset.from_dict({"id": ids, "prompt": prompts, "completion": completions})


def rl_prompts(dataset: Any, system_prompt: str | None, source: str) -> Any:
    """Add the system prompt to the ``rl`` split's prompts; every other column stays for the rewards."""

    def _convert(row: dict[str, Any], index: int) -> dict[str, Any]:
        where = f"{source} {_row_name(row, index)}"
        prompt = row["prompt"]
        if isinstance(prompt, str):
            prompt = [{"role": "user", "content": prompt}]
        return {"prompt": with_system_prompt(_messages(prompt, where), system_prompt)}

    from finr1_core.schemas import ANSWER_TYPES

    empty = 0
    for index, (solution, answer_type) in enumerate(zip(dataset["solution"], dataset["answer_type"], strict=True)):
        if answer_type not in ANSWER_TYPES:
            raise InputError(
                f"{source} row {index}: answer_type {answer_type!r} is not one of {', '.join(ANSWER_TYPES)}"
            )
        empty += solution is None or not str(solution).strip()
    if empty:
        logger.warning(
            "%d of %d %s rows have an empty solution; accuracy rewards abstain on them", empty, len(dataset), source
        )
    return dataset.map(_convert, with_indices=True, desc="Adding the system prompt")


def token_lengths(
    tokenizer: Any, conversations: Sequence[list[dict[str, str]]], add_generation_prompt: bool
) -> list[int]:
    """Token count of each conversation rendered with the tokenizer's chat template."""
    lengths = []
    for messages in conversations:
        ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=add_generation_prompt)
        if isinstance(ids, Mapping) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        lengths.append(len(ids))
    return lengths


def drop_long(dataset: Any, lengths: Sequence[int], limit: int, what: str) -> Any:
    """Keep rows with ``length <= limit``; log how many were dropped (never silently)."""
    keep = [i for i, n in enumerate(lengths) if n <= limit]
    dropped = len(lengths) - len(keep)
    if dropped:
        logger.warning("dropped %d of %d %s longer than %d tokens", dropped, len(lengths), what, limit)
    if not keep:
        raise InputError(f"every one of the {len(lengths)} {what} is longer than {limit} tokens; raise the limit")
    return dataset.select(keep) if dropped else dataset
