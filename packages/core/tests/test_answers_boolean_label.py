"""Yes/no, label and free-form matching, and the public API contract (finr1_core.answers)."""

from __future__ import annotations

import pytest

from finr1_core.answers import ANSWER_TYPES, MatchResult, match_answer
from finr1_core.answers.boolean import parse_boolean
from finr1_core.answers.label import parse_label
from finr1_core.errors import InputError

TFNS = {"0": ["bearish", "negative"], "1": ["bullish", "positive"], "2": ["neutral"]}


def r1(answer: str) -> str:
    thinking = (
        "Hmm, the tweet mentions a downgrade, which sounds bearish, but the price target was raised, which is "
        "bullish. Maybe neutral? I'd say \\boxed{1} at first. Is it correct? Yes, no... let me re-read. "
        + "Weighing the wording once more. "
        * 50
    )
    return f"<think>\n{thinking}\n</think>\n\n{answer}"


BOOL_CASES: list[tuple[str, object, bool]] = [
    ("\\boxed{Yes}", "yes", True),
    ("\\boxed{\\text{Yes}}", "yes", True),
    ("\\boxed{yes}", "no", False),
    ("\\boxed{No}", "no", True),
    ("\\boxed{True}", "yes", True),
    ("\\boxed{False}", True, False),
    ("Yes, it increased.", "yes", True),
    ("yes, it increased", "yes", True),
    ("No, Altria did not outperform the S&P 500 over the period.", "no", True),
    ("No, Altria did not outperform the S&P 500 over the period.", "yes", False),
    ("**Answer:** Yes", "yes", True),
    ("The answer is no.", "no", True),
    ("Final answer: No — the 2019 peer group returned less.", "no", True),
    ("\\boxed{是}", "是", True),
    ("\\boxed{否}", "是", False),
    ("\\boxed{否}", "否", True),
    ("答案：是", "是", True),
    ("答案是否", "否", True),
    ("答案为：否。", "否", True),
    ("判断：正确", "是", True),
    ("判断：错误", "是", False),
    ("\\boxed{正确}", "正确", True),
    ("\\boxed{错误}", "正确", False),
    ("\\boxed{不正确}", "否", True),
    ("\\boxed{对}", "是", True),
    ("\\boxed{错}", "否", True),
    ("\\boxed{×}", "否", True),
    ("\\boxed{√}", "是", True),
    ("该说法是错误的。", "否", True),
    ("该说法正确。", "是", True),
    ("这种做法不合规。", "否", True),
    ("\\boxed{不合规}", "否", True),
    ("\\boxed{合规}", "是", True),
    ("The statement is not correct.", "no", True),
    ("The statement is incorrect.", "yes", False),
    ("\\boxed{Yes}", 1, True),
    ("The 2019 peer group did not have a greater five-year return than the 2018 peer group.", "no", True),
    ("Altria did not outperform the S&P 500.", "yes", False),
    ("不属于金融问题。", "否", True),
    ("答：否", "否", True),
    ("", "yes", False),
    ("I cannot determine this from the data.", "yes", False),
    ("\\boxed{Yes}", "maybe", None),  # type: ignore[list-item]
]


@pytest.mark.parametrize(("prediction", "reference", "expected"), BOOL_CASES)
def test_boolean(prediction: str, reference: object, expected: bool | None) -> None:
    got = match_answer(prediction, reference, "boolean")  # type: ignore[arg-type]
    assert got.correct is expected, got


@pytest.mark.parametrize(("prediction", "reference", "expected"), BOOL_CASES[:36])
def test_boolean_after_thinking(prediction: str, reference: object, expected: bool) -> None:
    got = match_answer(r1(prediction), reference, "boolean")  # type: ignore[arg-type]
    assert got.correct is expected, got


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("是否合规", None),
        ("能否", None),
        ("否则", None),
        ("对于这个问题", None),
        ("是的", True),
        ("不是", False),
        ("y", True),
    ],
)
def test_parse_boolean_edges(text: str, value: bool | None) -> None:
    assert parse_boolean(text) is value


