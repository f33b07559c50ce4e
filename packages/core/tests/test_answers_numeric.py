"""Numeric matching: finance formats, percent/ratio, scales, signs and rounding (finr1_core.answers)."""

from __future__ import annotations

import pytest

from finr1_core.answers import DEFAULT_REL_TOL, match_answer
from finr1_core.answers.numeric import (
    chinese_numerals_to_arabic,
    compare_quantities,
    parse_numeric_span,
    parse_reference,
)

PCT_Q = "what percentage of total facilities as measured in square feet are leased?"
CHANGE_Q = "what is the net change in net revenue during 2015 for entergy corporation?"


def r1(answer: str, think_box: str = "\\boxed{99.99}") -> str:
    """A realistic R1-style output: long thinking with misleading numbers and a box, then the answer."""
    thinking = (
        "Okay, so I need to work this out from the table. Total facilities are 56.0 million square feet, "
        "the US has 32.8 and other countries 23.2. Owned: 47.9? Hmm, 1,200 vs 12 looks odd. "
        f"A first guess would be {think_box}, but let me recheck the subtraction 2015 - 2014 = 1. "
        + "Recomputing each step carefully to be sure nothing is off. "
        * 45
    )
    return f"<think>\n{thinking}\n</think>\n\n{answer}"


CASES: list[tuple[str, object, bool | None, str | None]] = [
    # (prediction, reference, expected, question)
    # --- percent versus ratio, reference precision ---
    ("\\boxed{34\\%}", 0.34461, False, None),  # 1.3% off: coarser than the 1% rounding cap
    ("\\boxed{34.46\\%}", 0.34461, True, None),
    ("\\boxed{34.5\\%}", 0.34461, True, None),
    ("\\boxed{35\\%}", 0.34461, False, None),
    ("\\boxed{0.3446}", 0.34461, True, None),
    ("\\boxed{0.34}", 0.34461, False, None),
    ("\\boxed{0.345}", 0.34461, True, None),
    ("\\boxed{0.3}", 0.34461, False, None),
    ("\\boxed{34.46}", 0.34461, True, PCT_Q),
    ("\\boxed{14.46}", 0.14464, False, None),  # no percent cue: no %, no question asking for one
    ("\\boxed{14.46}", 0.14464, True, PCT_Q),
    ("\\boxed{34.46}", "34%", False, None),  # symmetric: a coarse gold gets the same 1% cap
    ("\\boxed{34.2\\%}", "34%", True, None),
    ("\\boxed{34.6\\%}", "34%", False, None),
    ("\\boxed{9.96\\%}", "10%", True, None),
    ("\\boxed{9.4\\%}", "10%", False, None),
    ("\\boxed{0.0996}", "10%", True, None),
    ("\\boxed{68.9\\%}", 68.9, True, None),  # gold already in percent units
    ("\\boxed{0.14\\%}", 0.14464, False, None),  # 0.14 percent is not 14.46 percent
    ("\\boxed{159.17\\%}", 1.59172, True, None),
    ("\\boxed{1200}", 12, False, None),
    ("\\boxed{12}", 1200, False, None),
    ("\\boxed{1200}", 12, False, PCT_Q),
    ("\\boxed{1200\\%}", 12, True, None),
    ("\\boxed{12.5 \\text{ percent}}", 0.125, True, None),
    ("approximately 14.5%", 0.14464, True, None),
    ("\\boxed{14.45\\%}", 0.14464, True, None),  # intermediate rounding, within 1%
    ("\\boxed{14.3\\%}", 0.14464, False, None),
    ("\\boxed{0.1446}", "14.46%", True, None),
    ("\\boxed{25 \\text{ bps}}", 0.0025, True, None),
    ("增长了12.5%", 0.125, True, None),
    ("百分之十二", 0.12, True, None),  # Chinese numerals are read when the answer has no digits
    ("\\boxed{百分之12}", 0.12, True, None),
    ("\\boxed{2.5 \\text{ percentage points}}", 0.025, True, None),
    ("\\boxed{12.5\\%}", "12.5%", True, None),
    ("\\boxed{0.5\\%}", "50%", False, None),
    # --- thousands separators, LaTeX, currency ---
    ("\\boxed{53,\\!382,\\!250}", 53382250, True, None),
    ("\\boxed{53{,}382{,}250}", 53382250, True, None),
    ("\\boxed{53\\,382\\,250}", 53382250, True, None),
    ("\\boxed{1,234.5}", 1234.5, True, None),
    ("\\boxed{\\$1,234.5}", "1234.5", True, None),
    ("\\boxed{USD 1,234.5}", 1234.5, True, None),
    ("\\boxed{¥1,234.5元}", 1234.5, True, None),
    ("\\boxed{\\text{\\$}94 \\text{ million}}", 94.0, True, CHANGE_Q),
    ("\\boxed{１２３４}", 1234, True, None),
    ("\\boxed{1.2 \\times 10^{9}}", 1200000000, True, None),
    ("\\boxed{1.2e9}", 1200000000, True, None),
    ("\\boxed{3297.67}", 3297.66667, True, None),
    ("\\boxed{3,298}", 3297.66667, True, None),
    ("\\boxed{3,280}", 3297.66667, True, None),  # 0.5%: within the 1% tolerance
    ("\\boxed{3,260}", 3297.66667, False, None),  # 1.1%
    ("\\boxed{705}", 705.25, True, None),
    ("\\boxed{703}", 705.25, True, None),
    ("\\boxed{698}", 705.25, False, None),
    ("\\boxed{94.9}", 94.0, True, None),
    ("\\boxed{95}", 94.0, False, None),  # 1.05% of the larger
    ("\\boxed{94}", 94.0, True, None),
    ("\\boxed{0.00001}", 1e-05, True, None),
    ("\\boxed{0}", 1e-05, False, None),
    ("\\boxed{0}", 0, True, None),
    ("\\boxed{0.00}", 0.0, True, None),
    # --- fractions and expressions ---
    ("\\boxed{\\frac{1}{3}}", 0.33333, True, None),
    ("\\boxed{\\dfrac{2424}{7034}}", 0.34461, True, None),
    ("\\boxed{\\frac{8.1}{56.0} \\approx 14.46\\%}", 0.14464, True, None),
    ("\\boxed{8.1 / 56.0 = 0.1446}", 0.14464, True, None),
    ("\\boxed{(1500 - 1234) / 1234}", 0.21556, True, None),
    ("\\boxed{1500 - 1234}", 266, True, None),
    ("\\boxed{\\frac{1}{3}}", 0.5, False, None),
    # --- scale words on either side ---
    ("\\boxed{1.2 \\text{ billion}}", 1200000000, True, None),
    ("\\boxed{1.2 billion}", 1234567890, False, None),  # coarser prediction, 2.8% off: beyond the 1% cap
    ("\\boxed{1.23 billion}", 1234567890, True, None),  # coarser prediction within rounding and 1%
    ("\\boxed{1 billion}", 1300000000, False, None),
    ("\\boxed{1,200,000,000}", "1.2 billion", True, None),
    ("\\boxed{\\$1.2M}", 1200000, True, None),
    ("\\boxed{\\$500K}", 500000, True, None),
    ("\\boxed{\\$94 \\text{ million}}", 94.0, True, None),
    ("\\boxed{0.094 \\text{ billion}}", 94.0, True, None),
    ("\\boxed{94 \\text{ thousand}}", 94000, True, None),
    ("\\boxed{1.2亿元}", 120000000, True, None),
    ("\\boxed{12000万}", "1.2亿", True, None),
    ("\\boxed{1.2亿}", 12000, True, None),  # gold in 万
    ("\\boxed{3.5万元}", 35000, True, None),
    ("\\boxed{3.5万元}", 3500, False, None),
    ("\\boxed{12 thousand}", 1.2, True, None),  # 1.2 万: a unit above the written scale, exact
    ("\\boxed{12.3 thousand}", 1.2, False, None),  # ... and only exact, never by rounding
    ("净收入增加了9400万美元。", 94.0, True, None),  # 万 for a gold in millions
    ("\\boxed{1,234,500,000}", 1234.5, True, "what is the total amount ( in millions ) ?"),
    ("\\boxed{1,234,500,000}", 1234.5, True, None),  # full figure for a gold "in millions", exactly
    ("\\boxed{1,240,000,000}", 1234.5, False, None),  # ... but never by rounding
    ("\\boxed{123,450}", 1234.5, False, None),  # factor 100 is not a unit
    ("\\boxed{94,000,000}", 94.0, True, CHANGE_Q),
    # --- signs ---
    ("\\boxed{-35}", -35.0, True, CHANGE_Q),
    ("\\boxed{35}", -35.0, False, CHANGE_Q),
    ("\\boxed{-35}", 35.0, False, CHANGE_Q),
    ("\\boxed{(3.5)}", -3.5, True, None),
    ("\\boxed{(\\$3.5)}", -3.5, True, None),
    ("\\boxed{-3.2\\%}", "(3.2)%", True, None),
    ("\\boxed{(3.2)\\%}", -0.032, True, None),
    ("\\boxed{(3.2\\%)}", -0.032, True, None),
    ("\\boxed{−4.37\\%}", -0.04365, True, None),
    ("\\boxed{-\\$3.2 \\text{ million}}", -3.2, True, None),
    ("The net revenue decreased by $35 million.", -35.0, True, None),
    ("\\boxed{\\text{a decrease of } 4.37\\%}", -0.04365, True, None),
    ("\\boxed{\\text{an increase of } 4.37\\%}", -0.04365, False, None),
    ("\\boxed{-4.4\\%}", 0.04365, True, "by what percent did revenue decline from 2013 to 2014?"),
    ("净利润下降了4.37%", -0.04365, True, None),
    ("\\boxed{negative 3}", -3, True, None),
    ("\\boxed{2014 - 2015}", -1, True, None),  # a pure expression, evaluated
    # --- which number in a span ---
    ("\\boxed{\\$266 \\text{ million} (21.6\\%)}", 266, True, "what was the change in revenue?"),
    ("\\boxed{\\$266 \\text{ million} (21.6\\%)}", 0.21556, True, "what was the percentage change in revenue?"),
    ("\\boxed{0.3446 \\text{ (or } 34.46\\%)}", 0.34461, True, None),
    ("\\boxed{12 \\text{ or } 15}", 12, False, None),
    ("\\boxed{12或15}", 15, False, None),
    ("The answer is 14.46%, computed as 8.1 / 56.0.", 0.14464, True, None),
    ("In 2015 the change was -35.", -35.0, True, None),
    ("\\boxed{2015}", 2015, True, "in which year was revenue highest?"),
    ("The S&P 500 returned 12% while the company returned 18%.\n\\boxed{6\\%}", 0.06, True, None),
    ("\\boxed{Q3: 12.5\\%}", 0.125, True, None),
    ("\\boxed{1.5x}", 1.5, True, None),
    ("增长率为-4.37%。", -0.04365, True, None),  # minus right after Chinese text
    ("\\boxed{-4.37\\% \\text{ to } -4.57\\%}", -0.04365, False, None),  # a range
    ("\\boxed{1.5\\%}", 1.5, False, "该股票的市盈率是多少？"),  # P/E is a multiple, not a percent
    ("\\boxed{15.2\\%}", 15.2, True, "what is the percent change in revenue?"),
    ("The answer is 14.46%.\n\nWait, actually it is 85.54%.", 0.14464, False, None),  # the correction wins
    (
        "Total rental expense increased from $100.5 million to $107.3 million, an increase of $6.8 million or 6.77%.",
        0.06757,
        True,
        "what was the percentage change in total rental expense?",
    ),
    (
        "Total rental expense increased from $100.5 million to $107.3 million, an increase of $6.8 million.",
        6.8,
        True,
        "what was the change in total rental expense?",
    ),
    # --- empty / non-numeric / undecidable ---
    ("", 5, False, None),
    ("   ", 5, False, None),
    ("\\boxed{Yes}", 5, False, None),
    ("\\boxed{5}", "N/A", None, None),
    ("\\boxed{5}", None, None, None),
    ("\\boxed{5}", float("nan"), None, None),
]


