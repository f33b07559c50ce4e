"""The one definition of the Fin-R1 output format and of the <answer> block (finr1_core.answers.format)."""

from __future__ import annotations

import pytest

from finr1_core.answers.format import (
    answer_block,
    format_turn,
    is_formatted,
    split_reasoning,
    strip_trailing,
    unwrap_answer,
)

GOOD = "<think>\nr\n</think>\n<answer>\na\n</answer>"


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        (GOOD, True),
        (GOOD + "\n  \t", True),
        (GOOD + "<|im_end|>\n<|endoftext|>", True),  # trailing EOS strings, as the GRPO reward sees decoded text
        (GOOD + "\nmore", False),  # open-r1's MULTILINE bug case
        ("x" + GOOD, False),
        ("\n" + GOOD, False),
        (GOOD + "\n<answer>\nb\n</answer>", False),
        ("<think>\nr <think> r\n</think>\n<answer>\na\n</answer>", False),
        ("<think>r</think><answer>a</answer>", False),
    ],
)
def test_is_formatted(text: str, ok: bool) -> None:
    assert is_formatted(text) is ok


def test_format_turn_is_formatted_and_strip_trailing_keeps_the_start() -> None:
    assert (
        format_turn(" step 1\nstep 2 ", "\\boxed{B}\n")
        == "<think>\nstep 1\nstep 2\n</think>\n<answer>\n\\boxed{B}\n</answer>"
    )
    assert is_formatted(format_turn("r", "a"))
    assert strip_trailing(" a \n</s>\n") == " a"


def test_split_reasoning() -> None:
    assert split_reasoning(GOOD) == ("r", "\n<answer>\na\n</answer>")
    assert split_reasoning("junk<think>\nr\n</think>\nB") == ("r", "\nB")  # junk before <think> is dropped
    assert split_reasoning("r</think>B") == ("r", "B")  # a chat template opened the block
    assert split_reasoning("<think>\ncut off, maybe B") == ("cut off, maybe B", None)  # commits to nothing
    assert split_reasoning("plain") == ("", "plain")
    assert split_reasoning("<think>a</think> x <think>b</think> y") == ("a</think> x <think>b", " y")


def test_answer_block() -> None:
    assert answer_block("<answer>\n1\n</answer> <answer>\n2\n</answer>") == "2"
    assert answer_block("<answer>\n1\n</answer> <answer>\n2") == "1"  # the last complete block
    assert answer_block("<answer>\n1\n</answer> <answer>\n2", closed=False) == "2"  # evaluation reads a cut block
    assert answer_block("no block") is None
    assert unwrap_answer(" <answer>\na\n</answer> ") == "a"
    assert unwrap_answer("<answer>a</answer> and more") == "<answer>a</answer> and more"
