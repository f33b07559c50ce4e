"""Plain records produced by the format readers (no prompt text yet; see :mod:`finr1_core.formats.prompts`)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

_PAGE = re.compile(r"^(?:Single_|Double_)?(?P<page>.+?\.pdf)(?:-\d+)?$")


def report_page(text: str) -> str:
    """The report page of a FinQA/ConvFinQA id or filename (``Single_MRO/2007/page_134.pdf-1`` → ``MRO/2007/page_134.pdf``).

    ConvFinQA reuses FinQA pages across splits, so decontamination compares pages (RECIPE.md §11).
    Ids without a ``.pdf`` part are returned stripped of the ``Single_``/``Double_`` prefix only.
    """
    text = text.strip()
    match = _PAGE.match(text)
    if match:
        return match.group("page")
    return re.sub(r"^(?:Single_|Double_)", "", text)


def format_number(value: float) -> str:
    """Format a number compactly for display: at most 5 decimals (the official FinQA rounding), no trailing zeros.

    Not for golds: "3" would read as 3 ± 0.5 to a grader that takes precision from the written digits; golds go
    through :func:`gold_number`.
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    text = f"{round(value, 5):.5f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


#: Decimals of an executed gold: FinQA's official evaluator compares ``round(result, 5)`` with ``exe_ans``.
GOLD_DECIMALS = 5


def gold_number(value: float) -> str:
    """An executed gold as text with all :data:`GOLD_DECIMALS` decimals kept (3.0 → ``3.00000``).

    The stored golds of FinQA and ConvFinQA are floats rounded to 5 decimals, so that is their precision; the
    trailing zeros are what tells :mod:`finr1_core.answers` that a gold of 3.0 is exact and not "3" (half a
    unit, ±0.5). Stripping them made 2.6 a right answer for a gold of 3.0 and 0.06 for 0.1.
    """
    if not math.isfinite(value):
        return str(value)
    text = f"{round(value, GOLD_DECIMALS):.{GOLD_DECIMALS}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def display_gold(text: str) -> str:
    """A gold for a reader, not a grader: ``3.00000`` → ``3`` (dialogue history in a prompt, a report)."""
    try:
        return format_number(float(text))
    except ValueError:
        return text


def gold_text(value: Any) -> tuple[str, str]:
    """Normalise an executed gold answer into ``(reference text, answer_type)``.

    Numbers (or numeric strings) become ``numeric`` written by :func:`gold_number` (``3.00000``, ``0.14464``);
    ``yes``/``no`` (or booleans) become ``boolean``. Raises ``ValueError`` for anything else so the caller can
    name the row.
    """
    if isinstance(value, bool):
        return ("yes" if value else "no"), "boolean"
    if isinstance(value, int | float):
        return gold_number(float(value)), "numeric"
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("yes", "no"):
            return text.lower(), "boolean"
        try:
            return gold_number(float(text.replace(",", ""))), "numeric"
        except ValueError:
            pass
    raise ValueError(f"not a number or yes/no: {value!r}")


@dataclass(frozen=True)
class FinQARecord:
    """One FinQA question over one report page (official or simplified schema)."""

    id: str
    question: str
    pre_text: list[str]
    post_text: list[str]
    table: list[list[str]]
    reference: str
    answer_type: str
    program: str = ""
    filename: str = ""
    source_file: str = ""

    @property
    def page(self) -> str:
        """The report page (``filename``, or the id without its ``-n`` suffix)."""
        return report_page(self.filename or self.id)


@dataclass(frozen=True)
class ConvTurn:
    """One ConvFinQA turn with the dialogue so far (earlier questions and their gold answers)."""

    conv_id: str
    turn: int
    questions: list[str]
    answers: list[str]
    answer_types: list[str]
    pre_text: list[str]
    post_text: list[str]
    table: list[list[str]]
    n_turns: int
    program: str = ""
    filename: str = ""
    source_file: str = ""

    @property
    def id(self) -> str:
        """Stable turn id ``<conversation id>/turn_<i>`` (0-based)."""
        return f"{self.conv_id}/turn_{self.turn}"

    @property
    def question(self) -> str:
        """The question of this turn."""
        return self.questions[self.turn]

    @property
    def reference(self) -> str:
        """The gold answer of this turn."""
        return self.answers[self.turn]

    @property
    def answer_type(self) -> str:
        """``numeric`` or ``boolean``."""
        return self.answer_types[self.turn]

    @property
    def history(self) -> list[tuple[str, str]]:
        """Earlier ``(question, gold answer)`` pairs, the answers as a reader writes them (``120``, not ``120.00000``)."""
        return [
            (q, display_gold(a) if kind == "numeric" else a)
            for q, a, kind in zip(self.questions[: self.turn], self.answers, self.answer_types, strict=False)
        ]

    @property
    def page(self) -> str:
        """The report page this conversation is about."""
        return report_page(self.filename or self.conv_id)


@dataclass(frozen=True)
class Item:
    """A generic question with a gold answer: multiple choice, yes/no, label, free text or code.

    ``question`` is the task text as published; ``context`` is a passage shown before it (Ant_Finance
    reading tasks, FinanceQT); ``instruction`` is a dataset-specific task line (FinCUGE tasks).
    """

    id: str
    question: str
    reference: str
    answer_type: str
    category: str = ""
    choices: dict[str, str] | None = None
    labels: dict[str, list[str]] | None = None
    context: str = ""
    instruction: str = ""
    system: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