@pytest.mark.parametrize(("prediction", "reference", "expected", "question"), CASES)
def test_numeric_bare(prediction: str, reference: object, expected: bool | None, question: str | None) -> None:
    got = match_answer(prediction, reference, "numeric", question=question)  # type: ignore[arg-type]
    assert got.correct is expected, got


@pytest.mark.parametrize(("prediction", "reference", "expected", "question"), CASES[:60])
def test_numeric_inside_r1_output(prediction: str, reference: object, expected: bool, question: str | None) -> None:
    """The same answers after a long think block with a misleading box must grade the same."""
    got = match_answer(
        r1(f"Working through the table.\n\n**Final Answer**\n{prediction}"), reference, "numeric", question=question
    )  # type: ignore[arg-type]
    assert got.correct is expected, got


CHINESE_CASES: list[tuple[str, object, bool]] = [
    # (prediction with no Arabic digits, reference, expected)
    ("百分之十二", 0.12, True),
    ("百分之十四点四六", 0.14464, True),
    ("十二点五", 12.5, True),
    ("三千五百万元", 35_000_000, True),
    ("一亿二千万", 120_000_000, True),
    ("负百分之三点二", "-3.2%", True),
    ("两百", 200, True),
    ("零点五", 0.5, True),
    ("百分之五十", 0.5, True),
    ("\\boxed{十二点五}", 12.5, True),
    ("答案是百分之十四点四六。", "14.46%", True),
    ("营业收入为三千五百万元", 35_000_000, True),
    ("一千零五", 1005, True),
    ("三千五", 3500, True),
    ("增长了二十个百分点", "20%", True),
    # near misses stay wrong
    ("百分之十三", 0.12, False),
    ("百分之十四点四", 0.12, False),
    ("百分之三点二", "-3.2%", False),
    ("十二点五", 125, False),
    ("三千五百万元", 3_500_000, False),
    ("两百", 2000, False),
    ("百分之五", 0.5, False),
    # Chinese words with numeral characters are not numbers
    ("无法确定，需要进一步分析", 1, False),
    ("这一点十分重要", 10, False),
    ("千万不要忽视风险", 10_000_000, False),
    ("第一季度表现最好", 1, False),
    ("统一口径后无变化", 1, False),
]


