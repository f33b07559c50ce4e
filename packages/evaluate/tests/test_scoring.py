"""Units: the judge prompt read by core's verdict parser, Wilson intervals, the counting rules of aggregate()."""

from __future__ import annotations

import math

import pytest

from finr1_core.judging import parse_verdict
from finr1_core.schemas import EvalSample
from finr1_evaluate.judge import build_judge_prompt
from finr1_evaluate.scoring import aggregate, needs_judge, wilson_interval


@pytest.mark.parametrize(
    ("reply", "score", "problem"),
    [
        ("The values agree. \\boxed{1}", 1, None),
        ("理由: 模型回答与标准回答数值相同。\n\\boxed{1}", 1, None),
        ("The answers differ by a factor of ten.\n\\boxed{0}", 0, None),
        ("结果：0", 0, None),
        ("Both readings are possible: \\boxed{1} or \\boxed{0}", None, "both"),
        ("I think they match.", None, "none"),
    ],
)
def test_core_verdict_parser_on_replies_to_the_builtin_prompt(reply, score, problem):
    """Evaluate's own prompt with core's parser: a judge's own short verdict counts, hedges and talk do not."""
    prompt = build_judge_prompt("0.14464", "14.46%")
    verdict = parse_verdict(reply, prompt)
    assert (verdict.score, verdict.problem) == (score, problem)


def test_the_builtin_prompt_echoed_back_is_no_verdict():
    """The \\boxed{1} example of the instructions must never read as a verdict (issue 14, "False scores")."""
    prompt = build_judge_prompt("0.14464", "1234.5", note="Scores are 0 or 1.")
    assert "\\boxed{{1}}" not in prompt and "\\boxed{1}" in prompt  # the example the echo carries
    assert parse_verdict(prompt, prompt).problem == "echo"
    assert parse_verdict(prompt[: len(prompt) // 2], prompt).problem == "echo"  # an echo cut by max_tokens
    assert parse_verdict(" ".join(prompt.split()), prompt).problem == "echo"  # reflowed


def test_judge_prompt_has_reference_answer_and_label_map_only():
    prompt = build_judge_prompt(" 0.14464 ", "14.46%", {"0": ["bearish", "negative"], "1": ["bullish"]})
    assert "0.14464" in prompt and "14.46%" in prompt
    assert "- 0: bearish, negative" in prompt
    assert "\\boxed{}" in prompt  # the template's braces survive str.format
    custom = build_judge_prompt("A", "B", template="ref={reference} ans={answer}{label_map}")
    assert custom == "ref=A ans=B"


def test_wilson_interval_known_values():
    low, high = wilson_interval(76, 100)
    assert math.isclose(low, 0.6676, abs_tol=1e-3) and math.isclose(high, 0.8330, abs_tol=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and math.isclose(wilson_interval(10, 10)[1], 1.0)
    assert wilson_interval(0, 0) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("strategy", "rule", "expected"),
    [
        ("rule", False, False),
        ("judge", True, True),
        ("rule_then_judge", True, False),
        ("rule_then_judge", False, True),
        ("rule_then_judge", None, True),
    ],
)
def test_needs_judge(strategy, rule, expected):
    assert needs_judge(strategy, rule) is expected


def _sample(i: int, **kw) -> EvalSample:
    base = {
        "benchmark": "b",
        "id": str(i),
        "messages": [{"role": "user", "content": "q"}],
        "reference": "1",
        "answer_type": "numeric",
        "response": "x",
        "extracted": "1",
    }
    return EvalSample(**{**base, **kw})


def test_aggregate_counts_judge_failures_and_errors_apart():
    samples = [
        _sample(0, rule_correct=True, correct=True, method="rule"),
        _sample(1, rule_correct=False, correct=True, method="llm", judge_raw="\\boxed{1}"),  # overturned
        _sample(2, rule_correct=None, correct=False, method="llm", judge_raw="\\boxed{0}"),
        _sample(3, rule_correct=False, correct=None, method="llm", judge_raw="garbage", error="judge_failed: x"),
        _sample(4, response=None, extracted=None, error="generation_error: HTTP 500"),
        _sample(5, rule_correct=False, correct=False, method="rule", extracted=""),
    ]
    out = aggregate(samples, judge_used=True)
    assert out["n"] == 6
    assert out["generation_errors"] == 1
    assert out["judge_failures"] == 1
    assert out["extraction_failures"] == 1
    assert out["rule_only"] == {"correct": 1, "n": 5, "accuracy": 20.0, "ci95": out["rule_only"]["ci95"]}
    # rule+judge: the judge_failed item is excluded from the denominator, not counted as 0
    assert out["rule_judge"]["n"] == 4 and out["rule_judge"]["correct"] == 2
    assert out["accuracy"] == 50.0 and out["n_scored"] == 4
    assert out["judge"]["calls"] == 3 and out["judge"]["overturned_to_correct"] == 1
    rules_only = aggregate(samples, judge_used=False)
    assert rules_only["accuracy"] == 20.0 and rules_only["rule_judge"] is None
