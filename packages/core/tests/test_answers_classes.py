"""The answer classes of issue 13, each a general rule with its near misses (finr1_core.answers).

Structured answers, sign and direction words, the symmetric precision rule, cut-off thinking, choice answers
with text, multi-letter and Chinese exam answers, label outputs with numbers, several numbers in a short answer,
the percent cue for ×100, and the leniencies found against the real FinQA/ConvFinQA golds.
"""

from __future__ import annotations

import pytest

from finr1_core.answers import match_answer
from finr1_core.answers.extract import json_answer

THINK = "<think>\nThe table gives 120 for 2019 and 100 for 2018; maybe the answer is 7 or option D.\n</think>\n\n"
TFNS = {"0": ["bearish", "negative"], "1": ["bullish", "positive"], "2": ["neutral"]}
RATES = {"A": "9.50%", "B": "10.25%", "C": "11.00%", "D": "12.75%"}
CHANGE_Q = "what was the change in the number of films from 2018 to 2019?"


def numeric(pred: str, gold: object, question: str | None = None) -> bool | None:
    return match_answer(pred, gold, "numeric", question=question).correct  # type: ignore[arg-type]


def choice(pred: str, gold: str, choices: dict[str, str] | None = None) -> bool | None:
    return match_answer(pred, gold, "choice", choices=choices).correct


def boolean(pred: str, gold: str) -> bool | None:
    return match_answer(pred, gold, "boolean").correct


# --- structured (JSON) answers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        # the committed answer is the "answer" field, not the last number of the reasoning
        ('{"answer": -3, "reasoning": "10 films in 2019, 13 in 2018: 10 - 13 = -3, not 13"}', -3, True),
        ('{"reasoning": "10 films in 2019 and 13 in 2018, so 10 - 13", "answer": -3}', -3, True),
        ('{"reasoning": "10 in 2019 vs 13 in 2018", "answer": 13}', -3, False),
        # in a fenced block after some prose
        (
            'Here is the result.\n```json\n{\n  "reasoning": "sum of the segments",\n  "answer": 42.5\n}\n```',
            42.5,
            True,
        ),
        # not valid JSON: a thousands separator in a bare number
        ('{"answer": 13,237.4, "reasoning": "6,000.2 + 7,237.2"}', 13237.4, True),
        ('{"answer": 13,237.4, "reasoning": "6,000.2 + 7,237.2"}', 6000.2, False),
        # single quotes (a Python dict printed as text)
        ("{'answer': '-3', 'reasoning': 'fell from 13 to 10'}", -3, True),
        # the answer written as a sentence, read by the numeric rules (direction word included)
        ('{"reasoning": "13 films in 2018, 10 in 2019", "answer": "There was a decrease of 3 films"}', -3, True),
        ('{"reasoning": "13 films in 2018, 10 in 2019", "answer": "There was a decrease of 3 films"}', 3, False),
        ('{"final_answer": "20", "answer_explanation": "120 - 100"}', 20, True),
        # an explicit null commits to nothing, whatever the reasoning says
        ('{"answer": null, "reasoning": "the change is probably 20"}', 20, False),
        ('{"answer": "", "reasoning": "20"}', 20, False),
    ],
)
def test_structured_numeric_answers(pred: str, gold: float, expected: bool) -> None:
    assert numeric(pred, gold, CHANGE_Q) is expected


def test_structured_answers_of_other_types() -> None:
    assert choice('{"answer": "B", "reasoning": "Option A ignores compounding; C and D are too high."}', "B") is True
    assert choice('{"answer": "B", "reasoning": "Option A ignores compounding."}', "A") is False
    assert choice('{"answer": ["A", "C"], "reasoning": "both hold"}', "AC") is True
    assert boolean('{"answer": "no", "reasoning": "yes, revenue rose, but margins fell"}', "no") is True
    assert boolean('{"answer": false}', "no") is True
    got = match_answer(
        '{"sentiment": "negative", "reasoning": "positive start, then a guidance cut"}', "0", "label", labels=TFNS
    )
    assert got.correct is True


def test_json_answer_is_only_read_from_an_object() -> None:
    assert json_answer('The "answer": 5 is in the text') is None
    assert json_answer('{"reasoning": "x", "answer": "B"}') == "B"
    assert json_answer('{"answer": null}') == ""


