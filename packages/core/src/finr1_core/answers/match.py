"""``match_answer``: extract the final answer of a response and compare it with the gold, by answer type."""

from __future__ import annotations

import re
from dataclasses import dataclass

from finr1_core.answers import numeric as _num
from finr1_core.answers._text import normalize_span, squash
from finr1_core.answers.boolean import (
    direction_verdict,
    hedged,
    leading_verdict,
    parse_boolean,
    parse_reference_boolean,
    proposition_verdict,
    stated_verdict,
)
from finr1_core.answers.choice import (
    letters_at_start,
    letters_from_text,
    letters_in_region,
    parse_reference_letters,
    rejects_option,
    valid_letters,
)
from finr1_core.answers.extract import answer_region, boxed_spans, json_answer
from finr1_core.answers.extract import candidate_spans as _spans
from finr1_core.answers.label import label_after_phrase, label_in_region, parse_label, parse_reference_label
from finr1_core.errors import InputError

ANSWER_TYPES = ("numeric", "choice", "boolean", "label", "text", "code")


@dataclass(frozen=True, slots=True)
class MatchResult:
    """The verdict of one prediction against one gold answer.

    Attributes:
        extracted: The normalised final answer that was graded ("14.46%", "ABD", "yes", a label id), or ""
            when none was found.
        rule: How it was found: ``json``, ``boxed``, ``final_answer``, ``answer_phrase``, ``last_number``,
            ``choice_statement``, ``letter_line``, ``option_text``, ``first_line``, ``last_line``, ``region``,
            or ``empty``/``unclosed_think``/``json_null``/``none`` when nothing was found.
        correct: True/False, or ``None`` when the rules cannot decide (text and code answers, a gold that
            cannot be parsed): route those to a judge.
        reason: One short phrase on why (which comparison decided), for logs and debugging.
    """

    extracted: str
    rule: str
    correct: bool | None
    reason: str = ""


_YES_NO_REF_RE = re.compile(r"^\s*(yes|no|true|false|是|否|正确|错误|对|错)\s*$", re.IGNORECASE)
_STANDALONE_LETTER_RE = re.compile(r"(?<![A-Za-z])([A-Z])(?![A-Za-z])")
_BOX_JOINER_RE = re.compile(r"[\s,，、;；$()\\[\]]*(?:and|和|&)?[\s,，、;；$()\\[\]]*")
_TRAILING_PUNCT = " \t.。,，;；:：!！"


_SHORT_ANSWER = 80  # a region this short is a bare answer ("选项C", "14.46%", "Bearish") and is read whole


def candidate_spans(region: str) -> list[tuple[str, str]]:
    """Boxes and phrase tails, then the whole region when it is only a short bare answer."""
    spans = list(_spans(region))
    if len(region) <= _SHORT_ANSWER and "\n" not in region.strip():
        spans.append(("short_answer", region.strip()))
    return spans


def _empty(rule: str) -> MatchResult:
    return MatchResult("", rule, False, "no final answer")


def _select_quantity(span: _num.NumericSpan, prefer_percent: bool, prefer_plain: bool) -> _num.Quantity | None:
    qs = span.quantities
    if not qs:
        return None
    if prefer_percent:
        for q in qs:
            if q.percent:
                return q
    elif prefer_plain:
        for q in qs:
            if not q.percent:
                return q
    return qs[0]


def _numeric_span(region: str) -> tuple[str, _num.NumericSpan, str] | None:
    """``(rule, span, its text)`` of the answer's number: answer spans first, then the last line with a number.

    A closing remark ("Note: …", "This assumes … 10%") or a working line without a result ("*Calculation: 8.1 ÷
    56.0*") after the answer line is skipped while an earlier line has a number; then Chinese numerals when the
    answer has no digits at all, then an English count word ("three segments").
    """
    for rule, text in candidate_spans(region):
        # after an answer phrase or in a box the first number is the committed one ("the answer is €2,000. The
        # net shift on 30 June 2006 is …"); a short answer read whole may commit to a later one
        ns = _num.parse_numeric_span(text, commit=rule in ("short_answer", "json"))
        if ns.quantities:
            return rule, ns, text
    caveat: tuple[str, _num.NumericSpan, str] | None = None
    for line in reversed(region.splitlines()):
        if not any(c.isdigit() for c in line):
            continue
        ns = _num.parse_numeric_span(line)
        if ns.quantities and not all(q.year_like for q in ns.quantities):
            if _CAVEAT_LINE_RE.match(line) or (_WORKING_LINE_RE.match(line) and not _RESULT_RE.search(line)):
                caveat = caveat or ("last_number", ns, line)
                continue
            return "last_number", ns, line
    if caveat is not None:
        return caveat
    if not any(c.isdigit() for c in region):
        found = _chinese_numerals(region)
        if found is not None:
            return found
    words = _number_words(region)
    return ("number_word", words, "") if words is not None else None


