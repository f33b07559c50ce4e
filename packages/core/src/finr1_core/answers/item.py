"""Grading one response against one item record: the call judge round 1, the GRPO reward and evaluation share.

An *item* is any record with a gold answer, as a mapping or an object: a benchmark item (``reference``,
``answer_type``, ``choices``, ``labels``, ``question``), a distilled row (the question in ``meta["question"]``),
an ``rl`` row or a GRPO reward's per-completion columns (``solution`` instead of ``reference``). The question is
always the item's own question text: never the prompt, whose report text and table would make the
question-sensitive rules (percent, unit, decrease wording) fire on words of the report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from finr1_core.answers.match import MatchResult, match_answer
from finr1_core.answers.numeric import DEFAULT_REL_TOL

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _field(item: Any, name: str) -> Any:
    if isinstance(item, dict) or isinstance(item, Mapping):  # dict first: the ABC check is slow in a reward loop
        return item.get(name)
    return getattr(item, name, None)


def item_question(item: Any) -> str | None:
    """The question of an item: its ``question`` field, else ``meta["question"]``; ``None`` when it has neither.

    The prompt (``messages``/``prompt``) is never read: it holds the report, not only the question.
    """
    question = _field(item, "question")
    if isinstance(question, str) and question.strip():
        return question
    meta = _field(item, "meta")
    if isinstance(meta, str):  # stored as a JSON string in a datasets column
        try:
            meta = json.loads(meta)
        except ValueError:
            meta = None
    question = meta.get("question") if isinstance(meta, Mapping) else None
    return question if isinstance(question, str) and question.strip() else None


def as_choices(value: Any) -> dict[str, str] | None:
    """Options as letter → text from any stored form, or ``None``.

    Accepted: a mapping (``{"A": "…"}``); the datasets storage of a mapping (``[{"key": "A", "value": "…"}]``);
    a list of option texts in order, as lm-eval writes ``choices`` (letters A, B, C, … in that order); a JSON
    string of either.

    Raises:
        ValueError: A form that is none of these (the caller names the field and the row).
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("is a string that is not JSON") from None
    if isinstance(value, dict) and all(type(k) is str and type(v) is str for k, v in value.items()):
        return value or None  # already letter -> text: no copy
    if isinstance(value, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in value.items()} or None
    if isinstance(value, Sequence):
        if all(isinstance(e, Mapping) and "key" in e for e in value):
            return {str(e["key"]): "" if e.get("value") is None else str(e["value"]) for e in value} or None
        if all(isinstance(e, str | int | float) and not isinstance(e, bool) for e in value):
            if len(value) > len(_LETTERS):
                raise ValueError(f"lists {len(value)} options, more than the {len(_LETTERS)} letters A-Z")
            return {_LETTERS[i]: str(text) for i, text in enumerate(value)} or None
    raise ValueError("must be an object of letter -> option text or a list of option texts")


def as_labels(value: Any) -> dict[str, list[str]] | None:
    """Labels as id → synonyms from a mapping, its datasets storage (``[{"key", "value"}]``), a list of label
    names (``["negative", "neutral", "positive"]``: each name is its own id, with no other synonym) or a JSON
    string of one of these."""
    if value is None:
        return None
    if isinstance(value, dict) and all(type(v) is list for v in value.values()):
        return value or None  # already id -> synonyms: no copy
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("is a string that is not JSON") from None
    if isinstance(value, Sequence) and value and all(isinstance(e, str) for e in value):
        return {name: [] for name in value}
    if isinstance(value, Sequence) and all(isinstance(e, Mapping) and "key" in e for e in value):
        value = {e["key"]: e.get("value") for e in value}
    if isinstance(value, Mapping):
        out: dict[str, list[str]] = {}
        for k, v in value.items():
            synonyms = [v] if isinstance(v, str) else list(v or [])
            out[str(k)] = [str(s) for s in synonyms]
        return out or None
    raise ValueError("must be an object of label -> list of synonyms")


def item_reference(item: Any) -> Any:
    """The gold of an item: ``reference``, else ``solution`` (the GRPO column), else ``None``."""
    reference = _field(item, "reference")
    return _field(item, "solution") if reference is None else reference


def match_item(response: str | None, item: Any, *, rel_tol: float = DEFAULT_REL_TOL) -> MatchResult:
    """Grade ``response`` against ``item`` with :func:`finr1_core.answers.match_answer`.

    The one place that reads an item for grading: the gold (``reference`` or ``solution``; for a choice item
    whose ``choices`` is a list, an integer gold is the 0-based index lm-eval writes), ``answer_type`` (``text``
    when missing), ``choices`` and ``labels`` in any stored form, and :func:`item_question`. Judge round 1,
    the GRPO accuracy reward, ``finr1-evaluate run`` and ``finr1-evaluate match`` grade through it, so the same
    response scores the same everywhere.

    Raises:
        InputError: ``answer_type`` is unknown.
        ValueError: ``choices`` or ``labels`` is in no known form.
    """
    reference = item_reference(item)
    answer_type = _field(item, "answer_type") or "text"
    raw_choices = _field(item, "choices")
    choices = as_choices(raw_choices)
    if (
        answer_type == "choice"
        and isinstance(raw_choices, list)
        and choices
        and isinstance(reference, int)
        and not isinstance(reference, bool)
        and 0 <= reference < len(choices)
    ):
        reference = _LETTERS[reference]  # lm-eval: a list of options and the gold as its 0-based index
    elif isinstance(reference, list | tuple):
        reference = "".join(str(r) for r in reference)  # a multi-answer gold stored as a list: ["A", "C"]
    return match_answer(
        response,
        reference,
        answer_type,
        choices=choices,
        labels=as_labels(_field(item, "labels")),
        question=item_question(item),
        rel_tol=rel_tol,
    )