# --- sign and direction in words --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("There was a decrease of 3.", -3, True),
        ("There was a decrease of 3.", 3, False),
        ("Revenue fell by 5.2%.", -0.052, True),
        ("Revenue fell by 5.2%.", 0.052, False),
        ("营业收入下降了3%", -0.03, True),
        ("营业收入下降了3%", 0.03, False),
        ("净利润同比减少了1.2亿元", -1.2e8, True),
        ("Net income was 5% lower than last year.", -0.05, True),
        ("Net income was 5% lower than last year.", 0.05, False),
        ("an increase of 3", 3, True),
        ("an increase of 3", -3, False),
        # the direction belongs to the number's own clause
        ("Costs decreased, but revenue rose by 3.", 3, True),
        ("Costs decreased, but revenue rose by 3.", -3, False),
        # a negative number with a fall word is not negated twice
        ("The change was a decrease of -3.", -3, True),
        # "net loss", "impairment" (减值) and "minus" (减去) state no direction
        ("The net loss was 12.3 million.", 12.3, True),
        ("资产减值损失为3万元", 30000, True),
    ],
)
def test_direction_words_state_the_sign(pred: str, gold: float, expected: bool) -> None:
    assert numeric(pred, gold, "what was the change in revenue?") is expected


def test_a_question_about_a_fall_takes_its_size() -> None:
    q = "by how much did the number of films decrease from 2018 to 2019?"
    assert numeric("There was a decrease of 3.", 3, q) is True  # the size of the fall
    assert numeric("There was a decrease of 3.", -3, q) is True  # FinQA's new - old
    assert numeric("There was an increase of 3.", -3, q) is False
    assert numeric("\\boxed{-3}", 3, q) is True


def test_direction_words_around_a_box() -> None:
    q = "what was the change in revenue?"
    assert numeric(THINK + "Revenue decreased by \\boxed{3}.", -3, q) is True
    assert numeric(THINK + "Revenue decreased by \\boxed{3}.", 3, q) is False
    assert numeric(THINK + "Revenue was \\boxed{3\\%} lower.", -0.03, q) is True
    assert numeric(THINK + "It fell last year; this year the change is \\boxed{3}.", 3, q) is True


# --- the symmetric precision rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("2", 1.98, True),  # 1% of the larger number: the Fin-R1 judge prompt's own example
        ("25", 25.3, False),  # 1.2%: a coarse prediction is a different number
        ("25.3", "25", False),  # ... and so is a precise prediction against a coarse gold (symmetric)
        ("25.2", "25", True),  # 0.8%: within the tolerance on either side
        ("25", "25.2", True),
        ("14.5%", 0.14464, True),
        ("14%", 0.14464, False),  # 3.2%
        ("0.1", 0.14464, False),
        ("10%", 0.0996, True),  # 0.4%
        ("16.6%", 0.165, True),  # 0.6%: the drift of intermediate rounding
        ("1.645", 1.65, True),
        ("2.6", "3", False),  # a gold of 3.0 is not 3 ± 0.5, however it is written
        ("2.6", "3.00000", False),
        ("2.98", "3.00000", True),  # 0.67%
        ("3", "3.00000", True),
    ],
)
def test_precision_rule_is_symmetric(pred: str, gold: object, expected: bool) -> None:
    assert numeric(pred, gold) is expected


def test_precision_rule_does_not_depend_on_which_side_is_coarse() -> None:
    pairs = [("2.6", "3"), ("25", "25.3"), ("3", "2.97"), ("34", "34.46"), ("1.98", "2"), ("0.1", "0.0996")]
    for a, b in pairs:
        assert numeric(a, b) == numeric(b, a), (a, b)


@pytest.mark.parametrize(
    ("question", "pred", "gold", "expected"),
    [
        ("What is the ROA? Round your answer to two decimal places.", "0.0131", 0.01, True),
        ("What is the ROA? Round your answer to two decimal places.", "0.0151", 0.01, False),
        ("What is the ROA? Round your answer to two decimal places.", "1.31%", 0.01, True),
        ("What is the ROA?", "0.0131", 0.01, False),  # no stated precision: 31% apart
        ("What is the margin (to one decimal place)?", "16.64", 16.6, True),
        ("净利润率是多少？保留两位小数。", "0.134", 0.13, True),
        ("Round to the nearest whole number.", "3.4", 3, True),
        # only a gold written at the stated precision is that coarse
        ("What is the ROA? Round your answer to two decimal places.", "0.135", 0.1446, False),
    ],
)
def test_a_precision_stated_by_the_question_makes_the_gold_that_coarse(
    question: str, pred: str, gold: float, expected: bool
) -> None:
    assert numeric(pred, gold, question) is expected


# --- cut-off and unclosed thinking ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "gold", "kind"),
    [
        ("<think>\nThe table says 20. So the answer is \\boxed{20}, let me double-check the", "20", "numeric"),
        ("<think>\nOption B looks right. The answer is B because", "B", "choice"),
        ("<think>\nThe tweet is bullish, so the sentiment is", "1", "label"),
        ("<think>\nYes, revenue grew. Answer: yes, since", "yes", "boolean"),
        ('<think>\n{"answer": "B"} is what I will write', "B", "choice"),
    ],
)
def test_thinking_that_never_closes_commits_to_nothing(pred: str, gold: str, kind: str) -> None:
    got = match_answer(pred, gold, kind, labels=TFNS if kind == "label" else None)
    assert (got.correct, got.rule) == (False, "unclosed_think")


