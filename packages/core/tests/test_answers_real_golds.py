"""Leniency cases written against the real FinQA and ConvFinQA golds (``../shared/data``, DATA.md).

The golds are read by the format readers, exactly as judge, reward and evaluation receive them, and graded with
each item's own question.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from finr1_core.answers import match_answer
from finr1_core.formats import display_gold, load_convfinqa, load_finqa

SHARED = Path(os.environ.get("FINR1_SHARED_DATA") or Path(__file__).resolve().parents[3].parent / "shared" / "data")
# the documented percent cues (finr1_core.answers.numeric): a question with none of them asks for no percentage
PERCENT_CUES = ("percent", "%", "ratio", "rate", "proportion", "portion", "fraction", "share", "growth", "yield")
PERCENT_CUES += ("margin", "return")
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent (see DATA.md)")


@pytest.fixture(scope="module")
def golds() -> dict[str, tuple[str, str]]:
    """Item id -> (gold as passed, question), FinQA test and ConvFinQA dev turns."""
    finqa = {
        r.id: (r.reference, r.question) for r in load_finqa(SHARED / "finqa", "test") if r.answer_type == "numeric"
    }
    turns = load_convfinqa(SHARED / "convfinqa", "dev")
    return finqa | {t.id: (t.reference, t.question) for t in turns if t.answer_type == "numeric"}


def grade(golds: dict[str, tuple[str, str]], item_id: str, prediction: str) -> bool | None:
    reference, question = golds[item_id]
    return match_answer(prediction, reference, "numeric", question=question).correct


@needs_shared
@pytest.mark.parametrize(
    ("item_id", "prediction", "expected"),
    [
        # a gold of 3.0 ("how bigger were the interest and penalties …") is not 3 ± 0.5
        ("HWM/2015/page_173.pdf-1", "\\boxed{2.6}", False),
        ("HWM/2015/page_173.pdf-1", "\\boxed{3}", True),
        ("HWM/2015/page_173.pdf-1", "\\boxed{2.98}", True),  # 0.7%: within 1%
        # a gold of 0.1 ("what was the change in the rd&e spendings from 2013 to 2014?") is not 0.1 ± 0.05, and a
        # bare 10 is not 10% when the question asks for no percentage
        ("Double_AMAT/2013/page_18.pdf/turn_0", "\\boxed{0.06}", False),
        ("Double_AMAT/2013/page_18.pdf/turn_0", "\\boxed{10}", False),
        ("Double_AMAT/2013/page_18.pdf/turn_0", "\\boxed{0.1}", True),
        # "what is the net change?" (gold 20): the committed number, hedges, the stated direction
        ("Single_LMT/2012/page_47.pdf-1/turn_2", "2012 profit 1,045, 2011 profit 1,025; the net change is 20.", True),
        ("Single_LMT/2012/page_47.pdf-1/turn_2", "The answer is 20 (computed as 1,045 - 1,025).", True),
        ("Single_LMT/2012/page_47.pdf-1/turn_2", "20 or maybe 25", False),
        ("Single_LMT/2012/page_47.pdf-1/turn_2", "Operating profit showed a decrease of 20.", False),
        ("Single_LMT/2012/page_47.pdf-1/turn_2", "\\boxed{-20}", False),
    ],
)
def test_hand_written_leniency_cases_on_real_golds(golds, item_id: str, prediction: str, expected: bool) -> None:
    assert grade(golds, item_id, prediction) is expected


@needs_shared
def test_no_real_gold_accepts_a_prediction_beyond_the_tolerance(golds) -> None:
    """Every numeric gold: right as a reader writes it, wrong 1.05% off, wrong as 100 x gold with no percent cue."""
    lenient, too_strict, x100 = [], [], []
    for item_id, (reference, question) in golds.items():
        gold = float(reference)
        if gold == 0:
            continue
        if (
            match_answer(f"\\boxed{{{display_gold(reference)}}}", reference, "numeric", question=question).correct
            is not True
        ):
            too_strict.append(item_id)
        for factor in (1.0105, 0.9895):
            if match_answer(f"\\boxed{{{gold * factor:.10g}}}", reference, "numeric", question=question).correct:
                lenient.append(item_id)
        asks_percent = any(w in question.lower() for w in PERCENT_CUES)
        if (
            not asks_percent
            and match_answer(f"\\boxed{{{gold * 100:.10g}}}", reference, "numeric", question=question).correct
        ):
            x100.append(item_id)
    assert len(golds) == 542 + 1486
    assert (lenient, too_strict, x100) == ([], [], [])
