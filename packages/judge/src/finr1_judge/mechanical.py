"""Deterministic versions of the mechanical round-2 criteria (RECIPE.md §4: 2, 3 and 5).

They cost nothing, are stored on every judged row (:class:`finr1_core.schemas.MechanicalChecks`) and,
with ``mechanical.reject_before_judge``, reject a trace before any judge call.

- **Steps** (criterion 3): the trace split into steps — lines, or sentences when the trace has fewer
  lines than the minimum — counting only segments with some substance (at least 3 words or 6 CJK
  characters).
- **Repetition** (criterion 5): the share of steps that repeat an earlier step after normalisation
  (case, whitespace, punctuation, digits kept).
- **Term overlap** (criterion 2): the share of the reference's terms (words of 3+ letters that are
  not stop words, numbers, CJK bigrams) found in the trace and final answer. It is computed for
  free-form answers only (``text``/``code``): for objective items round 1 already compared the
  answer by rule, and a gold like ``0.14464`` versus a trace's ``14.46%`` would read as no overlap.
"""

from __future__ import annotations

import re
import unicodedata

from finr1_core.schemas import MechanicalChecks

_SENTENCE_END = re.compile(r"(?<=[.!?。！？；;])\s+|(?<=[。！？；])")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]{2,}")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_CJK = re.compile(r"[\u3400-\u9fff]")
_STOP = frozenset(
    "the and for are but not you all any can had her was one our out has him his how its may new now old see two "
    "way who did get let say she too use that this with from they will would there their what about which when "
    "make like than them then into some could these other were been have more also only over such most very".split()
)
FREE_FORM_TYPES = frozenset({"text", "code"})


def _segments(text: str) -> list[str]:
    return [s.strip() for s in text.splitlines() if s.strip()]


def _substantial(segment: str) -> bool:
    return len(segment.split()) >= 3 or len(_CJK.findall(segment)) >= 6


def split_steps(reasoning: str, min_steps: int = 3) -> list[str]:
    """Split a trace into steps: non-trivial lines, or sentences when there are fewer lines than ``min_steps``."""
    lines = [s for s in _segments(reasoning) if _substantial(s)]
    if len(lines) >= min_steps:
        return lines
    sentences = [s.strip() for line in reasoning.splitlines() for s in _SENTENCE_END.split(line) if s and s.strip()]
    sentences = [s for s in sentences if _substantial(s)]
    return sentences if len(sentences) > len(lines) else lines


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return " ".join(text.split())


def repeated_fraction(steps: list[str]) -> float:
    """Share of steps that repeat an earlier step (0.0 for an empty trace)."""
    if not steps:
        return 0.0
    seen: set[str] = set()
    repeats = 0
    for step in steps:
        key = _normalise(step)
        if key in seen:
            repeats += 1
        seen.add(key)
    return repeats / len(steps)


def _number_key(token: str) -> str:
    token = token.replace(",", "")
    if "." in token:
        token = token.rstrip("0").rstrip(".")
    return token


def reference_terms(reference: str) -> set[str]:
    """Terms of a reference answer: content words, numbers and CJK bigrams (lower-cased)."""
    text = unicodedata.normalize("NFKC", reference)
    terms = {w.lower() for w in _WORD.findall(text) if w.lower() not in _STOP}
    terms |= {"#" + _number_key(n) for n in _NUMBER.findall(text)}
    for run in _CJK_RUN.findall(text):
        terms |= {run[i : i + 2] for i in range(len(run) - 1)} if len(run) > 1 else {run}
    return terms


def term_overlap_ratio(reference: str, trace: str) -> float | None:
    """Share of the reference's terms that occur in ``trace``; ``None`` when the reference has no terms."""
    terms = reference_terms(reference)
    if not terms:
        return None
    text = unicodedata.normalize("NFKC", trace)
    words = {w.lower() for w in _WORD.findall(text)}
    numbers = {"#" + _number_key(n) for n in _NUMBER.findall(text)}
    hits = 0
    for term in terms:
        if term.startswith("#"):
            hits += term in numbers
        elif _CJK.match(term):
            hits += term in text
        else:
            hits += term in words
    return hits / len(terms)


def mechanical_checks(
    *,
    reasoning: str | None,
    completion: str | None,
    reference: str,
    answer_type: str,
    min_steps: int = 3,
    max_repeated_fraction: float = 0.3,
    min_term_overlap: float = 0.3,
) -> MechanicalChecks:
    """Compute the three mechanical checks for one trace (``None`` where a check does not apply)."""
    if not reasoning or not reasoning.strip():
        return MechanicalChecks(steps=0, min_three_steps=False)
    steps = split_steps(reasoning, min_steps)
    fraction = repeated_fraction(steps)
    ratio: float | None = None
    if answer_type in FREE_FORM_TYPES and reference.strip():
        ratio = term_overlap_ratio(reference, f"{reasoning}\n{completion or ''}")
    return MechanicalChecks(
        steps=len(steps),
        min_three_steps=len(steps) >= min_steps,
        max_repeated_line_fraction=round(fraction, 4),
        content_diversity=fraction <= max_repeated_fraction,
        term_overlap_ratio=None if ratio is None else round(ratio, 4),
        term_overlap=None if ratio is None else ratio >= min_term_overlap,
    )


def failed_checks(checks: MechanicalChecks) -> list[str]:
    """Names of the checks that failed (a check that does not apply never fails)."""
    names = ("min_three_steps", "content_diversity", "term_overlap")
    return [name for name in names if getattr(checks, name) is False]
