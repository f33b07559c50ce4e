"""Final-answer extraction: region, boxes, phrases, fallbacks (finr1_core.answers)."""

from __future__ import annotations

import pytest

from finr1_core.answers import Extraction, answer_region, extract_answer
from finr1_core.answers.extract import boxed_contents, phrase_tails

MISLEADING_THINK = (
    "<think>\nOkay, let me look at the table. Revenue was 1,234 in 2014 and 1,500 in 2015. "
    "Maybe the answer is 21.6%? Wait, that uses the wrong row. Let me try \\boxed{99.9} as a guess... "
    "No. Final answer: 42. Hmm, the question asks for the leased share: 8.1 / 56.0 = 0.1446.\n"
    + "Let me double-check every figure in the table once more. " * 40
    + "\n</think>\n\n"
)


@pytest.mark.parametrize(
    ("response", "region", "how"),
    [
        ("<think>a</think>\nB", "B", "after_think"),
        ("<think>\nx\n</think>\n<answer>\n\\boxed{3}\n</answer>", "\\boxed{3}", "answer_block"),
        ("<answer>7</answer>", "7", "answer_block"),
        ("reasoning without a start tag</think>final 5", "final 5", "after_think"),
        ("<think>\nstill thinking, \\boxed{12}", "", "unclosed_think"),
        ("<think>x</think><answer>truncated 5", "truncated 5", "answer_block"),
        ("plain answer 5", "plain answer 5", "whole"),
        ("", "", "whole"),
    ],
)
def test_answer_region(response: str, region: str, how: str) -> None:
    assert answer_region(response) == (region, how)


def test_answer_region_none_is_empty() -> None:
    assert answer_region(None) == ("", "whole")


@pytest.mark.parametrize(
    ("text", "boxes"),
    [
        ("\\boxed{5}", ["5"]),
        ("\\(\\boxed{14.46\\%}\\)", ["14.46\\%"]),
        ("\\boxed{\\frac{2424}{7034}}", ["\\frac{2424}{7034}"]),
        ("a \\boxed{1} b \\boxed{\\text{B}} c", ["1", "\\text{B}"]),
        ("\\boxed {7}", ["7"]),
        ("\\fbox{C}", ["C"]),
        ("\\boxed 5 and more", ["5"]),
        ("\\boxed{unbalanced {", []),
        ("\\boxed{ok} then \\boxed{broken", ["ok"]),
        ("no box here", []),
        ("\\boxed{}", [""]),
    ],
)
def test_boxed_contents(text: str, boxes: list[str]) -> None:
    assert boxed_contents(text) == boxes


def test_boxed_long_unbalanced_is_fast_and_skipped() -> None:
    text = "\\boxed{" + "{x " * 3000
    assert boxed_contents(text) == []


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            MISLEADING_THINK + "The leased share is 8.1/56.0.\n\n**Final Answer**\n\\boxed{14.46\\%}",
            ("14.46\\%", "boxed"),
        ),
        (MISLEADING_THINK + "So the answer is 14.46%.", ("14.46%.", "answer_phrase")),
        (
            MISLEADING_THINK + "Final Answer: 14.46%\n\nNote: the answer is based on 2015 data.",
            ("14.46%", "final_answer"),
        ),
        (MISLEADING_THINK + "最终答案：B", ("B", "final_answer")),
        (MISLEADING_THINK + "**答案：C**\n\n解析：A错误，B错误。", ("C**", "answer_phrase")),
        (MISLEADING_THINK + "Revenue was 1,234 and grew to 1,500.", ("1,500", "last_number")),
        (MISLEADING_THINK + "Bearish", ("Bearish", "last_line")),
        (MISLEADING_THINK, ("", "empty")),
        ("<think>\nthe answer is \\boxed{5}", ("", "empty")),
        ("**Final Answer**\n\n14.46%", ("14.46%", "final_answer")),
        ("The answer is: \\boxed{A}", ("A", "boxed")),
        ("故选B。", ("B。", "answer_phrase")),
        ("判断：正确", ("正确", "answer_phrase")),
        ("To answer this question, we compute 5.", ("5", "last_number")),
    ],
)
def test_extract_answer(response: str, expected: tuple[str, str]) -> None:
    assert extract_answer(response) == Extraction(*expected)


def test_box_in_thinking_never_graded() -> None:
    got = extract_answer("<think>\nI think \\boxed{A}\n</think>\nAfter checking, the answer is B.")
    assert got == Extraction("B.", "answer_phrase")


def test_phrase_priority_final_over_later_plain_phrase() -> None:
    tails = phrase_tails("Final answer: 12\nThe answer is based on the table.")
    assert tails[0] == ("final_answer", "12")
    assert ("answer_phrase", "based on the table.") in tails


def test_final_answer_mid_sentence_is_not_a_phrase() -> None:
    assert phrase_tails("Before the final answer, note 2019 revenue was 5.") == []


def test_extract_never_raises_on_odd_input() -> None:
    for odd in ["\\boxed{", "}}}}", "<answer>", "</think>", "\x00\x01", "答案", "\\boxed"]:
        assert isinstance(extract_answer(odd), Extraction)


@pytest.mark.parametrize(
    "text",
    [
        "(" * 50000,
        "1," * 25000,
        "the answer " * 5000,
        "\\boxed{" * 10000,
        "答案选" * 10000,
        "A B C D " * 6000,
        "\\frac{" * 10000,
        "- " * 25000 + "5",
        "A. x\n" * 10000,
    ],
)
def test_degenerate_inputs_stay_fast(text: str) -> None:
    """No regex backtracks catastrophically: 50k-character degenerate outputs grade in well under a second."""
    import time

    from finr1_core.answers import match_answer

    for answer_type in ("numeric", "choice", "boolean", "label", "text"):
        start = time.process_time()
        match_answer(text, 5, answer_type, labels={"0": ["bearish"]})
        assert time.process_time() - start < 1.0
