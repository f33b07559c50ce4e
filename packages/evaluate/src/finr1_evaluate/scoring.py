"""Per-item decisions and per-benchmark aggregates: rule-only, rule+judge, Wilson intervals.

Counting rules (documented in the README):

- ``generation_errors``: the model call failed after the runner's retries; such items have no
  response and are excluded from every denominator (a rerun retries them).
- ``rule_only``: correct when the rule matcher says so; an undecided rule (``None``) or a failed
  extraction counts as wrong. Denominator: items with a response.
- ``rule_judge``: the rule verdict, replaced by the judge where the strategy sent the item to the
  judge. ``judge_failed`` items (no usable verdict after re-asking: echoes of the prompt, both
  verdicts, none, failed calls) are excluded from this denominator and counted separately, never as 0 or 1.
- ``accuracy`` (the headline number) is ``rule_judge`` when a judge ran, else ``rule_only``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from finr1_core.schemas import EvalSample

if TYPE_CHECKING:
    from finr1_core.judging import Decision
    from finr1_core.runner import ChatResult

JUDGE_FAILED = "judge_failed"
GENERATION_ERROR = "generation_error"


def wilson_interval(correct: int, total: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval for ``correct / total`` as fractions (``(0, 0)`` when ``total`` is 0)."""
    if total <= 0:
        return (0.0, 0.0)
    p = correct / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def needs_judge(strategy: str, rule_correct: bool | None) -> bool:
    """Whether an item goes to the judge: always (judge), never (rule), or when rules give 0 or undecided."""
    if strategy == "judge":
        return True
    if strategy == "rule_then_judge":
        return rule_correct is not True
    return False


def _pct(value: float) -> float:
    return round(100.0 * value, 1)


def score_block(correct: int, total: int) -> dict[str, Any]:
    """``{"correct", "n", "accuracy", "ci95"}`` with percentages on 0-100 to one decimal."""
    low, high = wilson_interval(correct, total)
    return {
        "correct": correct,
        "n": total,
        "accuracy": _pct(correct / total) if total else None,
        "ci95": [_pct(low), _pct(high)] if total else None,
    }


def aggregate(samples: Iterable[EvalSample], *, judge_used: bool) -> dict[str, Any]:
    """Summarise one benchmark's scored samples (see the module docstring for the counting rules)."""
    samples = list(samples)
    answered = [s for s in samples if not _is_generation_error(s)]
    judge_failed = [s for s in answered if _is_judge_failed(s)]
    rule_correct = sum(1 for s in answered if s.rule_correct is True)
    decided = [s for s in answered if not _is_judge_failed(s)]
    final_correct = sum(1 for s in decided if s.correct is True)
    judged = [s for s in answered if s.method == "llm"]
    overturned = sum(1 for s in judged if s.correct is True and s.rule_correct is False)
    overturned_down = sum(1 for s in judged if s.correct is False and s.rule_correct is True)
    rule_only = score_block(rule_correct, len(answered))
    rule_judge = score_block(final_correct, len(decided)) if judge_used else None
    headline = rule_judge if rule_judge is not None else rule_only
    categories: dict[str, dict[str, int]] = {}
    for s in decided if judge_used else answered:
        entry = categories.setdefault(s.category or "", {"n": 0, "correct": 0})
        entry["n"] += 1
        entry["correct"] += int((s.correct if judge_used else s.rule_correct) is True)
    return {
        "n": len(samples),
        "n_scored": headline["n"],
        "accuracy": headline["accuracy"],
        "ci95": headline["ci95"],
        "rule_only": rule_only,
        "rule_judge": rule_judge,
        "judge": {
            "used": judge_used,
            "calls": len(judged),
            "overturned_to_correct": overturned,
            "overturned_to_wrong": overturned_down,
            "failed": len(judge_failed),
        },
        "judge_failures": len(judge_failed),
        "extraction_failures": sum(1 for s in answered if not (s.extracted or "").strip()),
        "rule_undecided": sum(1 for s in answered if s.rule_correct is None),
        "generation_errors": len(samples) - len(answered),
        "by_category": {
            name: {**entry, "accuracy": _pct(entry["correct"] / entry["n"]) if entry["n"] else None}
            for name, entry in sorted(categories.items())
        },
    }