def _match_numeric(region: str, reference: str | float | int, question: str | None, rel_tol: float) -> MatchResult:
    ref = _num.parse_reference(reference)
    facts = _num.question_facts(question)
    ref_fraction = ref is not None and not ref.percent and 0 < abs(ref.value) < 1
    prefer_percent = facts.ratio or (ref is not None and ref.percent)
    prefer_plain = question is not None and not prefer_percent and not ref_fraction
    found = _numeric_span(region)
    if found is None:
        return MatchResult("", "none", False, "no number in the answer")
    rule, ns, _ = found
    pred = _select_quantity(ns, prefer_percent, prefer_plain)
    assert pred is not None
    if rule == "boxed":
        # "Operating expenses decreased by \boxed{7.1\%}": the words before the box give its direction
        pred = _num.with_direction(pred, _box_direction(region))
    extracted = pred.text or repr(pred.value)
    if ref is None:
        return MatchResult(extracted, rule, None, "reference is not a number")
    if ns.hedged:
        return MatchResult(extracted, rule, False, "hedged between different values")
    how = _num.compare_quantities(pred, ref, facts, rel_tol=rel_tol, decrease_word=ns.decrease_word)
    if how is not None:
        return MatchResult(extracted, rule, True, how)
    return MatchResult(extracted, rule, False, "different value")


# Closing remarks after the answer line ("Note: ...", "This assumes ...", "注：...") are not where the answer is.
_CAVEAT_LINE_RE = re.compile(
    r"^[\s*_>#(]*(?:notes?\b|this\s+(?:assumes|calculation|figure|result|answer)\b|assum|caveat|disclaimer|source\b|"
    r"注[:：意]|说明[:：]|备注|假设|提示[:：])",
    re.IGNORECASE,
)
# "*Calculation: 8.1 ÷ 56.0*" after the answer shows the working; with "= 14.46%" it states the result itself
_WORKING_LINE_RE = re.compile(
    r"^[\s*_>#(]*(?:calculation|computation|formula|working|derivation|计算(?:过程|公式)?|公式)\b", re.IGNORECASE
)
_RESULT_RE = re.compile(r"[=≈]|\\approx")
_WORD_NUMBERS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
_NUMBER_WORD_RE = re.compile(r"(?<![A-Za-z-])(" + "|".join(_WORD_NUMBERS) + r")(?![A-Za-z-])", re.IGNORECASE)


def _chinese_numerals(region: str) -> tuple[str, _num.NumericSpan, str] | None:
    """A number written in Chinese numerals ("百分之十四点四六"), tried only when the answer has no Arabic digits.

    The same places as for digits, in the same order: answer spans (box, "answer is"), then the last line with one.
    """
    for rule, text in candidate_spans(region):
        ns = _num.parse_chinese_numeric_span(text)
        if ns.quantities:
            return rule, ns, text
    for line in reversed(region.splitlines()):
        ns = _num.parse_chinese_numeric_span(line)
        if ns.quantities:
            return "last_number", ns, line
    return None


def _number_words(region: str) -> _num.NumericSpan | None:
    """A count written as an English word ("three business segments"), only when the answer has no digits at all."""
    if any(c.isdigit() for c in region):
        return None
    for line in reversed(region.splitlines()):
        m = _NUMBER_WORD_RE.search(line)
        if m is not None:
            return _num.NumericSpan((_num.Quantity(float(_WORD_NUMBERS[m.group(1).lower()]), 1.0, text=m.group(0)),))
    return None


