"""FinQA (``czyssrs/FinQA``): the official schema and the simplified ``test_500.json`` schema.

Official rows (``train.json``, ``dev.json``, ``test.json``, ``test_100.json``) carry ``id``, ``filename``,
``pre_text``, ``post_text``, ``table`` and ``qa`` with ``question``, ``program`` and the executed gold
``exe_ans``. Simplified rows (``abhisvakil/FinQA-Mini-Project`` ``test_500.json``) carry ``id``,
``question``, ``pre_text``, ``post_text``, ``table``, ``program`` and ``answer`` (= ``exe_ans``).
The gold is always the executed answer, never the human string ``qa.answer`` (RECIPE.md §7).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from finr1_core.errors import InputError
from finr1_core.formats._io import as_table, as_text_list, read_json_list, require_keys
from finr1_core.formats.records import FinQARecord, gold_text

logger = logging.getLogger(__name__)

#: Files read for each split, in order; rows are de-duplicated by id.
SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "train": ("train.json",),
    "dev": ("dev.json",),
    "test": ("test.json", "test_500.json", "test_100.json"),
}


def parse_finqa_row(row: Any, where: str, source_file: str = "") -> FinQARecord:
    """Parse one FinQA row in either schema; errors name ``where`` and the field."""
    if isinstance(row, dict) and "qa" in row:
        require_keys(where, row, ["id", "qa"])
        qa = row["qa"]
        require_keys(f"{where} field 'qa'", qa, ["question", "exe_ans"])
        question, gold, program = qa["question"], qa["exe_ans"], qa.get("program", "")
        gold_field = "qa.exe_ans"
    else:
        require_keys(where, row, ["id", "question", "answer"])
        question, gold, program = row["question"], row["answer"], row.get("program", "")
        gold_field = "answer"
    if not isinstance(question, str) or not question.strip():
        raise InputError(f"{where}: field 'question' must be a non-empty string")
    try:
        reference, answer_type = gold_text(gold)
    except ValueError as exc:
        raise InputError(f"{where} (id {row['id']}): field '{gold_field}' {exc}") from None
    return FinQARecord(
        id=str(row["id"]),
        question=question.strip(),
        pre_text=as_text_list(where, "pre_text", row.get("pre_text")),
        post_text=as_text_list(where, "post_text", row.get("post_text")),
        table=as_table(where, "table", row.get("table")),
        reference=reference,
        answer_type=answer_type,
        program=str(program or ""),
        filename=str(row.get("filename") or ""),
        source_file=source_file,
    )


def read_finqa(path: Path) -> list[FinQARecord]:
    """Read one FinQA JSON file (a list of rows in the official or the simplified schema)."""
    path = Path(path)
    rows = read_json_list(path)
    return [parse_finqa_row(row, f"{path} row {i}", path.name) for i, row in enumerate(rows)]


def dedupe_by_id(records: Iterable[FinQARecord]) -> list[FinQARecord]:
    """Keep the first record of each id (``test_500`` and ``test_100`` share 46 ids)."""
    seen: dict[str, FinQARecord] = {}
    for record in records:
        if record.id in seen:
            if seen[record.id].reference != record.reference:
                logger.warning(
                    "FinQA id %s has two different golds (%s in %s, %s in %s); keeping the first",
                    record.id,
                    seen[record.id].reference,
                    seen[record.id].source_file,
                    record.reference,
                    record.source_file,
                )
            continue
        seen[record.id] = record
    return list(seen.values())


def finqa_split_files(path: Path, split: str) -> list[Path]:
    """The files of ``split`` under a FinQA folder (or ``[path]`` when ``path`` is a file)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if split not in SPLIT_FILES:
        raise InputError(f"FinQA split '{split}' is unknown (expected one of: {', '.join(SPLIT_FILES)})")
    if not path.is_dir():
        raise InputError(f"{path}: FinQA folder or file not found")
    files = [path / name for name in SPLIT_FILES[split] if (path / name).is_file()]
    if not files:
        raise InputError(f"{path}: no FinQA {split} file (expected one of: {', '.join(SPLIT_FILES[split])})")
    return files


def load_finqa(path: Path, split: str = "test") -> list[FinQARecord]:
    """Read a FinQA split from a folder laid out like the official ``dataset/`` (or one file); ids de-duplicated."""
    records: list[FinQARecord] = []
    for file in finqa_split_files(path, split):
        records.extend(read_finqa(file))
    return dedupe_by_id(records)
