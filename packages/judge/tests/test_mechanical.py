"""The deterministic mechanical checks: steps, repetition, term overlap."""

from __future__ import annotations

from finr1_judge.mechanical import (
    failed_checks,
    mechanical_checks,
    reference_terms,
    repeated_fraction,
    split_steps,
    term_overlap_ratio,
)

THREE_LINES = (
    "First, find revenue in the table.\nThen subtract the cost of sales.\nFinally divide by revenue to get margin."
)


def test_steps_are_lines_or_sentences_with_substance():
    assert len(split_steps(THREE_LINES)) == 3
    one_paragraph = "First find revenue in the table. Then subtract the cost of sales. Finally divide by revenue."
    assert len(split_steps(one_paragraph)) == 3
    assert len(split_steps("ok\nyes\nfine\n42")) == 0  # too short to be steps
    chinese = "首先从表中找到营业收入数据。\n然后减去营业成本得到毛利。\n最后用毛利除以营业收入得到毛利率。"
    assert len(split_steps(chinese)) == 3


def test_repetition_share():
    steps = ["Add the two numbers together.", "add the two numbers together!", "Then divide by two."]
    assert repeated_fraction(steps) == 1 / 3
    assert repeated_fraction([]) == 0.0


def test_term_overlap_uses_words_numbers_and_cjk_bigrams():
    assert reference_terms("The EBITDA margin is 1,234.50") >= {"ebitda", "margin", "#1234.5"}
    assert term_overlap_ratio("EBITDA margin", "we computed the ebitda margin") == 1.0
    assert term_overlap_ratio("EBITDA margin", "we computed revenue") == 0.0
    assert term_overlap_ratio("毛利率", "计算毛利率") == 1.0
    assert term_overlap_ratio("B", "anything") is None  # no terms in a bare letter


def test_mechanical_checks_apply_term_overlap_to_free_form_answers_only():
    good = mechanical_checks(
        reasoning=THREE_LINES, completion="margin 40%", reference="gross margin", answer_type="text"
    )
    assert good.steps == 3 and good.min_three_steps and good.content_diversity and good.term_overlap
    assert failed_checks(good) == []
    numeric = mechanical_checks(
        reasoning=THREE_LINES, completion="\\boxed{14.46%}", reference="0.14464", answer_type="numeric"
    )
    assert numeric.term_overlap is None and numeric.term_overlap_ratio is None
    looping = mechanical_checks(
        reasoning="\n".join(["Let me check the sum again now."] * 6),
        completion="x",
        reference="sum",
        answer_type="text",
    )
    assert looping.content_diversity is False and "content_diversity" in failed_checks(looping)
    short = mechanical_checks(
        reasoning="The answer is obviously B.", completion="B", reference="B", answer_type="choice"
    )
    assert short.min_three_steps is False and failed_checks(short) == ["min_three_steps"]
    empty = mechanical_checks(reasoning="", completion="B", reference="B", answer_type="choice")
    assert empty.steps == 0 and empty.min_three_steps is False