def _box_direction(region: str) -> int:
    """The fall/rise stated around the last box on its line ("decreased by \\boxed{7.1\\%}")."""
    spans = boxed_spans(region)
    if not spans:
        return 0
    start, end, _ = spans[-1]
    line_start = region.rfind("\n", 0, start) + 1
    line_end = region.find("\n", end)
    return _num.context_direction(region[line_start:start], region[end : line_end if line_end >= 0 else len(region)])


def _match_choice(region: str, reference: str | float | int, choices: dict[str, str] | None) -> MatchResult:
    gold = parse_reference_letters(reference, choices)
    valid = valid_letters(choices, gold or "")
    got: tuple[str, str] | None = None
    for rule, text in candidate_spans(region):
        letters = letters_at_start(text, valid)
        discussed = False
        if letters and rule == "short_answer" and len(set(_STANDALONE_LETTER_RE.findall(text)) & valid) > len(letters):
            letters = None  # "A is wrong, so D": a sentence that discusses several options is not a bare answer
            discussed = True  # nor is an option text it names ("A、B、D 正确，C 错误（固定资产…）")
        if letters is None and choices and not discussed and not rejects_option(text):
            letters = letters_from_text(text, choices)
        if letters:
            got = (letters, rule)
            break
    if got is not None and got[1] == "boxed":
        got = (_adjacent_letter_boxes(region, valid) or got[0], "boxed")
    if got is None:
        got = letters_in_region(region, valid, choices)
    if got is None:
        return MatchResult("", "none", False, "no option letter in the answer")
    letters, rule = got
    if gold is None:
        return MatchResult(letters, rule, None, "reference is not an option letter")
    if letters == gold:
        return MatchResult(letters, rule, True, "same option" if len(gold) == 1 else "same option set")
    if len(gold) == 1 and len(letters) > 1:
        return MatchResult(letters, rule, False, "several options for a single-answer item")
    return MatchResult(letters, rule, False, "different option")


def _adjacent_letter_boxes(region: str, valid: frozenset[str]) -> str | None:
    """``\\boxed{A}\\boxed{B}\\boxed{D}`` (one box per chosen letter, side by side) as one set, or None."""
    spans = boxed_spans(region)
    if len(spans) < 2:
        return None
    letters: set[str] = set()
    prev_start = None
    for start, end, content in reversed(spans):
        if prev_start is not None and not _BOX_JOINER_RE.fullmatch(region[end:prev_start]):
            break
        one = letters_at_start(content, valid)
        if one is None or len(one) != 1:
            break
        letters.add(one)
        prev_start = start
    return "".join(sorted(letters)) if len(letters) > 1 else None


def _match_boolean(region: str, reference: str | float | int | bool, question: str | None) -> MatchResult:
    gold = parse_reference_boolean(reference)
    got: tuple[bool, str] | None = None
    for rule, text in candidate_spans(region):
        value = parse_boolean(text)
        if value is not None:
            got = (value, rule)
            if hedged(text):
                return MatchResult(text, rule, False, "hedged between yes and no")
            break
    if got is None:
        lead = region.lstrip()[:120]
        if hedged(lead):
            return MatchResult(lead.split("\n", 1)[0], "region", False, "hedged between yes and no")
        # an opening "Yes, …" first; then a stated direction for a question about one ("did the risk decrease?"),
        # the sentence that restates the question's proposition ("In summary, Boeing's business is indeed subject
        # to …"), and only then loose verdict words anywhere in a long answer
        for rule, verdict in (
            ("region", leading_verdict),
            ("direction", lambda r: direction_verdict(r, question)),
            ("proposition", lambda r: proposition_verdict(r, question)),
            ("region", stated_verdict),
        ):
            value = verdict(region)
            if value is not None:
                got = (value, rule)
                break
    if got is None:
        return MatchResult("", "none", False, "no yes/no verdict in the answer")
    value, rule = got
    extracted = "yes" if value else "no"
    if gold is None:
        return MatchResult(extracted, rule, None, "reference is not yes/no")
    return MatchResult(extracted, rule, value == gold, "same verdict" if value == gold else "opposite verdict")


