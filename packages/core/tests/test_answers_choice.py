"""Option-letter matching: single and multiple answers, Chinese and English, option text (finr1_core.answers)."""

from __future__ import annotations

import pytest

from finr1_core.answers import match_answer
from finr1_core.answers.choice import letters_at_start, letters_from_text, parse_reference_letters, valid_letters

ANT = {"A": "3000", "B": "23173", "C": "27754", "D": "10943"}
FIQ = {"A": "组织管理性的流转和协作关系", "B": "经济管理关系", "C": "市场管理关系", "D": "民事关系"}
STATEMENTS = {"A": "利润表", "B": "资产负债表", "C": "现金流量表", "D": "所有者权益变动表"}


def r1_zh(answer: str) -> str:
    thinking = (
        "嗯，我需要仔细分析每个选项。选项A说的是利润表，好像不对；选项B是资产负债表，可能是答案？"
        "先假设答案是\\boxed{A}，再检查。C选项看起来也有道理，D可以排除。" + "再把每个选项对照教材逐条核对一遍。" * 60
    )
    return f"<think>\n{thinking}\n</think>\n\n{answer}"


CASES: list[tuple[str, str, bool, dict[str, str] | None]] = [
    # (prediction, reference, expected, choices)
    ("\\boxed{B}", "B", True, None),
    ("\\boxed{b}", "B", True, None),
    ("\\boxed{(B)}", "B", True, None),
    ("\\boxed{\\text{B}}", "B", True, None),
    ("\\boxed{\\textbf{B}}", "B", True, None),
    ("\\(\\boxed{B}\\)", "B", True, None),
    ("\\boxed{B. 资产负债表}", "B", True, None),
    ("\\boxed{B: Balance sheet}", "B", True, None),
    ("\\boxed{B}", "C", False, None),
    ("答案是 B", "B", True, None),
    ("答案：B", "B", True, None),
    ("答案为B。", "B", True, None),
    ("**答案：B**", "B", True, None),
    ("正确答案是C", "C", True, None),
    ("故选B。", "B", True, None),
    ("因此，本题选D。", "D", True, None),
    ("综上所述，应选择A。", "A", True, None),
    ("选项C", "C", True, None),
    ("C", "C", True, None),
    ("(B)", "B", True, None),
    ("B. 资产负债表", "B", True, STATEMENTS),
    ("**Answer: B**", "B", True, None),
    ("**Answer:** (C) Cash flow statement", "C", True, None),
    ("The correct answer is option (C), because the other options ignore taxes.", "C", True, None),
    ("The correct option is D.", "D", True, None),
    ("Final Answer: The answer is D", "D", True, None),
    ("A is wrong, B is wrong, so the answer is D", "D", True, None),
    ("A is wrong, B is wrong, so the answer is D", "A", False, None),
    ("A错误，B错误，C错误，D正确。", "D", True, None),
    ("选项A、B、C均不正确，只有D正确。", "D", True, None),
    ("Option A is incorrect. Option B is incorrect. Option D is correct.", "D", True, None),
    ("D is the correct answer.", "D", True, None),
    ("根据计算，利息=100000×1.5%×2=3000元，对应选项A。", "A", True, ANT),
    ("答：B", "B", True, None),
    (
        "A项：利润表——错误\nB项：资产负债表——正确\nC项：现金流量表——错误\nD项：所有者权益变动表——错误",
        "B",
        True,
        STATEMENTS,
    ),
    ("A. 利润表 ×\nB. 资产负债表 ✓\nC. 现金流量表 ×\nD. 所有者权益变动表 ×", "B", True, STATEMENTS),
    ("应该选B项。", "B", True, None),
    ("以上选项中，只有B符合题意。", "B", True, None),
    # multiple answers
    ("\\boxed{A}\\boxed{B}\\boxed{D}", "ABD", True, None),
    ("\\boxed{A}、\\boxed{C}", "AC", True, None),
    ("正确的有A、B和D。", "ABD", True, None),
    ("\\boxed{ABD}", "ABD", True, None),
    ("\\boxed{A, B, D}", "ABD", True, None),
    ("\\boxed{A,B,D}", "A,B,D", True, None),
    ("\\boxed{A、B、D}", "ABD", True, None),
    ("答案：A、B、D", "ABD", True, None),
    ("the answer is A, B and D", "ABD", True, None),
    ("\\boxed{BD}", "ABD", False, None),
    ("\\boxed{ABCD}", "ABD", False, None),
    ("\\boxed{DBA}", "ABD", True, None),
    # two options for a single-answer item
    ("\\boxed{AB}", "A", False, None),
    ("\\boxed{A \\text{ or } B}", "A", False, None),
    ("the answer is B or C", "B", False, None),
    # option given as text
    ("\\boxed{3000}", "A", True, ANT),
    ("\\boxed{3000元}", "A", True, ANT),
    ("\\boxed{3,000}", "A", True, ANT),
    ("\\boxed{23173}", "A", False, ANT),
    ("\\boxed{民事关系}", "D", True, FIQ),
    ("答案：市场管理关系", "C", True, FIQ),
    ("\\boxed{资产负债表}", "B", True, STATEMENTS),
    ("\\boxed{\\text{Balance sheet}}", "B", False, None),  # no choices given: no letter, wrong
    # options up to E; letters outside the choices are not options
    ("\\boxed{E}", "E", True, None),
    ("\\boxed{E}", "A", False, {"A": "x", "B": "y", "C": "z", "D": "w"}),
    # nothing chosen
    ("", "B", False, None),
    ("I am not sure.", "B", False, None),
    ("A company's balance sheet lists assets and liabilities.", "B", False, None),
]


