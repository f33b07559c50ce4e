"""match_item: one call, one notion of "the question", for every record that carries a gold."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from finr1_core.answers import as_choices, as_labels, item_question, match_answer, match_item

REPORT = "Revenue declined sharply; exports fell as a share of sales (percent of total)."


@dataclass
class BenchLike:
    reference: str
    answer_type: str
    question: str = ""
    messages: list[dict[str, str]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def test_the_question_is_the_items_own_never_the_prompt() -> None:
    prompt = [{"role": "user", "content": f"{REPORT}\nQuestion: what was the change in revenue?"}]
    bench = BenchLike("20.00000", "numeric", question="what was the change in revenue?", messages=prompt)
    distilled = {
        "reference": "20.00000",
        "answer_type": "numeric",
        "messages": prompt,
        "meta": {"question": bench.question},
    }
    rl = {"solution": "20.00000", "answer_type": "numeric", "prompt": prompt, "question": bench.question}
    for item in (bench, distilled, rl):
        assert item_question(item) == "what was the change in revenue?"
        assert match_item("\\boxed{-20}", item).correct is False  # "declined" in the report does not count
        assert match_item("\\boxed{0.2}", item).correct is False  # nor "percent"
        assert match_item("\\boxed{20}", item).correct is True
    assert item_question({"prompt": prompt}) is None
    assert item_question({"meta": '{"question": "q?"}'}) == "q?"  # meta stored as a JSON string


def test_match_item_is_match_answer_on_the_items_fields() -> None:
    labels = {"0": ["bearish"], "1": ["bullish"], "2": ["neutral"]}
    item = {"reference": "1", "answer_type": "label", "labels": [{"key": k, "value": v} for k, v in labels.items()]}
    assert match_item("Sentiment: bullish", item) == match_answer("Sentiment: bullish", "1", "label", labels=labels)
    assert match_item("free text", {"reference": "x"}).correct is None  # no answer_type: text, for a judge


def test_choices_in_every_stored_form() -> None:
    options = {"A": "利润表", "B": "资产负债表"}
    assert as_choices(options) == options
    assert as_choices([{"key": "A", "value": "利润表"}, {"key": "B", "value": "资产负债表"}]) == options
    assert as_choices(["利润表", "资产负债表"]) == options  # lm-eval: letters in order
    assert as_choices('["利润表", "资产负债表"]') == options
    assert as_choices(None) is None
    with pytest.raises(ValueError, match="letter -> option text"):
        as_choices(5)
    assert as_labels({"0": "bearish"}) == {"0": ["bearish"]}
    assert as_labels(["negative", "neutral", "positive"]) == {"negative": [], "neutral": [], "positive": []}
    names = {"reference": "neutral", "answer_type": "label", "labels": ["negative", "neutral", "positive"]}
    assert match_item(" Neutral", names).correct is True and match_item("2 positive", names).correct is False
    item = {"reference": 1, "answer_type": "choice", "choices": ["利润表", "资产负债表"]}
    assert match_item("资产负债表", item).correct is True  # gold as lm-eval's 0-based index
    assert match_item("答案：A", item).correct is False
    assert match_item("AC", {"reference": ["A", "C"], "answer_type": "choice"}).correct is True
