"""Where the final answer is: the answer region, ``\\boxed{}`` contents and answer phrases."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_PHRASE_WINDOW = 400
_MAX_PHRASES = (
    8  # answer phrases tried per class, from the last  # characters after an answer phrase that can hold the answer
)


@dataclass(frozen=True, slots=True)
class Extraction:
    """The extracted final answer.

    Attributes:
        text: The answer text ("" when there is none).
        rule: Which rule found it: ``boxed``, ``final_answer``, ``answer_phrase``, ``last_number``,
            ``last_line``, or ``empty`` (nothing to grade: empty response, or thinking that never closed).
    """

    text: str
    rule: str


def answer_region(response: str | None) -> tuple[str, str]:
    """Return the part of a response that may be graded and how it was found.

    The ``<answer>`` block wins; otherwise the text after the last ``</think>``; a ``<think>`` that never
    closes (a truncated trace) leaves nothing to grade; a response without think tags is graded whole.

    Returns:
        ``(region, how)`` with ``how`` in ``answer_block``, ``after_think``, ``unclosed_think``, ``whole``.
    """
    if not response:
        return "", "whole"
    s = response
    how = "whole"
    end_think = s.rfind("</think>")
    if end_think >= 0:
        s, how = s[end_think + len("</think>") :], "after_think"
    else:
        start_think = s.rfind("<think>")
        if start_think >= 0:
            rest = s[start_think + len("<think>") :]
            if "<answer>" not in rest:
                return "", "unclosed_think"
            s = rest
    start = s.rfind("<answer>")
    if start >= 0:
        stop = s.find("</answer>", start)
        s = s[start + len("<answer>") : stop if stop >= 0 else len(s)]
        how = "answer_block"
    return s.strip(), how


_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*(\{)?")
_BARE_BOX_RE = re.compile(r"\s*([^\s$\\]+)")


def boxed_contents(region: str) -> list[str]:
    """Contents of every brace-balanced ``\\boxed{...}``/``\\fbox{...}`` in order (unbalanced ones are skipped)."""
    return [content for _, _, content in boxed_spans(region)]


def boxed_spans(region: str) -> list[tuple[int, int, str]]:
    """``(start, end, content)`` of every brace-balanced box, in order."""
    if "\\boxed" not in region and "\\fbox" not in region:
        return []
    out: list[tuple[int, int, str]] = []
    pos = 0
    while True:
        m = _BOXED_RE.search(region, pos)
        if m is None:
            return out
        if m.group(1) is None:
            # "\boxed 5": the next token
            tok = _BARE_BOX_RE.match(region[m.end() : m.end() + 64])
            if tok:
                out.append((m.start(), m.end() + tok.end(), tok.group(1)))
            pos = m.end()
            continue
        start = i = m.end()
        depth = 1
        while depth:
            close = region.find("}", i)
            if close < 0:
                return out  # truncated box: nothing after it can be balanced either
            opening = region.find("{", i, close)
            if opening >= 0:
                depth += 1
                i = opening + 1
            else:
                depth -= 1
                i = close + 1
        out.append((m.start(), i, region[start : i - 1]))
        pos = i


# Answer phrases, strongest class first. Every pattern ends where the answer starts.
_FINAL_RE = re.compile(
    r"final\s+(?:answer|result)s?[ \t]*(?:\*\*|__)?[ \t]*"
    r"(?:is\b|would\s+be|will\s+be|should\s+be|=|[:：]|(?=[ \t]*(?:\n|$|\$|\\[(\[]|\\boxed)))|"
    r"最终(?:的)?(?:答案|结果|结论|选择)\s*(?:应该|应当|应)?\s*(?:是|为|选)?\s*[:：]?",
)
_ANSWER_RE = re.compile(
    # every branch starts with a literal so the regex engine can skip ahead (see _phrase_ok for the lookbehinds)
    r"answer(?:\s+to\s+(?:the|this)\s+question)?[ \t]*(?:\*\*)?[ \t]*(?:is\b|would\s+be|should\s+be|will\s+be|=|[:：])|"
    r"correct\s+(?:option|choice|selection)s?[ \t]*(?:\*\*)?[ \t]*(?:is\b|are\b|would\s+be|=|[:：])|"
    r"right\s+(?:option|choice|selection)s?[ \t]*(?:\*\*)?[ \t]*(?:is\b|are\b|would\s+be|=|[:：])|"
    r"best\s+(?:option|choice|selection)s?[ \t]*(?:\*\*)?[ \t]*(?:is\b|are\b|would\s+be|=|[:：])|"
    r"答案\s*(?:应该|应当|应)?\s*(?:是|为|选择?)\s*[:：]?|答案\s*[:：]|答案\s*[】\]]\s*[:：]?|答案\s*(?=[a-f]{1,6}(?![a-z]))|"
    r"正确(?:的)?(?:选项|答案|判断)\s*(?:应该|应)?\s*(?:是|为|选)?\s*[:：]?|"
    r"正确的(?:选项|说法|表述)?(?:有|是|为)\s*[:：]?|"
    r"判断\s*(?:结果)?\s*(?:是|为)?\s*[:：]|结论\s*(?:是|为)?\s*[:：]|回答\s*[:：]|答\s*[:：]|"
    r"选(?:择)?\s*[:：]?|"
    r"actually,?\s+(?:it|the\s+(?:correct\s+)?answer)\s+(?:is|should\s+be)\b|"
    r"correction\s*[:：]"
)
_SELECT_PREFIX = frozenset("故此以上应题能则")


def _phrase_ok(lowered: str, start: int, text: str) -> bool:
    """The lookbehinds of _ANSWER_RE, checked by hand: "答：" but not "解答：", "故选" but not "选项"/"挑选"."""
    prev = lowered[start - 1] if start > 0 else ""
    if text.startswith("答") and not text.startswith("答案"):
        return prev not in ("解", "问")
    if text.startswith("选"):
        return prev in _SELECT_PREFIX
    return True


# The phrase patterns run on an ASCII-lowercased copy: re.IGNORECASE makes them ~20x slower on long texts.
_ASCII_LOWER = str.maketrans({chr(c): chr(c + 32) for c in range(65, 91)})
_LEADING_JUNK = " \t\r\n*_#:：>`'\"“”‘’"


def _tail(region: str, end: int) -> str:
    t = region[end : end + _PHRASE_WINDOW].lstrip(_LEADING_JUNK)
    line = t.split("\n", 1)[0]
    return line.strip()


def phrase_tails(region: str) -> list[tuple[str, str]]:
    """``(rule, text)`` after each answer phrase: "final answer" ones first, each class from last to first."""
    out: list[tuple[str, str]] = []
    lowered = region.lower()  # C speed; offsets must stay those of region
    if len(lowered) != len(region):  # a few characters ("İ") lower to two
        lowered = region.translate(_ASCII_LOWER)
    for rule, pattern, keys in (
        ("final_answer", _FINAL_RE, ("final", "最终")),
        (
            "answer_phrase",
            _ANSWER_RE,
            ("answer", "correct", "right", "best", "actually", "答", "选", "判断", "结论", "正确"),
        ),
    ):
        if not any(k in lowered for k in keys):
            continue
        hits = [m.end() for m in pattern.finditer(lowered) if _phrase_ok(lowered, m.start(), m.group())]
        for end in reversed(hits[-_MAX_PHRASES:]):  # bounded work on degenerate, repetitive outputs
            text = _tail(region, end)
            if text:
                out.append((rule, text))
    return out


def candidate_spans(region: str) -> Iterator[tuple[str, str]]:
    """Spans that may hold the answer, most authoritative first: boxes (last first), then phrase tails."""
    for content in reversed(boxed_contents(region)):
        if content.strip():
            yield "boxed", content.strip()
    yield from phrase_tails(region)


_LAST_NUMBER_RE = re.compile(r"[-−]?\$?\d[\d,]*(?:\.\d+)?(?:\s*(?:\\?%|percent|million|billion|thousand|万|亿))?")


def extract_answer(response: str | None) -> Extraction:
    """Extract the final answer of a model response, without knowing the answer type.

    Order: the graded region (``<answer>`` block, else text after ``</think>``, never the thinking), then the
    last ``\\boxed{}``, then the last "final answer"/"the answer is"/"答案是"/"答案："/"判断："/"故选" phrase,
    then the last number, then the last non-empty line. :func:`finr1_core.answers.match_answer` uses
    type-aware fallbacks instead of the last two steps.

    Args:
        response: The full model output (may include a ``<think>`` block).

    Returns:
        The :class:`Extraction` (text and rule). Never raises on odd input.
    """
    region, _ = answer_region(response)
    if not region:
        return Extraction("", "empty")
    for rule, text in candidate_spans(region):
        return Extraction(text, rule)
    numbers = _LAST_NUMBER_RE.findall(region)
    if numbers:
        return Extraction(numbers[-1].strip(), "last_number")
    for line in reversed(region.splitlines()):
        if line.strip():
            return Extraction(line.strip(), "last_line")
    return Extraction("", "empty")