@pytest.mark.parametrize(("prediction", "reference", "expected", "choices"), CASES)
def test_choice(prediction: str, reference: str, expected: bool, choices: dict[str, str] | None) -> None:
    got = match_answer(prediction, reference, "choice", choices=choices)
    assert got.correct is expected, got


@pytest.mark.parametrize(("prediction", "reference", "expected", "choices"), CASES[:45])
def test_choice_after_chinese_thinking(
    prediction: str, reference: str, expected: bool, choices: dict[str, str] | None
) -> None:
    got = match_answer(r1_zh(prediction), reference, "choice", choices=choices)
    assert got.correct is expected, got


def test_thinking_box_ignored() -> None:
    got = match_answer(r1_zh("**答案：B**\n\n**解析：**\nA. 错误。\nB. 正确。\nC. 错误。\nD. 错误。"), "B", "choice")
    assert (got.extracted, got.rule, got.correct) == ("B", "answer_phrase", True)


def test_last_statement_wins_without_phrase() -> None:
    resp = "逐项分析：\nA项说法错误。\nB项说法错误。\nC项说法正确。\n因此本题的正确选项为C。"
    got = match_answer(resp, "C", "choice")
    assert got.correct is True


def test_letter_line_at_end() -> None:
    resp = "We compare the statements.\nOnly the cash flow statement shows operating cash.\n\n**C**"
    got = match_answer(resp, "C", "choice")
    assert (got.extracted, got.rule, got.correct) == ("C", "letter_line", True)


def test_option_list_in_analysis_is_not_an_answer() -> None:
    resp = "A. 利润表：不对\nB. 资产负债表：不对\nC. 现金流量表：也不对\nD. 所有者权益变动表：不对"
    assert match_answer(resp, "D", "choice").correct is False


def test_unparseable_reference_is_undecided() -> None:
    got = match_answer("\\boxed{B}", "see explanation", "choice")
    assert (got.extracted, got.correct) == ("B", None)


def test_reference_as_option_text() -> None:
    assert parse_reference_letters("经济管理关系", FIQ) == "B"
    assert parse_reference_letters("A, B, D", None) == "ABD"


def test_letters_at_start_units() -> None:
    valid = valid_letters(None)
    assert letters_at_start("Bearish", valid) is None
    assert letters_at_start("Deferred tax", valid) is None
    assert letters_at_start("A and C", valid) == "AC"
    assert letters_at_start("（B）", valid) == "B"
    assert letters_from_text("经济管理关系和市场管理关系", FIQ) is None  # two options named: ambiguous