@pytest.mark.parametrize(("prediction", "reference", "expected"), CHINESE_CASES)
def test_chinese_numerals(prediction: str, reference: object, expected: bool) -> None:
    got = match_answer(prediction, reference, "numeric")  # type: ignore[arg-type]
    assert got.correct is expected, got
    inside = match_answer(r1(f"**最终答案**\n{prediction}"), reference, "numeric")  # type: ignore[arg-type]
    assert inside.correct is expected, inside


def test_chinese_numerals_only_without_arabic_digits() -> None:
    # with digits anywhere in the answer, the digits decide, as before
    got = match_answer("百分之十二，即0.13", 0.12, "numeric")
    assert (got.correct, got.extracted) == (False, "0.13")
    assert match_answer("\\boxed{百分之12}", 0.12, "numeric").correct is True


@pytest.mark.parametrize(
    ("text", "converted"),
    [
        ("负百分之三点二", "负3.2%"),
        ("三千五百万元", "3500万元"),
        ("一亿二千万", "12000万"),
        ("一万五", "15000"),
        ("三点五亿", "3.5亿"),
        ("百分之百", "100%"),
        ("进一步分析", "进一步分析"),
        ("十分重要", "十分重要"),
        ("千万不要", "千万不要"),
        ("第一", "第一"),
        ("万一", "万一"),
        ("十二五规划", "十二五规划"),
    ],
)
def test_chinese_numerals_to_arabic(text: str, converted: str) -> None:
    assert chinese_numerals_to_arabic(text) == converted


