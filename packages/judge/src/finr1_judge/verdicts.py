"""Parsing judge answers and combining verdicts.

A verdict is 1, 0 or ``None`` (unusable). An unusable answer is never read as 0: the caller retries
it and finally records ``None`` with the raw text (RECIPE.md §3, "a failure never counts silently as 0").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from finr1_judge.prompts import CRITERIA

_BOXED = re.compile(r"boxed\{([^{}]*)\}")
_CRITERION = re.compile(
    r"(?:^|\n)[ \t>*#_\-]*(?:C|criterion\s*|criteria\s*)?([1-7])\b[^\n:：=]{0,60}[:：=][ \t*_]*"
    r"(1|0|yes|no|true|false|pass|fail|holds|fails|是|否)(?![\w.])",
    re.IGNORECASE,
)
_TRUE = {"1", "yes", "true", "pass", "holds", "是"}


def parse_boxed_verdict(text: str | None) -> int | None:
    """Return the last ``\\boxed{}`` as 1 or 0; ``None`` when it is missing or holds anything else."""
    if not text:
        return None
    boxes = _BOXED.findall(text)
    if not boxes:
        return None
    value = boxes[-1].strip()
    if value in ("0", "1"):
        return int(value)
    return None


def parse_criteria(text: str | None) -> dict[str, bool]:
    """Return the per-criterion verdicts found in a round-2 answer (``C3: 1`` lines; the last one wins)."""
    found: dict[str, bool] = {}
    if not text:
        return found
    for match in _CRITERION.finditer(text):
        found[CRITERIA[int(match.group(1)) - 1]] = match.group(2).lower() in _TRUE
    return found


@dataclass(frozen=True)
class Round2Verdict:
    """One parsed round-2 answer: the verdict under the configured decision rule and what it was built from."""

    score: int | None
    criteria: dict[str, bool]
    boxed: int | None


def decide_round2(text: str | None, *, decision: str = "criteria", min_criteria: int = 7) -> Round2Verdict:
    """Parse a round-2 answer and decide it.

    ``decision="criteria"``: all seven criteria must be parsed (else unusable) and at least
    ``min_criteria`` must hold. ``decision="boxed"``: the final ``\\boxed{}`` decides.
    """
    criteria = parse_criteria(text)
    boxed = parse_boxed_verdict(text)
    if decision == "boxed":
        return Round2Verdict(boxed, criteria, boxed)
    if len(criteria) < len(CRITERIA):
        return Round2Verdict(None, criteria, boxed)
    return Round2Verdict(int(sum(criteria.values()) >= min_criteria), criteria, boxed)


def majority(votes: Iterable[int | None]) -> int | None:
    """Majority over the usable votes; ``None`` when there is none or on a tie."""
    usable = [v for v in votes if v is not None]
    ones = sum(usable)
    zeros = len(usable) - ones
    if ones == zeros:
        return None
    return int(ones > zeros)


def majority_criteria(all_criteria: Sequence[dict[str, bool]]) -> dict[str, bool | None]:
    """Per-criterion majority over several round-2 answers (``None`` when absent or tied)."""
    out: dict[str, bool | None] = {}
    for name in CRITERIA:
        vote = majority(int(c[name]) for c in all_criteria if name in c)
        out[name] = None if vote is None else bool(vote)
    return out


def agreement(pairs: Sequence[tuple[int, int]]) -> tuple[float | None, float | None]:
    """Percent agreement and Cohen's kappa between two raters' 0/1 labels (``None`` without pairs).

    Kappa is ``(p_o - p_e) / (1 - p_e)``; when both raters use one label only (``p_e == 1``) it is
    undefined and reported as 1.0 if they agree everywhere, else ``None``.
    """
    n = len(pairs)
    if n == 0:
        return None, None
    p_o = sum(a == b for a, b in pairs) / n
    a1 = sum(a for a, _ in pairs) / n
    b1 = sum(b for _, b in pairs) / n
    p_e = a1 * b1 + (1 - a1) * (1 - b1)
    if p_e >= 1.0:
        kappa = 1.0 if p_o == 1.0 else None
    else:
        kappa = (p_o - p_e) / (1 - p_e)
    return 100.0 * p_o, kappa
