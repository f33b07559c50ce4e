"""Stage record schemas: datasets round trip and validation errors naming the row and the field."""

from __future__ import annotations

import pytest

from finr1_core.errors import InputError
from finr1_core.schemas import (
    Criteria,
    DistilledRow,
    EvalSample,
    JudgedRow,
    Message,
    RLRow,
    SFTRow,
    SourceItem,
    Usage,
    from_rows,
    require_columns,
    to_dataset,
    validate_row,
)


def source_item(**kw):
    base = dict(
        id="finqa/ABC-1",
        source="finqa",
        category="reasoning_business_knowledge",
        language="en",
        messages=[Message(role="user", content="What is 2+2?")],
        reference="4",
        answer_type="numeric",
        choices={"A": "4", "B": "5"},
        labels={"0": ["bearish", "negative"]},
        meta={"table": [["a", "1"]]},
    )
    base.update(kw)
    return SourceItem(**base)


def test_round_trip_through_datasets_for_every_record():
    item = source_item()
    distilled = DistilledRow(
        **item.model_dump(),
        teacher="r1",
        reasoning="think",
        completion="\\boxed{4}",
        usage=Usage(prompt_tokens=5, completion_tokens=7, total_tokens=12),
        latency_s=1.5,
    )
    judged = JudgedRow(
        **distilled.model_dump(),
        answer_score=1,
        answer_method="rule",
        label="good",
        criteria=Criteria(term_overlap=True, min_three_steps=False),
    )
    records = [
        item,
        distilled,
        judged,
        SFTRow(
            id="a", source="s", messages=[Message(role="user", content="q"), Message(role="assistant", content="a")]
        ),
        RLRow(id="a", source="s", prompt=[Message(role="user", content="q")], solution="4", answer_type="numeric"),
        EvalSample(
            benchmark="finqa",
            id="x",
            messages=[Message(role="user", content="q")],
            reference="4",
            answer_type="numeric",
            correct=None,
            method="rule",
        ),
    ]
    for record in records:
        ds = to_dataset(type(record), [record])
        assert ds.features == type(record).features()
        assert type(record).from_row(ds[0]) == record


def test_empty_split_keeps_schema():
    ds = to_dataset(JudgedRow, [])
    assert len(ds) == 0 and "criteria" in ds.column_names and ds.features == JudgedRow.features()


def test_validation_error_names_row_and_field():
    good = source_item().to_row()
    bad = dict(good, answer_type="essay")
    with pytest.raises(InputError, match=r"^items\.parquet row 1: field 'answer_type'"):
        list(from_rows(SourceItem, [good, bad], source="items.parquet"))
    with pytest.raises(InputError, match=r"^mine\.jsonl line 3: field 'messages\.0\.role'"):
        validate_row(
            SourceItem,
            dict(source_item().model_dump(), messages=[{"role": "bot", "content": "x"}]),
            where="mine.jsonl line 3",
        )
    with pytest.raises(InputError, match="field 'messages'"):
        validate_row(SourceItem, dict(source_item().model_dump(), messages=[]), where="x")


def test_require_columns():
    require_columns(["id", "source", "messages"], SFTRow, source="d")
    with pytest.raises(InputError, match="missing column\\(s\\) messages required for SFTRow"):
        require_columns(["id", "source"], SFTRow, source="d")