def test_box_in_thinking_is_ignored_even_when_it_is_right() -> None:
    got = match_answer(r1("So the share is about 20%.", think_box="\\boxed{14.46\\%}"), 0.14464, "numeric")
    assert got.correct is False
    assert got.extracted == "20%"


def test_truncated_thinking_is_wrong() -> None:
    assert match_answer("<think>\n8.1/56 = 14.46% so \\boxed{14.46\\%}", 0.14464, "numeric").correct is False


def test_answer_block_with_latex() -> None:
    resp = (
        "<think>\nlet me compute 2,424 / 7,034 ...\n</think>\n<answer>\nCapital expenditures for cable "
        "distribution were 2,424 of 7,034, i.e. \\(\\frac{2424}{7034} \\approx 0.3446\\).\n\n"
        "Final Answer: $\\boxed{34.46\\%}$\n</answer>"
    )
    got = match_answer(resp, 0.34461, "numeric", question="what was the percentage of capex?")
    assert (got.extracted, got.rule, got.correct) == ("34.46%", "boxed", True)


def test_no_box_uses_last_line_with_a_number() -> None:
    resp = r1(
        "Leased space is 8.1 million square feet out of 56.0.\n\nTherefore about 14.46% is leased.\n\nNote: all in 2015."
    )
    got = match_answer(resp, 0.14464, "numeric", question=PCT_Q)
    assert (got.extracted, got.rule, got.correct) == ("14.46%", "last_number", True)