LABEL_CASES: list[tuple[str, object, bool]] = [
    ("\\boxed{0}", 0, True),
    ("\\boxed{0}", "0", True),
    ("\\boxed{2}", 0, False),
    ('\\boxed{"1"}', 1, True),
    ("\\boxed{Bearish}", 0, True),
    ("\\boxed{\\text{Neutral}}", 2, True),
    ("\\boxed{0 \\text{ (Bearish)}}", 0, True),
    ("\\boxed{negative}", "0", True),
    ("\\boxed{Positive}", "1", True),
    ("\\boxed{Bullish}", "Bearish", False),
    ("\\boxed{Bullish}", "bullish", True),
    ("Sentiment: **Bearish**", 0, True),
    ("The sentiment of this tweet is neutral.", 2, True),
    ("The tweet is not bearish but neutral.", 2, True),
    ("Neutral (not bullish).", 2, True),
    ("The answer is 1.", 1, True),
    ("Label: 2", 2, True),
    ("", 2, False),
    ("The company reported 2 new products.", 2, False),  # a bare digit in prose is not a label
    ("\\boxed{strongly bullish}", 1, True),
    ("\\boxed{0.5}", 0, False),
]


@pytest.mark.parametrize(("prediction", "reference", "expected"), LABEL_CASES)
def test_label(prediction: str, reference: object, expected: bool) -> None:
    got = match_answer(prediction, reference, "label", labels=TFNS)  # type: ignore[arg-type]
    assert got.correct is expected, got


@pytest.mark.parametrize(("prediction", "reference", "expected"), LABEL_CASES[:17])
def test_label_after_thinking(prediction: str, reference: object, expected: bool) -> None:
    got = match_answer(r1(prediction), reference, "label", labels=TFNS)  # type: ignore[arg-type]
    assert got.correct is expected, got


def test_label_chinese_synonyms() -> None:
    labels = {"0": ["消极", "负面"], "1": ["积极", "正面"], "2": ["中性"]}
    assert match_answer("\\boxed{负面}", "0", "label", labels=labels).correct is True
    assert match_answer("情感倾向：中性", "2", "label", labels=labels).correct is True
    assert match_answer("这条新闻不是负面的，而是正面的。", "1", "label", labels=labels).correct is True


def test_label_without_synonyms() -> None:
    assert match_answer("\\boxed{2}", "2", "label").correct is True
    assert match_answer("\\boxed{1}", "2", "label").correct is False
    assert match_answer("\\boxed{Neutral}", "2", "label").correct is None


def test_parse_label_ids_only_when_allowed() -> None:
    assert parse_label("2", TFNS) == "2"
    assert parse_label("2", TFNS, ids=False) is None


@pytest.mark.parametrize("answer_type", ["text", "code"])
def test_free_form_is_undecided(answer_type: str) -> None:
    got = match_answer(r1("```python\ndef f():\n    return 1\n```"), "def f(): return 1", answer_type)
    assert got.correct is None
    assert "def f" in got.extracted


@pytest.mark.parametrize("answer_type", ANSWER_TYPES)
def test_empty_answer_is_wrong_for_every_type(answer_type: str) -> None:
    for empty in ["", None, "<think>\nnever closed", "<think>x</think>\n   "]:
        got = match_answer(empty, "B", answer_type)
        assert got == MatchResult("", got.rule, False, "no final answer")


def test_text_box_is_extracted() -> None:
    got = match_answer("Some prose.\n\\boxed{Diversification lowers unsystematic risk}", "x", "text")
    assert (got.extracted, got.rule, got.correct) == ("Diversification lowers unsystematic risk", "boxed", None)


def test_unknown_answer_type_raises_input_error() -> None:
    with pytest.raises(InputError, match="answer_type 'number'"):
        match_answer("5", 5, "number")