def test_junk_before_think_is_ignored() -> None:
    for junk in ("<|im_start|>assistant\n", "ANSWER<think>", "\ufeff  ", "<｜Assistant｜>"):
        pred = junk + "<think>\nmaybe A or 7\n</think>\n\nThe answer is \\boxed{B}."
        assert choice(pred, "B") is True, junk
    assert numeric("garbage ### <think>\nperhaps 12\n</think>\n\\boxed{15}", 15) is True
    assert numeric("garbage ### <think>\nperhaps 12\n</think>\n\\boxed{15}", 12) is False


def test_a_complete_answer_block_after_an_unclosed_think_still_counts() -> None:
    assert choice("<think>\nA or B?\n<answer>\nB\n</answer>", "B") is True


# --- choice answers with text, several letters, Chinese exam formats -------------------------------------------


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("**Answer**: A: 9.50%", "A", True),
        ("**Answer**: A: 9.50%\n\nRationale: B (10.25%) applies only with annual compounding.", "A", True),
        ("ANSWER: A\nConfidence: 95%", "A", True),
        ("ANSWER: C\nConfidence: 80%\nExplanation: A is the nominal rate; B ignores fees.", "C", True),
        ("The correct answer is B. Unlike option D, which assumes 12.75%, B uses the effective rate.", "B", True),
        ("Final Answer: (B) 10.25%", "B", True),
        ("The answer is: **C. 11.00%**", "C", True),
        ("I choose option B.", "B", True),
        ("Answer: B\n\nNote: if the question meant annual compounding, the answer would be C.", "B", True),
        ("Answer: B\n\nNote: if the question meant annual compounding, the answer would be C.", "C", False),
    ],
)
def test_choice_answers_with_text(pred: str, gold: str, expected: bool) -> None:
    assert choice(pred, gold, RATES) is expected


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("AC", "AC", True),
        ("A、C", "AC", True),
        ("A and C", "A,C", True),
        ("The answers are A and C.", "A, C", True),
        ("\\boxed{A, C}", "AC", True),
        ("AC", '["A", "C"]', True),  # a gold written as a list
        ("ACD", "AC", False),
        ("A", "AC", False),
        ("AC", "A", False),  # two letters for a single-answer item
    ],
)
def test_multi_letter_answers_against_multi_letter_golds(pred: str, gold: str, expected: bool) -> None:
    assert choice(pred, gold) is expected


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("答案：B", "B", True),
        ("答案：B。解析：A项错误，C项与题意不符。", "B", True),
        ("正确答案是 A、D", "AD", True),
        ("正确答案是A和D。B、C均错误。", "AD", True),
        ("选B", "B", True),
        ("本题选B，A选项说法错误。", "B", True),
        ("【答案】AD", "AD", True),
        ("答：A C", "AC", True),
        ("答案：B", "C", False),
    ],
)
def test_chinese_exam_formats(pred: str, gold: str, expected: bool) -> None:
    assert choice(pred, gold) is expected


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("正确", "正确", True),
        ("错误", "正确", False),
        ("答案：错误", "错误", True),
        ("该说法错误。", "错误", True),
        ("判断：正确", "是", True),
        ("答案：正确。理由：题中的不正确做法已被排除。", "正确", True),
        ("√", "正确", True),
        ("×", "错误", True),
        ("不合规", "否", True),
    ],
)
def test_correct_wrong_judgments(pred: str, gold: str, expected: bool) -> None:
    assert boolean(pred, gold) is expected


# --- label outputs with numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("0 neutral", "2", True),  # FinMA-style: the name counts, the number does not
        ("0 neutral", "0", False),
        ("4 negative", "0", True),
        ("1 positive", "1", True),
        ("2 (bullish)", "1", True),
        ("14.7", "1", False),  # a bare number that is not a label
        ("1", "1", True),  # a bare id still counts alone
        ("Answer: 2", "2", True),
    ],
)
def test_label_outputs_with_numbers(pred: str, gold: str, expected: bool) -> None:
    assert match_answer(pred, gold, "label", labels=TFNS).correct is expected