def _match_label(region: str, reference: str | float | int, labels: dict[str, list[str]] | None) -> MatchResult:
    if not labels:
        # without synonyms only an exact id can be judged; anything else may be a synonym
        gold = str(reference).strip().lower()
        for rule, text in candidate_spans(region):
            got = squash(normalize_span(text)).strip(_TRAILING_PUNCT + "\"'$").lower()
            if got:
                if got == gold:
                    return MatchResult(got, rule, True, "same label")
                both_ids = got.isdigit() and gold.isdigit()
                return MatchResult(
                    got, rule, False if both_ids else None, "different label" if both_ids else "no labels"
                )
        return MatchResult("", "none", None, "no labels given")
    gold_id = parse_reference_label(reference, labels)
    got_id: tuple[str, str] | None = None
    for rule, text in candidate_spans(region):
        # a short sentence read whole may hold ordinary numbers ("reported 2 new products"): ids only when bare
        value = parse_label(text, labels, ids=rule != "short_answer" or len(text) <= 16)
        if value is not None:
            got_id = (value, rule)
            break
    if got_id is None:
        value = label_after_phrase(region, labels)
        if value is not None:
            got_id = (value, "label_phrase")
    if got_id is None:
        value = label_in_region(region, labels)
        if value is not None:
            got_id = (value, "last_line")
    if got_id is None:
        return MatchResult("", "none", False, "no label in the answer")
    value, rule = got_id
    if gold_id is None:
        return MatchResult(value, rule, None, "reference is not a known label")
    return MatchResult(value, rule, value == gold_id, "same label" if value == gold_id else "different label")


def _match_free(region: str) -> MatchResult:
    for rule, text in candidate_spans(region):
        return MatchResult(text, rule, None, "free-form answer: needs a judge")
    return MatchResult(region, "region", None, "free-form answer: needs a judge")


def match_answer(
    prediction: str | None,
    reference: str | float | int | bool | None,
    answer_type: str,
    *,
    choices: dict[str, str] | None = None,
    labels: dict[str, list[str]] | None = None,
    question: str | None = None,
    rel_tol: float = _num.DEFAULT_REL_TOL,
) -> MatchResult:
    """Grade a model response against a gold answer by rule.

    Args:
        prediction: The full model response (``<think>`` block allowed) or a bare answer.
        reference: The gold: a number (FinQA ``exe_ans``), a string ("34%", "B", "ABD", "是", "yes"), or a
            label id or synonym.
        answer_type: One of ``numeric``, ``choice``, ``boolean``, ``label``, ``text``, ``code``.
        choices: Option letter → option text, so an answer written as the option's text counts.
        labels: Label id → synonyms (TFNS: ``{"0": ["bearish", "negative"], ...}``).
        question: The question, so the percent/ratio rule knows when a bare 14.46 may mean 14.46%, and
            "in millions" or "decrease" readings apply.
        rel_tol: Relative tolerance for numbers, of the larger of the two (default 1%).

    Returns:
        A :class:`MatchResult`; ``correct`` is ``None`` only for text/code answers or an unparseable gold.
        Empty or missing answers are wrong (``False``), never an exception.

    Raises:
        InputError: ``answer_type`` is not one of :data:`ANSWER_TYPES`.
    """
    if answer_type not in ANSWER_TYPES:
        raise InputError(f"answer_type {answer_type!r} is not one of {', '.join(ANSWER_TYPES)}")
    region, how = answer_region(prediction if isinstance(prediction, str) else "")
    if not region:
        return _empty("unclosed_think" if how == "unclosed_think" else "empty")
    if json_answer(region) == "":  # {"answer": null, "reasoning": "…"}: nothing committed, whatever the reasoning says
        return _empty("json_null")
    if reference is None or (isinstance(reference, str) and not reference.strip()):
        if answer_type in ("text", "code"):
            return _match_free(region)
        return MatchResult("", "none", None, "no reference")
    if answer_type == "numeric":
        if isinstance(reference, bool) or (isinstance(reference, str) and _YES_NO_REF_RE.match(reference)):
            return _match_boolean(region, reference, question)
        return _match_numeric(region, reference, question, rel_tol)
    if answer_type == "choice":
        return _match_choice(region, reference, choices)
    if answer_type == "boolean":
        return _match_boolean(region, reference, question)
    if answer_type == "label":
        return _match_label(region, reference, labels)
    return _match_free(region)