def _is_generation_error(sample: EvalSample) -> bool:
    return (sample.error or "").startswith(GENERATION_ERROR)


def _is_judge_failed(sample: EvalSample) -> bool:
    return (sample.error or "").startswith(JUDGE_FAILED)


# --- one benchmark: rules, then the judge where the strategy says so ---------------------------------------


def rule_row(benchmark: str, item: Any, messages: list[dict[str, str]], reply: ChatResult | None) -> dict[str, Any]:
    """An EvalSample row for one item, scored by the rule matcher (or marked as a generation error)."""
    from finr1_core.answers import match_answer
    from finr1_core.redaction import redact_text
    from finr1_core.runner import usage_record
    from finr1_core.schemas import Message

    row: dict[str, Any] = {
        "benchmark": benchmark,
        "id": item.id,
        "category": getattr(item, "category", None),
        "messages": [Message.model_validate(m) for m in messages],
        "reference": item.reference,
        "answer_type": item.answer_type,
    }
    if reply is None or reply.error is not None:
        why = "not generated (no cached response)" if reply is None else redact_text(reply.error or "")
        row["error"] = f"{GENERATION_ERROR}: {why}"
        return row
    row.update(
        response=reply.completion,
        reasoning=reply.reasoning or None,
        usage=usage_record(reply.usage),
        latency_s=reply.latency_s,
    )
    match = match_answer(
        reply.completion,
        item.reference,
        item.answer_type,
        choices=getattr(item, "choices", None),
        labels=getattr(item, "labels", None),
        question=getattr(item, "question", None) or None,
    )
    row.update(
        extracted=match.extracted,
        rule=match.rule,
        rule_correct=match.correct,
        correct=match.correct is True,
        method="rule",
    )
    return row


def judge_prompts(
    rows: Sequence[dict[str, Any]], items: Sequence[Any], strategy: str, bench: Any, template: str | None
) -> dict[str, str]:
    """The judge's prompts, keyed ``<item id>@<prompt hash>``, for the rows the strategy sends to the judge.

    The judge sees the reference and the extracted final answer: never the reasoning, never the question. An
    item without an extracted answer is not sent (it is an extraction failure, counted wrong).
    """
    import hashlib

    from finr1_evaluate.judge import build_judge_prompt

    prompts: dict[str, str] = {}
    for row, item in zip(rows, items, strict=True):
        extracted = (row.get("extracted") or "").strip()
        if row.get("error") or not extracted or not needs_judge(strategy, row.get("rule_correct")):
            continue
        prompt = build_judge_prompt(
            item.reference, extracted, getattr(item, "labels", None), template, getattr(bench, "judge_note", None)
        )
        key = f"{item.id}@{hashlib.sha256(prompt.encode()).hexdigest()[:10]}"
        prompts[key] = prompt
        row["_judge_key"] = key
    return prompts


def apply_verdict(row: dict[str, Any], decisions: Mapping[str, Decision]) -> EvalSample:
    """The final EvalSample: the judge's verdict replaces the rule's where the item went to the judge.

    An item without a usable verdict (every ask echoed the prompt, held both verdicts, had none, or failed) is
    ``judge_failed``: ``correct`` is None, never 0 or 1, and the error says why.
    """
    from finr1_core.redaction import redact_text

    key = row.pop("_judge_key", None)
    if key is not None:
        decision = decisions.get(key)
        raw = decision.raw if decision is not None else None
        row.update(method="llm", judge_raw=redact_text(raw) if raw else raw)
        if decision is None or decision.score is None:
            asks = max((v.asks for v in decision.votes), default=0) if decision is not None else 0
            why = decision.problem if decision is not None else "not asked"
            row.update(correct=None, error=f"{JUDGE_FAILED}: no usable verdict after {asks} asks ({why})")
        else:
            row["correct"] = decision.score == 1
    return EvalSample(**row)
