"""Guard: agreement with the hand-graded sets in ``bench/data`` cannot change silently.

Each set's disagreements (cases with a true/false hand verdict that the matcher decides otherwise) are listed by
id with the reason; a new disagreement fails the test, and so does a listed one that now agrees (remove it, and
update the figures in ``bench/README.md``: ``bench/answers_bench.py --cases <set> --agreement-only``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finr1_core.answers import match_item

DATA = Path(__file__).resolve().parents[3] / "bench" / "data"

KNOWN = {
    # the real-output held-out set (graded by a second engineer; first sight was 269/296, see bench/README.md)
    "answers_realworld.jsonl": {
        "rw-finqa-0008": "gold 0.15 is a rounded human answer (the file's convention); 0.1545 is 3% off",
        "rw-fbench-0021": "'the operating margin profile appears stable' for 'improving?': the grader reads a decline",
    },
    # finr1's own earlier sets: graded under a stricter precision policy than the documented 1% tolerance
    "answers_cases.jsonl": {
        "finqa-006": "14% for 0.14464 (3.2%): the old policy accepted integer rounding",
        "finqa-007": "14 for 0.14464 (3.2%)",
        "finqa-021": "10% for 0.09864 (1.4%)",
        "finqa-024": "0.22 for 0.22429 (1.9%)",
        "finqa-077": "34% for 0.34461 (1.3%)",
        "finqa-044": "3,280 for 3,297.67: 0.5%, within 1%; graded wrong under the old 0.2% tolerance",
        "finpee-336": "compound interest 3.02千 for a simple-interest gold of 3,000: 0.7%, within 1%",
    },
    "answers_heldout.jsonl": {
        "ho-finqa-005": "14% for 0.14464 (3.2%)",
        "ho-finqa-025": "0.14 for 0.14464 (3.2%)",
        "ho-finqa-104": "1,239.5 for 1,229.5 (a digit slip, 0.8%): within 1%",
        "ho-finqa-115": "'leverage got worse' for 'did D/E improve (decrease)?': needs a judge",
        "hoC-finqa-005": "a table holding 14.46% then 'the owned share is 85.54%': the last line wins",
    },
}


def _verdict(case: dict) -> bool | None:
    return case["human"] if "human" in case else case["verdict"]


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_agreement_with_the_hand_verdicts_does_not_change_silently(name: str) -> None:
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (a package built without the repository's bench data)")
    cases = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    disagreements = {
        c["id"] for c in cases if _verdict(c) is not None and match_item(c["prediction"], c).correct != _verdict(c)
    }
    assert disagreements == set(KNOWN[name]), (
        f"new: {sorted(disagreements - set(KNOWN[name]))}; now agreeing: {sorted(set(KNOWN[name]) - disagreements)}"
    )
