"""Parsing judge answers, majority votes and agreement statistics."""

from __future__ import annotations

import pytest

from finr1_core.judging import parse_criteria, parse_criteria_verdict, parse_verdict
from finr1_judge.prompts import CRITERIA, ROUND1_PROMPT, ROUND2_PROMPT, fill, reference_text, round1_messages
from finr1_judge.verdicts import agreement, criteria_names, majority, majority_criteria

ALL_GOOD = "\n".join(f"C{i}: 1" for i in range(1, 8)) + "\n\\boxed{1}"


def _round2(text: str, **kwargs):
    return parse_criteria_verdict(text, count=len(CRITERIA), **kwargs)


def test_criteria_lines_in_several_shapes():
    text = (
        "Let me check each criterion. C1 is about consistency: the steps follow.\n"
        "C1: 1\n**C2:** 0\n3. Steps: yes\nCriterion 4 - logic: 1\n- C5 = 1\nC6（领域）：是\nC7: 0\n\\boxed{0}"
    )
    parsed, conflict = parse_criteria(text)
    assert not conflict
    assert criteria_names(parsed) == dict(zip(CRITERIA, [True, False, True, True, True, True, False], strict=True))


def test_a_criterion_given_both_ways_is_unusable_and_numbers_in_prose_are_not_verdicts():
    assert parse_criteria("Step 2: 1.5 million in revenue\n3: 0.5 is the ratio\nC3: 1") == ({3: True}, False)
    hedged = ALL_GOOD.replace("C3: 1", "C3: 0\nC3: 1")
    assert _round2(hedged).score is None and _round2(hedged).problem == "both"


def test_round2_decision_rules():
    assert _round2(ALL_GOOD).score == 1
    six = ALL_GOOD.replace("C5: 1", "C5: 0").replace("\\boxed{1}", "\\boxed{0}")
    assert _round2(six).score == 0
    assert _round2(six, min_hold=6).score == 1
    missing = ALL_GOOD.replace("C7: 1\n", "")
    assert _round2(missing).score is None and _round2(missing).problem == "incomplete"  # asked again
    assert _round2(missing, decision="boxed").score == 1
    assert _round2("no verdicts at all").problem == "none"
    verdict = _round2(six, decision="boxed")
    assert verdict.score == 0 and criteria_names(verdict.criteria)["content_diversity"] is False
    # All seven hold on the lines, but the box says 0: the reply contradicts itself.
    assert _round2(ALL_GOOD.replace("\\boxed{1}", "\\boxed{0}")).problem == "both"


def test_the_judge_prompts_echoed_back_are_unusable():
    prompt1 = round1_messages("12.5%", "13%")[0]["content"]
    assert parse_verdict(prompt1, prompt1).problem == "echo"
    assert parse_verdict(prompt1).problem == "both"  # even without the prompt: \boxed{1} or \boxed{0}
    reasoning = "First, read the table.\nSecond, divide.\nSo the answer is \\boxed{1}."
    prompt2 = fill(
        ROUND2_PROMPT, {"task_domain": "finance", "question": "Q", "reasoning": reasoning, "reference": "1"}
    )
    assert _round2(prompt2, prompt=prompt2).problem == "echo"
    # A judge that quotes only the trace's own box does not get that box read as its verdict.
    assert _round2("So the answer is \\boxed{1}.", prompt=prompt2, decision="boxed").problem == "echo"
    assert _round2(ALL_GOOD, prompt=prompt2).score == 1


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
