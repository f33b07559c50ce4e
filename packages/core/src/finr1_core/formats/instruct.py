"""Instruction-style sources: Finance-Instruct-500k, FinanceQT, FinCorpus exam items and FinPEE.

* **Finance-Instruct-500k** (``Josephgflowers/Finance-Instruct-500k``, one ``train`` split): columns
  ``system``, ``user``, ``assistant``. The set has no test split; Fin-R1 built a 10% test subset. finr1 makes
  that split deterministic by hashing the normalised ``user`` text (:func:`fi500k_split`), so distillation
  (the 90%) and evaluation (the 10%) never share a prompt.
* **FinanceQT** (``lumalik/Quant-Trading-Instruct``, ``train``): columns ``context``, ``question``, ``answer``
  (the answer is trading-strategy code).
* **FinCorpus** (``Duxiaoman-DI/FinCorpus``): JSON lines ``{"text": ..., "meta": {"source": ...}}``; the exam
  items are in ``data/fin_exam.jsonl.gz``. Each ``text`` is parsed by :func:`parse_exam_text`: a stem, options
  ``A.``/``A、``/``A：``/``(A)`` one per line, an answer marker (``答案：B``, ``【答案】B``, ``正确答案：B``,
  ``参考答案``) and an optional ``解析``. A text with options and a letter answer becomes a choice item, one whose
  answer is 正确/错误 (对/错, √/×) a yes/no item, one with another answer a free-text item; a text without an
  answer marker is skipped (counted and logged). The exact layout of the published texts could not be checked
  offline; the parser is deliberately tolerant.
* **FinPEE** is private (SUFE exam questions). finr1 reads a local JSON-lines file with one object per line:
  ``id`` (string, required), ``question`` (required), ``answer`` (required), ``answer_type`` (``numeric`` by
  default; or ``choice``, ``boolean``, ``text``), ``choices`` (letter → text, for choice items), ``subject``
  and ``explanation`` (optional, kept in ``meta``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

from finr1_core.errors import InputError
from finr1_core.formats._io import iter_jsonl, read_records
from finr1_core.formats.decontam import normalize_text
from finr1_core.formats.records import Item

logger = logging.getLogger(__name__)

FI500K_TEST_PERCENT = 10


def content_id(*parts: str, length: int = 16) -> str:
    """A stable id from content (for sets without ids): a hex prefix of the SHA-256 of the NFKC-normalised parts."""
    digest = hashlib.sha256("\x1f".join(normalize_text(p) for p in parts).encode("utf-8")).hexdigest()
    return digest[:length]


def fi500k_split(user: str) -> str:
    """``test`` for the deterministic 10% of Finance-Instruct-500k prompts held out for evaluation, else ``train``."""
    bucket = int(hashlib.sha256(normalize_text(user).encode("utf-8")).hexdigest()[:8], 16) % 100
    return "test" if bucket < FI500K_TEST_PERCENT else "train"


def fi500k_category(system: str) -> str:
    """The evaluation stratum of a Finance-Instruct-500k row: its (shortened) system prompt, which names the sub-task."""
    text = " ".join((system or "").split())
    return text[:48] if text else "(no system prompt)"


def _text(where: str, row: dict[str, Any], key: str, required: bool = True) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InputError(f"{where}: missing or empty field '{key}'")
        return ""
    if not isinstance(value, str):
        raise InputError(f"{where}: field '{key}' must be a string, got {type(value).__name__}")
    return value.strip()


def fi500k_item(row: dict[str, Any], where: str) -> Item:
    """One Finance-Instruct-500k row (``system``, ``user``, ``assistant``) as an item."""
    user = _text(where, row, "user")
    system = _text(where, row, "system", required=False)
    return Item(
        id=content_id(system, user),
        question=user,
        reference=_text(where, row, "assistant"),
        answer_type="text",
        category=fi500k_category(system),
        system=system,
        meta={"split": fi500k_split(user)},
    )


def read_fi500k(path: Path) -> list[Item]:
    """Read Finance-Instruct-500k rows from JSON lines, JSON, CSV or Parquet (exact duplicates dropped)."""
    items: dict[str, Item] = {}
    for where, row in read_records(path):
        item = fi500k_item(row, where)
        items.setdefault(item.id, item)
    return list(items.values())


def financeqt_item(row: dict[str, Any], where: str) -> Item:
    """One Quant-Trading-Instruct row (``context``, ``question``, ``answer``) as a code item."""
    context = _text(where, row, "context", required=False)
    question = _text(where, row, "question")
    return Item(
        id=content_id(context, question),
        question=question,
        context=context,
        reference=_text(where, row, "answer"),
        answer_type="code",
        category="financial_code",
    )


def read_financeqt(path: Path) -> list[Item]:
    """Read FinanceQT rows from JSON lines, JSON, CSV or Parquet."""
    items: dict[str, Item] = {}
    for where, row in read_records(path):
        item = financeqt_item(row, where)
        items.setdefault(item.id, item)
    return list(items.values())


# --- FinCorpus exam items -------------------------------------------------------------------------

_OPTION = re.compile(r"^\s*[（(]?([A-F])[)）]?\s*[.．、:：]\s*(.+?)\s*$|^\s*[（(]([A-F])[)）]\s*(.+?)\s*$", re.M)
_ANSWER = re.compile(r"(?:【\s*(?:正确|参考)?答案\s*】|(?:正确|参考)?答案\s*(?:是|为)?\s*[:：]?)\s*(.+)")
_EXPLANATION = re.compile(r"(?:【\s*解析\s*】|答案解析\s*[:：]|解析\s*[:：])")
_TRUE = ("正确", "对", "√", "是")
_FALSE = ("错误", "错", "×", "否")


def parse_exam_text(text: str) -> dict[str, Any] | None:
    """Split a FinCorpus exam text into ``question``, ``choices``, ``reference``, ``answer_type``, ``explanation``.

    Returns None when no answer marker is found.
    """
    match = _ANSWER.search(text)
    if not match:
        return None
    before, after = text[: match.start()], match.group(1)
    explanation = ""
    exp = _EXPLANATION.search(after)
    if exp:
        explanation = after[exp.end() :].strip()
        after = after[: exp.start()]
    answer = after.strip().splitlines()[0].strip() if after.strip() else ""
    if not answer:
        return None
    choices: dict[str, str] = {}
    first_option = None
    for m in _OPTION.finditer(before):
        letter, body = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        expected = chr(ord("A") + len(choices))
        if letter != expected:
            continue
        if first_option is None:
            first_option = m.start()
        choices[letter] = body
    stem = (before[:first_option] if first_option is not None else before).strip()
    stem = re.sub(r"^\s*(?:题目|问题|试题)\s*[:：]\s*", "", stem).strip()
    if not stem:
        return None
    letters = re.sub(r"[\s,，、]", "", answer.rstrip("。.")).upper()
    if len(choices) >= 2 and letters and all(ch in choices for ch in letters):
        return {
            "question": stem,
            "choices": choices,
            "reference": letters,
            "answer_type": "choice",
            "explanation": explanation,
        }
    head = answer.rstrip("。.").strip()
    if head in _TRUE or head in _FALSE:
        return {
            "question": stem,
            "choices": None,
            "reference": "是" if head in _TRUE else "否",
            "answer_type": "boolean",
            "explanation": explanation,
        }
    return {
        "question": stem,
        "choices": choices or None,
        "reference": head,
        "answer_type": "text",
        "explanation": explanation,
    }


def read_fincorpus(path: Path) -> tuple[list[Item], int]:
    """Read FinCorpus exam JSON lines (``.jsonl`` or ``.jsonl.gz``); returns ``(items, skipped)``."""
    path = Path(path)
    items: dict[str, Item] = {}
    skipped = 0
    for lineno, row in iter_jsonl(path):
        where = f"{path} line {lineno}"
        text = _text(where, row, "text")
        parsed = parse_exam_text(text)
        if parsed is None:
            skipped += 1
            logger.debug("%s: no answer marker; skipped", where)
            continue
        raw_meta = row.get("meta")
        meta = raw_meta if isinstance(raw_meta, dict) else {}
        item = Item(
            id=content_id(text),
            question=parsed["question"],
            reference=parsed["reference"],
            answer_type=parsed["answer_type"],
            choices=parsed["choices"],
            category="fin_exam",
            meta={"source": str(meta.get("source", "")), "explanation": parsed["explanation"]},
            location=where,
        )
        items.setdefault(item.id, item)
    if skipped:
        logger.info(
            "%s: %d of %d texts had no recognisable answer and were skipped", path, skipped, skipped + len(items)
        )
    return list(items.values()), skipped


# --- FinPEE (private, local schema) ---------------------------------------------------------------

FINPEE_ANSWER_TYPES = ("numeric", "choice", "boolean", "text")


def read_finpee(path: Path) -> list[Item]:
    """Read FinPEE items from the local JSON-lines schema documented in this module."""
    path = Path(path)
    items = []
    seen: set[str] = set()
    for lineno, row in iter_jsonl(path):
        where = f"{path} line {lineno}"
        item_id = row.get("id")
        if not isinstance(item_id, str | int) or not str(item_id).strip():
            raise InputError(f"{where}: missing field 'id'")
        item_id = str(item_id).strip()
        if item_id in seen:
            raise InputError(f"{where}: duplicate id '{item_id}'")
        seen.add(item_id)
        answer_type = row.get("answer_type", "numeric")
        if answer_type not in FINPEE_ANSWER_TYPES:
            raise InputError(f"{where}: field 'answer_type' must be one of {', '.join(FINPEE_ANSWER_TYPES)}")
        answer = row.get("answer")
        if answer is None or not str(answer).strip():
            raise InputError(f"{where}: missing field 'answer'")
        choices = row.get("choices")
        if answer_type == "choice":
            if not isinstance(choices, dict) or len(choices) < 2:
                raise InputError(f"{where}: a choice item needs field 'choices' (letter -> text)")
            choices = {str(k).strip().upper(): str(v) for k, v in choices.items()}
        else:
            choices = None
        meta = {k: row[k] for k in ("subject", "explanation") if k in row}
        items.append(
            Item(
                id=item_id,
                question=_text(where, row, "question"),
                reference=str(answer).strip(),
                answer_type=answer_type,
                choices=choices,
                category=str(row.get("subject", "finpee")),
                meta=meta,
                location=where,
            )
        )
    return items
