"""Parsing judge answers, majority votes and agreement statistics."""

from __future__ import annotations

import pytest

from finr1_judge.prompts import CRITERIA, ROUND1_PROMPT, ROUND2_PROMPT, fill, reference_text, round1_messages
from finr1_judge.verdicts import (
    agreement,
    decide_round2,
    majority,
    majority_criteria,
    parse_boxed_verdict,
    parse_criteria,
)


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("\\boxed{1}", 1),
        ("\\boxed{0}", 0),
        ("The answers agree.\n\\boxed{ 1 }", 1),
        ("First I thought \\boxed{1} but no: \\boxed{0}", 0),  # the last box wins
        ("boxed{1}", 1),  # a lost backslash still counts
        ("\\boxed{0.5}", None),
        ("\\boxed{yes}", None),
        ("1", None),
        ("The answer is correct.", None),
        ("", None),
        (None, None),
        ("\\boxed{1} and finally \\boxed{2}", None),
    ],
)
def test_boxed_verdicts_are_1_0_or_unusable(text, verdict):
    assert parse_boxed_verdict(text) == verdict


ALL_GOOD = "\n".join(f"C{i}: 1" for i in range(1, 8)) + "\n\\boxed{1}"


def test_criteria_lines_in_several_shapes():
    text = (
        "Let me check each criterion. C1 is about consistency: the steps follow.\n"
        "C1: 1\n**C2:** 0\n3. Steps: yes\nCriterion 4 - logic: 1\n- C5 = 1\nC6（领域）：是\nC7: 0\n\\boxed{0}"
    )
    parsed = parse_criteria(text)
    assert parsed == dict(zip(CRITERIA, [True, False, True, True, True, True, False], strict=True))


def test_later_criterion_lines_win_and_numbers_in_prose_are_not_verdicts():
    text = "C3: 0\nStep 2: 1.5 million in revenue\n3: 0.5 is the ratio\nC3: 1"
    assert parse_criteria(text) == {"min_three_steps": True}


def test_round2_decision_rules():
    assert decide_round2(ALL_GOOD).score == 1
    six = ALL_GOOD.replace("C5: 1", "C5: 0")
    assert decide_round2(six).score == 0
    assert decide_round2(six, min_criteria=6).score == 1
    missing = ALL_GOOD.replace("C7: 1\n", "")
    assert decide_round2(missing).score is None  # six parsed: unusable, asked again
    assert decide_round2(missing, decision="boxed").score == 1
    assert decide_round2("no verdicts at all").score is None
    verdict = decide_round2(six, decision="boxed")
    assert verdict.score == 1 and verdict.criteria["content_diversity"] is False


def test_majority_ignores_unusable_votes_and_ties_are_null():
    assert majority([1, 1, 0]) == 1
    assert majority([0, None, 0, 1]) == 0
    assert majority([1, 0]) is None
    assert majority([None, None]) is None
    assert majority([]) is None
    crit = majority_criteria(
        [{"term_overlap": True}, {"term_overlap": False}, {"term_overlap": True, "min_three_steps": False}]
    )
    assert crit["term_overlap"] is True and crit["min_three_steps"] is False and crit["domain_relevance"] is None


def test_agreement_and_cohens_kappa():
    # 50 pairs: p_o = 35/50 = 0.7; rater a says 1 in 25/50, b in 30/50 -> p_e = 0.3 + 0.2 = 0.5; kappa = 0.4.
    pairs = [(1, 1)] * 20 + [(1, 0)] * 5 + [(0, 1)] * 10 + [(0, 0)] * 15
    percent, kappa = agreement(pairs)
    assert percent == pytest.approx(70.0) and kappa == pytest.approx(0.4)
    assert agreement([]) == (None, None)
    assert agreement([(1, 1), (1, 1)]) == (100.0, 1.0)  # one label only: kappa undefined, reported as 1
    assert agreement([(1, 0), (1, 0)]) == (0.0, 0.0)  # p_e = 0: total disagreement is kappa 0


def test_round1_prompt_puts_rules_first_and_has_no_question_slot():
    text = round1_messages("0.14464", "14.46%")[0]["content"]
    assert text.index("Rules:") < text.index("Correct answer:\n0.14464") < text.index("Answer to be scored:\n14.46%")
    assert "\\boxed{1}" in text and "{" + "question}" not in ROUND1_PROMPT
    # Braces in values never reach the template machinery.
    assert fill("{reference} / {answer}", {"reference": "{answer}", "answer": "x"}) == "{answer} / x"


def test_round2_prompt_fills_the_domain_twice_and_lists_seven_criteria():
    text = fill(ROUND2_PROMPT, {"task_domain": "DOMAIN-X", "question": "Q", "reasoning": "R", "reference": "A"})
    assert text.count("DOMAIN-X") == 2 and all(f"C{i}." in text for i in range(1, 8))


def test_reference_text_names_options_and_labels():
    from finr1_core.schemas import DistilledRow

    base = {
        "source": "s",
        "category": "professional_knowledge",
        "language": "zh",
        "teacher": "t",
        "messages": [{"role": "user", "content": "q"}],
    }
    choice = DistilledRow(
        id="s/1", reference="B", answer_type="choice", choices={"A": "银行贷款", "B": "发行债券"}, **base
    )
    assert reference_text(choice) == "B. 发行债券"
    multi = choice.model_copy(update={"reference": "AB"})
    assert reference_text(multi) == "A. 银行贷款; B. 发行债券"
    label = DistilledRow(id="s/2", reference="0", answer_type="label", labels={"0": ["0", "Bearish"]}, **base)
    assert reference_text(label) == "0 (Bearish)"
