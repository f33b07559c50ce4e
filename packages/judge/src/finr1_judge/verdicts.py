"""Combining judge verdicts: per-criterion majorities and rater agreement.

Reading a judge's reply is :mod:`finr1_core.judging` (one parser for judge rounds 1 and 2, evaluate and the
GRPO verifier): a verdict is 1, 0 or ``None`` (unusable), and an unusable reply is never read as 0; the judge
loop asks again and finally records ``None`` with the raw text (RECIPE.md §3, "a failure never counts
silently as 0").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from finr1_core.judging import majority
from finr1_judge.prompts import CRITERIA

__all__ = ["agreement", "criteria_names", "majority", "majority_criteria"]


def criteria_names(criteria: Mapping[int, bool]) -> dict[str, bool]:
    """Criterion numbers (1-7, as the judge writes them) to the names of :class:`finr1_core.schemas.Criteria`."""
    return {CRITERIA[n - 1]: value for n, value in criteria.items() if 1 <= n <= len(CRITERIA)}


def majority_criteria(all_criteria: Iterable[Mapping[str, bool]]) -> dict[str, bool | None]:
    """Per-criterion majority over several round-2 answers (``None`` when absent or tied)."""
    parsed = list(all_criteria)
    out: dict[str, bool | None] = {}
    for name in CRITERIA:
        vote = majority(int(c[name]) for c in parsed if name in c)
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
