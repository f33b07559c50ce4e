"""Teachers without a reasoning channel: `teacher.reasoning: split_final` splits the plain answer."""

from __future__ import annotations

from finr1_core.runner import ChatResult
from finr1_distill.run import apply_reasoning_policy, classify, split_final_answer


def result(content, reasoning="", error=None):
    return ChatResult(
        item_id="a",
        sample_index=0,
        reasoning=reasoning,
        completion=content,
        content=content,
        finish_reason="stop",
        usage=None,
        latency_s=0.1,
        error=error,
        attempts=1,
    )


def test_split_on_last_paragraph_then_line_then_sentence():
    assert split_final_answer("Revenue rose 10.\nCosts fell.\n\nSo the answer is \\boxed{B}.") == (
        "Revenue rose 10.\nCosts fell.",
        "So the answer is \\boxed{B}.",
    )
    assert split_final_answer("Step 1: 5/10 = 0.5\nAnswer: 50%") == ("Step 1: 5/10 = 0.5", "Answer: 50%")
    assert split_final_answer("The tweet is upbeat. So it is bullish.") == (
        "The tweet is upbeat.",
        "So it is bullish.",
    )
    assert split_final_answer("Bullish") == ("", "Bullish")


def test_policy_only_fills_missing_traces_of_successful_calls():
    plain = apply_reasoning_policy(result("Costs fell.\n\nAnswer: A"), "split_final")
    assert (plain.reasoning, plain.completion) == ("Costs fell.", "Answer: A")
    assert classify(plain) == (None, None)
    # The default policy keeps the R1 contract: no trace is a flagged row.
    strict = apply_reasoning_policy(result("Costs fell.\n\nAnswer: A"), "required")
    assert classify(strict)[0] == "empty_trace"
    # A real trace is never replaced, and failed calls stay failed.
    kept = apply_reasoning_policy(result("Answer: A", reasoning="thinking"), "split_final")
    assert (kept.reasoning, kept.completion) == ("thinking", "Answer: A")
    failed = apply_reasoning_policy(result("", error="HTTP 500"), "split_final")
    assert classify(failed)[0] == "request_failed"
    assert classify(apply_reasoning_policy(result("Bullish"), "split_final"))[0] == "empty_trace"
