"""Class labels with per-benchmark synonyms (TFNS: 0 bearish/negative, 1 bullish/positive, 2 neutral)."""

from __future__ import annotations

import re
from functools import lru_cache

from finr1_core.answers._text import normalize_span

_NEGATION_RE = re.compile(
    r"(?:\bnot|n't|\bnon-?|\bno|\bneither|\bwithout|rather\s+than|instead\s+of|\bnor|不是|并非|而非|非|不属于|不|没有|无)\s*"
    r"(?:(?:a|an|very|really|clear(?:ly)?|obvious(?:ly)?|strong(?:ly)?|particular(?:ly)?|significant(?:ly)?|"
    r"explicit(?:ly)?|discernible|overt(?:ly)?|明显|明确)(?:\s+|的|地)?)*$",
    re.IGNORECASE,
)
# "not bearish or bullish", "no positive or negative tone": the negation covers the whole list
_LIST_JOIN_RE = re.compile(r"\s*(?:,|/|or|nor|and|或|或者|和|与|、)\s*", re.IGNORECASE)
# Chinese names of the usual sentiment classes, added to a label whose synonyms hold the English word
_SENTIMENT_ZH = {
    "positive": ("正面", "积极", "利好", "看涨", "看多", "乐观"),
    "bullish": ("正面", "积极", "利好", "看涨", "看多", "乐观"),
    "negative": ("负面", "消极", "利空", "看跌", "看空", "悲观"),
    "bearish": ("负面", "消极", "利空", "看跌", "看空", "悲观"),
    "neutral": ("中性", "中立"),
}
# "Sentiment: Neutral", "The sentiment of this tweet is **bullish**", "情感倾向：积极"
# (matched on a lower-cased copy: IGNORECASE is several times slower on long responses)
_LABEL_PHRASE_RE = re.compile(
    r"(?:sentiment|classification|\blabel|情感倾向|情感|情绪)[^\n.:：]{0,40}?(?:\*\*)?[ \t]*(?:\bis\b|[:：=]|为|是)"
)
_LABEL_PHRASE_KEYS = ("sentiment", "classification", "label", "情感", "情绪")


@lru_cache(maxsize=64)
def _compile(items: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[re.Pattern[str], dict[str, str]]:
    lookup: dict[str, str] = {}
    for label_id, synonyms in items:
        lookup[label_id.lower()] = label_id
        for syn in synonyms:
            if syn.strip():
                lookup.setdefault(syn.strip().lower(), label_id)
    for label_id, synonyms in items:
        for syn in synonyms:
            for zh in _SENTIMENT_ZH.get(syn.strip().lower(), ()):
                lookup.setdefault(zh, label_id)
    parts = []
    for tok in sorted(lookup, key=len, reverse=True):
        esc = re.escape(tok)
        # ASCII tokens need word edges ("0" must not hit "0.5" or "10"); CJK tokens do not have any
        parts.append(rf"(?<![A-Za-z0-9.]){esc}(?![A-Za-z0-9]|\.\d)" if tok.isascii() else esc)
    return re.compile("|".join(parts), re.IGNORECASE), lookup


def _key(labels: dict[str, list[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((str(k).strip(), tuple(str(s) for s in (v or ()))) for k, v in labels.items())


def parse_label(text: str, labels: dict[str, list[str]], *, ids: bool = True) -> str | None:
    """The first non-negated label named in ``text`` ("not bearish but neutral" → the neutral id).

    A label's name wins over a numeric id in the same text ("0 neutral" is neutral, whatever id 0 means); a bare
    id counts only when no name is given.

    Args:
        text: An answer span.
        labels: Label id → synonyms.
        ids: Whether bare ids ("0", "2") count; off for free prose, where digits are ordinary numbers.
    """
    s = normalize_span(text).replace('"', " ").replace("'", " ").strip("$ ")
    if not s:
        return None
    pattern, lookup = _compile(_key(labels))
    negated_end = -1
    first_number: str | None = None
    for m in pattern.finditer(s):
        tok = m.group(0).lower()
        label_id = lookup[tok]
        bare_id = tok == label_id.lower() and tok not in {syn.lower() for syn in labels.get(label_id, [])}
        if bare_id and not ids:
            continue
        if _NEGATION_RE.search(s, max(0, m.start() - 40), m.start()) or (
            negated_end >= 0 and _LIST_JOIN_RE.fullmatch(s, negated_end, m.start())
        ):
            negated_end = m.end()
            continue
        if bare_id and tok.isdigit():
            # FinMA-style "0 neutral", "4 negative": the name counts, the number beside it does not
            first_number = first_number or label_id
            continue
        return label_id
    return first_number


def label_after_phrase(region: str, labels: dict[str, list[str]]) -> str | None:
    """The label stated after the last "Sentiment:"/"the sentiment is"/"情感倾向：" phrase that names one."""
    lowered = region.lower()
    if len(lowered) != len(region) or not any(k in lowered for k in _LABEL_PHRASE_KEYS):
        return None
    hits = list(_LABEL_PHRASE_RE.finditer(lowered))
    for m in reversed(hits[-8:]):
        tail = region[m.end() : m.end() + 200].split("\n", 1)[0]
        got = parse_label(tail, labels)
        if got is not None:
            return got
    return None


def label_in_region(region: str, labels: dict[str, list[str]]) -> str | None:
    """Fallback: the label named on the last line that names one (synonyms only, not bare ids)."""
    for line in reversed([ln for ln in region.splitlines() if ln.strip()]):
        got = parse_label(line, labels, ids=False)
        if got is not None:
            return got
    return None


def parse_reference_label(reference: str | float | int, labels: dict[str, list[str]]) -> str | None:
    """Gold label id: the id itself (``0`` or ``"0"``) or one of its synonyms."""
    text = str(int(reference)) if isinstance(reference, float) and reference.is_integer() else str(reference).strip()
    _, lookup = _compile(_key(labels))
    return lookup.get(text.lower())
