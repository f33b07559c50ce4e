"""Shared helpers for finr1-evaluate tests: fake model/judge scripts, gold and wrong answers, data paths."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from finr1_core.testing.fake_openai import FakeAnswer

# Shared guards (finr1_core.testing.guards: loopback only, nothing left behind) plus the session's Hub test server,
# wired into HF_ENDPOINT/HF_HOME in pytest_configure, before test modules import huggingface_hub or datasets.
# A star import (not `pytest_plugins`) so it works from a non-root conftest.
from finr1_core.testing.pytest_plugin import *  # noqa: F403

# ../shared/data as seen from the project root (DATA.md); FINR1_SHARED_DATA overrides it.
SHARED_DATA = Path(
    os.environ.get("FINR1_SHARED_DATA") or Path(__file__).resolve().parents[3].parent / "shared" / "data"
)
HEADLINE_DATA = {
    "finqa": "finqa",
    "convfinqa": "convfinqa",
    "tfns": "tfns",
    "ant_finance": "ant_finance",
}

COT_MARKER = "SECRET-CHAIN-OF-THOUGHT-7f3a"


def shared_path(benchmark: str) -> Path:
    """The benchmark's folder in ../shared/data, or skip the test when it is absent."""
    path = SHARED_DATA / HEADLINE_DATA[benchmark]
    if not path.exists():
        pytest.skip(f"{path} is absent (real data lives in ../shared/data; see DATA.md)")
    return path


def message_key(messages: Sequence[Any]) -> str:
    """Identify a request by its messages (what the fake server receives)."""
    rows = [m if isinstance(m, dict) else {"role": m.role, "content": m.content} for m in messages]
    return json.dumps([{"role": r["role"], "content": r["content"]} for r in rows], ensure_ascii=False, sort_keys=True)


def _other_number(reference: str) -> str:
    value = float(reference.replace(",", "").rstrip("%"))
    # Far from the value, its percent/ratio forms and its sign: never equal under any §8 equivalence.
    return f"{abs(value) * 7.3 + 1234.5:.2f}"


def gold_answer(item: Any) -> str:
    """A response whose final answer is the item's gold."""
    if item.answer_type == "choice":
        return f"\\boxed{{{item.reference}}}"
    if item.answer_type == "label" and item.labels:
        synonyms = item.labels.get(item.reference) or [item.reference]
        return f"\\boxed{{{synonyms[0]}}}"
    return f"\\boxed{{{item.reference}}}"


def wrong_answer(item: Any) -> str:
    """A response whose final answer is certainly wrong for the item."""
    ref = item.reference.strip()
    if item.answer_type == "choice":
        letters = sorted(item.choices or {"A": "", "B": "", "C": "", "D": ""})
        wanted = set(re.findall(r"[A-Z]", ref.upper()))
        other = next((letter for letter in letters if letter not in wanted), None)
        if other is None or len(wanted) > 1:  # a multi-answer gold: answer a single letter
            other = sorted(wanted)[0] if len(wanted) > 1 else "Z"
        return f"\\boxed{{{other}}}"
    if item.answer_type == "label" and item.labels:
        other = next(k for k in item.labels if k != item.reference)
        return f"\\boxed{{{item.labels[other][0]}}}"
    if item.answer_type == "boolean":
        flips = {
            "yes": "no",
            "no": "yes",
            "是": "否",
            "否": "是",
            "true": "false",
            "false": "true",
            "对": "错",
            "错": "对",
            "正确": "错误",
            "错误": "正确",
        }
        return f"\\boxed{{{flips.get(ref.lower(), 'no' if ref.lower() != 'no' else 'yes')}}}"
    if item.answer_type == "numeric":
        return f"\\boxed{{{_other_number(ref)}}}"
    return "\\boxed{I cannot answer this question.}"


class ScriptedModel:
    """A fake-server answer script: looks the request's messages up among the items and answers by rule.

    ``answer(item) -> str`` builds the final answer; ``reasoning`` is sent as the chain of thought
    (with a marker the judge must never see).
    """

    def __init__(self, items: Iterable[Any], answer: Callable[[Any], str], reasoning: str | None = None) -> None:
        self.by_key = {message_key(item.messages): item for item in items}
        self.answer = answer
        self.reasoning = reasoning if reasoning is not None else f"{COT_MARKER} maybe \\boxed{{999999}} first?"
        self.unknown = 0

    def __call__(self, request: dict[str, Any]) -> FakeAnswer:
        messages = [m for m in request["messages"] if m["role"] != "system"]
        item = self.by_key.get(message_key(messages))
        if item is None:
            self.unknown += 1
            return FakeAnswer("I have no idea.", reasoning=self.reasoning)
        return FakeAnswer(self.answer(item), reasoning=self.reasoning)


_JUDGE_SECTIONS = re.compile(r"Standard answer:\n(?P<ref>.*?)\n\n【模型回答】Model answer:\n(?P<ans>.*?)\n?$", re.S)


def _norm(text: str) -> str:
    text = re.sub(r"\\boxed\{(.*)\}", r"\1", text.strip())
    return " ".join(text.lower().split())


def fair_judge(request: dict[str, Any]) -> str:
    """A judge that scores 1 when the model answer equals the standard answer (after light normalisation)."""
    prompt = request["messages"][-1]["content"]
    match = _JUDGE_SECTIONS.search(prompt)
    if match is None:
        return "无法判断 (no sections found)"
    same = _norm(match.group("ref")) == _norm(match.group("ans"))
    return f"理由: the final answers {'agree' if same else 'differ'}.\n\\boxed{{{1 if same else 0}}}"


def run_cli(argv: list[str]) -> int:
    """Run finr1-evaluate in-process (progress bars off)."""
    from finr1_evaluate.cli import main

    return main([*argv, "--no-progress"] if argv and argv[0] == "run" else argv)


def read_samples(output: Path | str) -> list[dict[str, Any]]:
    """Every sample row of an evaluation artifact (all benchmark splits, in split order)."""
    from finr1_core.refs import load_dataset_ref

    data, _ = load_dataset_ref(str(output))
    return [dict(row) for split in data.values() for row in split]


def read_results(output: Path | str) -> dict[str, Any]:
    """The evaluation record of an artifact (lineage.json's `evaluation`), as `report` reads it."""
    from finr1_evaluate.report import load_results

    return load_results(output)


def read_evaluation(output: Path | str) -> Any:
    """(lineage, input record) of a complete evaluation artifact, or None (finr1_evaluate.artifact)."""
    from finr1_evaluate.artifact import read_evaluation as read

    return read(str(output))


def read_lineage(output: Path | str) -> dict[str, Any]:
    """The artifact's lineage.json (local folder) as a dict."""
    return json.loads((Path(output) / "lineage.json").read_text(encoding="utf-8"))


@pytest.fixture
def ev() -> Any:
    """These helpers as a namespace (tests run with --import-mode=importlib, so conftest is not importable)."""
    import types

    return types.SimpleNamespace(**{k: v for k, v in globals().items() if not k.startswith("_")})
