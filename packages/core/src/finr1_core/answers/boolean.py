"""Yes/no answers in English and Chinese (yes/no, true/false, 正确/错误, 对/错, 是/否, 合规/不合规)."""

from __future__ import annotations

import re

from finr1_core.answers._text import normalize_span

# Longest forms first so that "不正确" wins over "正确" and "incorrect" over "correct".
_TOKEN_RE = re.compile(
    r"(?P<no>不正确|不对|不是|不合规|不符合|不属实|不成立|不可以|不能|不应该?|不会|不属于|错误|"
    r"(?<![A-Za-z])(?:incorrect|not\s+correct|not\s+true|isn't\s+true|isn't\s+correct|false|wrong|no|n)(?![A-Za-z])|"
    r"[×✗✘❌]|(?<![是能可与成适])否(?![则认决定])|(?<![不])错(?![误])|"
    r"(?<![一二三四五六七八九十\w])非(?=[\s。！!，,.;；]|$))|"
    r"(?P<yes>正确|是的|对的|(?<!是否)合规|(?<!是否)符合|(?<!是否)属实|(?<!是否)成立|(?<!是否)属于|可以|"
    r"(?<![A-Za-z])(?:yes|true|correct|y)(?![A-Za-z])|[√✓✔✅]|"
    r"(?<![\w])是(?=[\s的。！!，,.;；)）]|$)|(?<![\w])对(?=[\s的。！!，,.;；)）]|$)|(?<![\w])会(?=[\s。！!，,.;；]|$)|"
    r"(?<![\w])能(?=[\s。！!，,.;；]|$))",
    re.IGNORECASE,
)
# A line that opens with its verdict: "Yes, it increased." / "No." / "**否**"
_NEGATED_RE = re.compile(
    r"\b(?:did|does|do|was|were|is|are|has|have|had|will|would)\s+not\b|\b(?:didn't|doesn't|don't|wasn't|weren't|"
    r"isn't|aren't|hasn't|haven't|hadn't|won't)\b|没有|并未|未能|并不|不是",
    re.IGNORECASE,
)
_UNSURE_RE = re.compile(
    r"cannot|can't|can not|unable|not\s+(?:sure|possible|enough|clear|determin|provided|available|know)|don't\s+know|insufficient|"
    r"unclear|无法|不能确定|不确定|信息不足",
    re.IGNORECASE,
)
_LEADING_RE = re.compile(
    r"^[\s*#>_`\"'“]*(?:answer[:：]?\s*)?(yes|no|true|false|是|否|正确|错误|对|错)(?![A-Za-z])", re.I
)


_STRONG = frozenset(
    [
        "正确",
        "错误",
        "不正确",
        "不对",
        "不成立",
        "成立",
        "true",
        "false",
        "correct",
        "incorrect",
        "not correct",
        "not true",
        "合规",
        "不合规",
        "属实",
        "不属实",
    ]
)


def parse_boolean(text: str, *, strict: bool = False) -> bool | None:
    """The first yes/no verdict in ``text`` (``None`` when there is none).

    With ``strict``, only explicit verdict words (正确/错误, true/false, correct/incorrect, 合规/不合规) count,
    for prose where "no" or "是" are ordinary words. Single letters ``y``/``n`` count only when they are the whole text; ``是``, ``对``, ``能`` only when they
    stand alone (so "该说法是错误的" reads as 错误, and "是否" never reads as yes or no).
    """
    s = normalize_span(text).strip().strip("$").strip()
    if not s:
        return None
    for m in _TOKEN_RE.finditer(s):
        tok = m.group(0)
        if tok.lower() in ("y", "n") and len(s.strip(" .。!！")) != 1:
            continue
        if strict and tok.lower() not in _STRONG:
            continue
        return m.lastgroup == "yes"
    return None


def boolean_in_region(region: str) -> bool | None:
    """Fallback verdict of a region with no box and no answer phrase.

    A line that opens with its verdict ("Yes, …", "否。") wins, the first such line; otherwise the last line
    with an explicit 正确/错误/true/false style word.
    """
    lines = [ln for ln in region.splitlines() if ln.strip()]
    for line in lines:
        m = _LEADING_RE.match(normalize_span(line))
        if m:
            return parse_boolean(m.group(1))
    for line in reversed(lines):
        got = parse_boolean(line, strict=True)
        if got is not None:
            return got
    # "Altria did not outperform the S&P 500.": a plain negated statement answers no (never read as yes)
    last = lines[-1] if lines else ""
    if _NEGATED_RE.search(last) and not _UNSURE_RE.search(last):
        return False
    return None


# "Yes and no: revenue rose, but organic revenue fell": both verdicts at once is no answer.
_HEDGE_RE = re.compile(
    r"\b(?:both\s+)?yes\s+and\s+no\b|\bpartly\s+(?:yes|true)\b|既是又不是|是也不是|既对又不对|对也不对", re.IGNORECASE
)

# Yes/no questions about a direction ("did revenue increase …?") answered by stating the direction
# ("Revenue grew from $4.8bn to $5.2bn"): a careful grader reads that as the verdict.
_YN_QUESTION_RE = re.compile(
    r"^\W*(?:did|does|do|was|were|is|are|has|have|had|will|would|can|could)\b|是否|有没有|[吗么][?？]?\s*$",
    re.IGNORECASE,
)
_UP_RE = re.compile(
    r"increas|\brise\b|\brose\b|\brisen\b|\bgr[eo]w|\bgrown\b|\bhigher\b|improv|exceed|outperform|surpass|"
    r"\bwent\s+up\b|\bgo\s+up\b|上升|增长|增加|提高|上涨|改善|超过",
    re.IGNORECASE,
)
_DOWN_RE = re.compile(
    r"decreas|declin|\bfell\b|\bfall|\bfallen\b|\bdropp?|\blower\b|\bworse|deteriorat|shr[ai]nk|underperform|"
    r"\bwent\s+down\b|\bgo\s+down\b|下降|减少|降低|下跌|恶化|负增长",
    re.IGNORECASE,
)


def hedged(text: str) -> bool:
    """Whether an answer gives both verdicts ("Yes and no", "是也不是")."""
    return _HEDGE_RE.search(text) is not None


def direction_verdict(region: str, question: str | None) -> bool | None:
    """Yes/no read from a stated direction when the question asks about exactly one direction.

    "Did total revenue increase?" + "Revenue grew from … to …" → yes; + "Revenue fell …" → no. Only when the
    question names one direction, the answer's last two lines name exactly one and nothing is negated.
    """
    if not question or _YN_QUESTION_RE.search(question) is None:
        return None
    q_up, q_down = _UP_RE.search(question) is not None, _DOWN_RE.search(question) is not None
    if q_up == q_down:
        return None
    tail = "\n".join([ln for ln in region.splitlines() if ln.strip()][-2:])
    if _NEGATED_RE.search(tail) or _UNSURE_RE.search(tail) or re.search(r"\bnot\b|不|没", tail):
        return None
    a_up, a_down = _UP_RE.search(tail) is not None, _DOWN_RE.search(tail) is not None
    if a_up == a_down:
        return None
    return a_up == q_up


def parse_reference_boolean(reference: str | float | int | bool) -> bool | None:
    """Gold yes/no: ``bool``, 1/0, or any text :func:`parse_boolean` reads."""
    if isinstance(reference, bool):
        return reference
    if isinstance(reference, int | float):
        return {1: True, 0: False}.get(reference)  # type: ignore[call-overload]
    return parse_boolean(str(reference))
