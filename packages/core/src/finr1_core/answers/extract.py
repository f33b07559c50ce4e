"""Where the final answer is: the answer region, ``\\boxed{}`` contents and answer phrases."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from finr1_core.answers.format import after_reasoning, answer_block, split_reasoning

_PHRASE_WINDOW = 400  # characters after an answer phrase that can hold the answer
_MAX_PHRASES = 8  # answer phrases tried per class, from the last (bounded work on degenerate, repetitive outputs)


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

    The split is the format contract's (:mod:`finr1_core.answers.format`): the text after the last ``</think>``
    (junk before ``<think>`` is ignored), in it the last ``<answer>`` block (a block cut off before
    ``</answer>`` still counts). A ``<think>`` that never closes (a trace cut off while thinking) leaves nothing
    to grade, even when the thinking names a number or a letter, unless it holds a complete ``<answer>`` block;
    a response without think tags is graded whole.

    Returns:
        ``(region, how)`` with ``how`` in ``answer_block``, ``after_think``, ``unclosed_think``, ``whole``.
    """
    if not response:
        return "", "whole"
    after = after_reasoning(response)
    if after is None:
        block = answer_block(split_reasoning(response)[0])
        return ("", "unclosed_think") if block is None else (block, "answer_block")
    block = answer_block(after, closed=False)
    if block is not None:
        return block, "answer_block"
    return after.strip(), "after_think" if len(after) != len(response) else "whole"


_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*(\{)?")
_BARE_BOX_RE = re.compile(r"\s*([^\s$\\]+)")


def boxed_contents(region: str) -> list[str]:
    """Contents of every brace-balanced ``\\boxed{...}``/``\\fbox{...}`` in order (unbalanced ones are skipped)."""
    return [content for _, _, content in boxed_spans(region)]


@lru_cache(maxsize=16)  # the same region is asked for its boxes by several rules of one match
def boxed_spans(region: str) -> tuple[tuple[int, int, str], ...]:
    """``(start, end, content)`` of every brace-balanced box, in order."""
    if "\\boxed" not in region and "\\fbox" not in region:
        return ()
    return tuple(_boxed_spans(region))


def _boxed_spans(region: str) -> list[tuple[int, int, str]]:
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
        hits = [m for m in pattern.finditer(lowered) if _phrase_ok(lowered, m.start(), m.group())]
        hypothetical: list[tuple[str, str]] = []
        for m in reversed(hits[-_MAX_PHRASES:]):
            text = _tail(region, m.end())
            if text:
                (hypothetical if _hypothetical(lowered, m.start()) else out).append((rule, text))
        out.extend(hypothetical)
    return out


# "Note: if the question meant annual compounding, the answer would be C": a conditional, not the commitment
_HYPOTHETICAL_RE = re.compile(
    r"\b(?:if|otherwise|alternatively|assuming|unless|had|were\s+(?:it|the))\b|如果|假如|假设|若|否则|要是"
)
_SENTENCE_START_RE = re.compile(r"[.!?。！？\n]")


def _hypothetical(lowered: str, at: int) -> bool:
    """Whether the answer phrase at ``lowered[at:]`` sits in a conditional sentence (tried after the others)."""
    lo = max(0, at - 160)
    starts = [m.end() for m in _SENTENCE_START_RE.finditer(lowered, lo, at)]
    return _HYPOTHETICAL_RE.search(lowered, starts[-1] if starts else lo, at) is not None


# Keys of a structured answer, strongest first: {"answer": ..., "reasoning": ...}, {"final_answer": ...},
# {"sentiment": "negative"}. Matched on a lower-cased copy; the value is what was committed, not the reasoning.
_JSON_KEYS = ("final_answer", "final answer", "answer", "choice", "option", "label", "sentiment", "prediction")
_JSON_KEY_RE = re.compile(r"[\"']((?:final[ _])?answer|choice|option|label|sentiment|prediction)[\"']\s*:\s*")
# The end of an unquoted value in text that is not valid JSON ("answer": 13,237.4, "reasoning": ...)
_JSON_VALUE_END_RE = re.compile(r"\s*,\s*[\"'][A-Za-z_ ]+[\"']\s*:|\s*}|\n")


def _json_scalar(value: object) -> str | None:
    if value is None or isinstance(value, dict):
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        items = [_json_scalar(v) for v in value]
        return ", ".join(i for i in items if i) or None
    text = str(value).strip()
    return text or None


def _quoted(text: str, at: int) -> str | None:
    """The string literal starting at ``text[at]`` (a quote), with JSON escapes read, or None when unclosed."""
    quote = text[at]
    i = at + 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == quote:
            raw = text[at : i + 1]
            if quote == "'":
                raw = '"' + raw[1:-1].replace('"', '\\"') + '"'
            try:
                return str(json.loads(raw))
            except ValueError:
                return raw[1:-1]
        if c == "\n" and quote == "'":
            return None
        i += 1
    return None


@lru_cache(maxsize=16)  # match_answer asks first (a null answer commits to nothing), candidate_spans again
def json_answer(region: str) -> str | None:
    """The committed value of a structured answer (``{"answer": …, "reasoning": …}``), or None.

    Returns ``""`` when the object's answer fields are all null or empty: it commits to no answer.

    The object may sit in a fenced block after prose and need not be valid JSON: ``"answer": 13,237.4`` reads
    as 13,237.4, a quoted sentence ("There was a decrease of 3 films") is kept whole for the type's parser. The
    last object wins; within it, ``final_answer`` before ``answer`` before ``choice``/``label``/``sentiment``.
    """
    if "{" not in region or ":" not in region:
        return None
    lowered = region.lower()
    if len(lowered) != len(region):
        lowered = region.translate(_ASCII_LOWER)
    hits = list(_JSON_KEY_RE.finditer(lowered))
    if not hits:
        return None
    last_object = region.rfind("{", 0, hits[-1].start())
    if last_object < 0:
        return None
    found: dict[str, str] = {}
    for m in hits:
        if m.start() < last_object:
            continue
        key = m.group(1).replace("_", " ")
        at = m.end()
        if at >= len(region):
            continue
        if region[at] in "\"'":
            value = _quoted(region, at)
        elif region[at] in "[{":
            close = region.find("]" if region[at] == "[" else "}", at)
            chunk = region[at : close + 1] if close > 0 else ""
            try:
                value = _json_scalar(json.loads(chunk)) if chunk else None
            except ValueError:
                value = chunk.strip("[]{} ") or None
        else:
            stop = _JSON_VALUE_END_RE.search(region, at)
            raw = region[at : stop.start() if stop else len(region)].strip().rstrip(",")
            value = None if raw.lower() in ("null", "none", "") else raw
        found.setdefault(key, (value or "").strip())
    for key in _JSON_KEYS:
        if found.get(key):
            return found[key]
    # {"answer": null, "reasoning": "maybe 5"}: the structured answer commits to nothing
    return "" if found else None


def candidate_spans(region: str) -> Iterator[tuple[str, str]]:
    """Spans that may hold the answer, most authoritative first: a structured answer's ``answer`` field, boxes
    (last first), then phrase tails."""
    structured = json_answer(region)
    if structured:
        yield "json", structured
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
