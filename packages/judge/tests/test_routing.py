"""Routing to sft / rl / rejected and the exact sft format."""

from __future__ import annotations

import pytest

from finr1_core.schemas import JudgedRow
from finr1_judge.config import FIN_R1_SYSTEM_PROMPT
from finr1_judge.routing import assistant_turn, format_ok, route


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("<think>\nr\n</think>\n<answer>\na\n</answer>", True),
        ("<think>\nr\n</think>\n<answer>\na\n</answer>\n  ", True),  # trailing whitespace only
        ("<think>\nr1\n\nr2\n</think>\n<answer>\na\n</answer>", True),
        ("<think>\nr\n</think>\n<answer>\na\n</answer>\nmore", False),  # text after the answer
        ("x<think>\nr\n</think>\n<answer>\na\n</answer>", False),
        ("<think>\nr\n</think>\n<answer>\na\n</answer>\n<answer>\nb\n</answer>", False),
        ("<think>r</think><answer>a</answer>", False),
        ("<think>\nr <think> r\n</think>\n<answer>\na\n</answer>", False),
    ],
)
def test_format_rule_is_whole_string_with_each_tag_once(text, ok):
    assert format_ok(text) is ok


def test_assistant_turn_strips_unwraps_and_refuses_tags_inside():
    turn, why = assistant_turn("\nStep 1.\nStep 2.\n", "  <answer>\n\\boxed{B}\n</answer> ")
    assert why is None and turn == "<think>\nStep 1.\nStep 2.\n</think>\n<answer>\n\\boxed{B}\n</answer>"
    assert format_ok(turn)
    assert assistant_turn("see </think> here", "B") == (None, "tag </think> inside the trace")
    assert assistant_turn("", "B")[1] == "empty reasoning"
    assert assistant_turn("r", "  ")[1] == "empty final answer"


def _row(item: str, sample: int, answer_type: str, label: str, **extra) -> JudgedRow:
    return JudgedRow(
        id=item,
        source=item.split("/")[0],
        category="reasoning_business_knowledge",
        language="en",
        messages=[{"role": "user", "content": f"prompt of {item}"}],
        reference="42",
        answer_type=answer_type,
        teacher="t",
        sample_index=sample,
        reasoning="Step one.\nStep two.",
        completion="\\boxed{42}",
        label=label,
        reject_reason=None if label == "good" else "answer_wrong (rule)",
        **extra,
    )


def test_route_sends_good_rows_to_sft_every_verifiable_objective_item_to_rl_and_bad_rows_to_rejected():
    rows = [
        _row("finqa/1", 0, "numeric", "good"),
        _row("finqa/1", 1, "numeric", "bad"),  # one good sample: not a failed item
        _row("finqa/2", 0, "numeric", "bad"),
        _row("fi500k/3", 0, "text", "good"),  # free-form: sft, never rl
        _row("finqa/4", 0, "numeric", "bad", error="HTTP 500"),
        _row("finqa/5", 0, "numeric", "bad"),  # gold not verifiable
    ]
    routed = route(rows, system_prompt=FIN_R1_SYSTEM_PROMPT, verifiable=lambda r: r.id != "finqa/5")
    assert [r.id for r in routed.sft] == ["finqa/1#0", "fi500k/3#0"]
    sft = routed.sft[0]
    assert [m.role for m in sft.messages] == ["system", "user", "assistant"]
    assert sft.messages[0].content == FIN_R1_SYSTEM_PROMPT and format_ok(sft.messages[-1].content)
    assert {(r.id, r.failed_filter) for r in routed.rl} == {("finqa/1", False), ("finqa/2", True), ("finqa/4", True)}
    assert all(r.solution == "42" and r.prompt[0].role == "user" for r in routed.rl)
    assert [(r.id, r.sample_index) for r in routed.rejected] == [
        ("finqa/1", 1),
        ("finqa/2", 0),
        ("finqa/4", 0),
        ("finqa/5", 0),
    ]
    with_system = route(rows, system_prompt="S", verifiable=lambda r: True, rl_system_prompt=True)
    assert all(r.prompt[0].role == "system" for r in with_system.rl)


def test_rl_rows_carry_the_question_apart_from_the_prompt():
    """The accuracy reward grades by the item's question, never by the prompt's report text."""
    asked = _row("finqa/7", 0, "numeric", "good", meta={"question": "what was the change in revenue?"})
    unasked = _row("finqa/8", 0, "numeric", "good")
    routed = route([asked, unasked], system_prompt="S", verifiable=lambda r: True)
    assert [(r.id, r.question) for r in routed.rl] == [
        ("finqa/7", "what was the change in revenue?"),
        ("finqa/8", None),
    ]
    assert routed.rl[0].prompt[0].content == "prompt of finqa/7"