def test_rel_tol_is_configurable() -> None:
    assert match_answer("\\boxed{3,260}", 3297.66667, "numeric").correct is False
    assert match_answer("\\boxed{3,260}", 3297.66667, "numeric", rel_tol=0.02).correct is True
    assert match_answer("\\boxed{14.45\\%}", 0.14464, "numeric", rel_tol=0.0).correct is False
    assert DEFAULT_REL_TOL == 0.01


def test_yes_no_gold_with_numeric_type_is_read_as_boolean() -> None:
    assert match_answer("\\boxed{Yes}", "yes", "numeric").correct is True
    assert match_answer("\\boxed{no}", "yes", "numeric").correct is False


def test_extracted_keeps_sign_and_unit() -> None:
    assert match_answer("\\boxed{(3.5)}", -3.5, "numeric").extracted == "(3.5)"
    assert match_answer("\\boxed{-\\$3.2 \\text{ million}}", -3.2, "numeric").extracted == "-3.2 million"


def test_parse_numeric_span_drops_years_and_keeps_order() -> None:
    span = parse_numeric_span("from 1,234 in 2014 to 1,500 in 2015")
    assert [q.value for q in span.quantities] == [1234.0, 1500.0]
    assert parse_numeric_span("2015").quantities[0].year_like


def test_parse_reference_precision() -> None:
    assert parse_reference(0.14464).ulp == 0.0  # type: ignore[union-attr]
    ref = parse_reference("34%")
    assert ref is not None and ref.percent and ref.ulp == 1.0
    assert parse_reference("about") is None
    assert parse_reference(True) is None


def test_compare_reasons() -> None:
    ref = parse_reference(0.34461)
    assert ref is not None
    assert compare_quantities(parse_numeric_span("34.5%").quantities[0], ref) == "percent_as_ratio:within_rel_tol"
    assert compare_quantities(parse_numeric_span("2").quantities[0], parse_reference(1.98)) == "plain:within_rel_tol"
    assert compare_quantities(parse_numeric_span("35%").quantities[0], ref) is None