# --- several numbers in a short answer --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("2019 revenue 120, 2018 revenue 100; the change is 20.", 20, True),
        ("2019 revenue 120, 2018 revenue 100; the change is 20.", 120, False),
        ("Revenue was 120 in 2019 and 100 in 2018, so the change was 20.", 20, True),
        ("The answer is 20 (computed as 120 - 100).", 20, True),
        ("20 (120 - 100)", 20, True),
        ("The ratio is 1.5, which is higher than 1.2.", 1.5, True),
        ("The ratio is 1.5, which is higher than 1.2.", 1.2, False),
        ("12 or maybe 15", 12, False),
        ("12 or maybe 15", 15, False),
        ("12, or possibly 15", 12, False),
        ("12或者可能是15", 12, False),
        ("Between 14.4% and 14.5%.", 0.14464, False),  # two values, though within 1% of each other
        ("0.34 (34%)", 0.34, True),  # a restatement is not a hedge
        ("净利润为20万元，上年为15万元", 200000, True),
    ],
)
def test_the_committed_number_of_a_short_answer(pred: str, gold: float, expected: bool) -> None:
    assert numeric(pred, gold) is expected


# --- ×100 only with a percent cue -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "gold", "question", "expected"),
    [
        ("\\boxed{7.323}", 0.07323, None, False),  # no % anywhere and no question asking for one
        ("\\boxed{7.323}", 0.07323, "what was the change in the ratio of debt to equity?", True),  # asks a ratio
        ("\\boxed{7.323}", 0.07323, "what was the total amount of debt?", False),
        ("\\boxed{7.323\\%}", 0.07323, "what was the total amount of debt?", True),  # the % is the cue
        ("\\boxed{14.46}", 0.14464, "what percentage of facilities are leased?", True),
        ("\\boxed{0.1446}", "14.46%", None, True),  # the gold's % is the cue
    ],
)
def test_times_100_needs_a_percent_cue(pred: str, gold: object, question: str | None, expected: bool) -> None:
    assert numeric(pred, gold, question) is expected


# --- yes/no answered by restating the question's proposition (long-form answers) --------------------------------


def yes_no(pred: str, gold: str, question: str) -> bool | None:
    return match_answer(pred, gold, "boolean", question=question).correct


@pytest.mark.parametrize(
    ("question", "answer", "verdict"),
    [
        (
            "Is Acme a capital-intensive business based on FY2022 data?",
            "Capex was 12% of revenue.\n\nIn conclusion, Acme is a capital-intensive business, although less so "
            "than its peers.",
            "yes",
        ),
        (
            "Is Acme a capital-intensive business based on FY2022 data?",
            "Capex was 2% of revenue.\n\nIn summary, Acme is not a capital-intensive business.",
            "no",
        ),
        (
            "Did Acme pay dividends to common shareholders in Q2 of FY2022?",
            "Based on the filing, Acme paid dividends to common shareholders in Q2 of FY2022: $0.55 per share.",
            "yes",
        ),
        (
            "Are Acme's FY2022 financials that of a high growth company?",
            "In summary, the financials reflect modest growth rather than the expansion of a high-growth company.",
            "no",
        ),
        (
            "Were there any board nominees who had substantially more votes against than the other nominees?",
            "There do not appear to be any board nominees with substantially more votes against them.",
            "no",
        ),
        (
            "Does Acme have positive working capital based on FY2022 data?",
            "So in summary, Acme has negative working capital, which is usual for a utility.",
            "no",
        ),
        (
            "Was Acme able to retain card members during 2022?",
            "In summary, Acme was not only able to retain card members but also grew its base.",
            "yes",
        ),
        (
            "Is growth in Acme's adjusted EPS expected to accelerate in FY2023?",
            "Guidance implies 3.5% after 3.6%. There is no indication that growth is expected to accelerate.",
            "no",
        ),
    ],
)
def test_a_long_answer_restating_the_proposition(question: str, answer: str, verdict: str) -> None:
    assert yes_no(answer, verdict, question) is True
    assert yes_no(answer, "no" if verdict == "yes" else "yes", question) is False


def test_an_answer_about_something_else_commits_to_nothing() -> None:
    q = "Did Acme grow its PPNE between FY20 and FY21?"
    off_topic = "In summary, Acme's effective tax rate increased in 2021 compared to 2020."
    assert match_answer(off_topic, "yes", "boolean", question=q).correct is False  # not read as "grew"
    assert yes_no("In summary, Acme's PPNE increased from $13.7bn to $14.9bn.", "yes", q) is True
    assert yes_no("Acme has decreased its total debt by $2.5bn.", "no", "Has Acme increased its debt?") is True
    # a qualifying exception is not a negation: "no other …"
    q2 = "Has Acme reported any materially important ongoing legal battles from 2022?"
    answer = "In summary, the only material legal battle is the opioid litigation. It does not report any other."
    assert yes_no(answer, "yes", q2) is True


def test_hyphenated_words_are_not_verdicts() -> None:
    assert boolean("- Restoration True-Up Contributions are credited to the account.", "yes") is False
    assert boolean("True", "yes") is True
