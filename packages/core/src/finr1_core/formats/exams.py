"""CSV datasets: TFNS, Ant_Finance (Fin-Eva Ant part), FinEval (Fin-Eva SUFE part) and FinanceIQ."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from finr1_core.errors import InputError
from finr1_core.formats._io import read_csv, read_json, require_columns
from finr1_core.formats.instruct import content_id
from finr1_core.formats.records import Item

LETTERS = ("A", "B", "C", "D", "E", "F")

# --- TFNS -----------------------------------------------------------------------------------------

#: TFNS label id -> name (``zeroshot/twitter-financial-news-sentiment`` card).
TFNS_NAMES: dict[str, str] = {"0": "Bearish", "1": "Bullish", "2": "Neutral"}
#: Label id -> accepted synonyms (for ``finr1_core.answers`` label matching).
TFNS_LABELS: dict[str, list[str]] = {
    "0": ["0", "Bearish", "bearish", "negative"],
    "1": ["1", "Bullish", "bullish", "positive"],
    "2": ["2", "Neutral", "neutral"],
}
TFNS_SPLIT_FILES = {"train": "sent_train.csv", "valid": "sent_valid.csv", "validation": "sent_valid.csv"}


def tfns_item(text: object, label: object, item_id: str, where: str) -> Item:
    """Build one TFNS item; the label must be 0, 1 or 2."""
    label_text = str(label).strip()
    if label_text.endswith(".0"):
        label_text = label_text[:-2]
    if label_text not in TFNS_NAMES:
        raise InputError(f"{where}: column 'label' must be 0, 1 or 2, got {label!r}")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{where}: column 'text' is empty")
    return Item(
        id=item_id,
        question=text.strip(),
        reference=label_text,
        answer_type="label",
        category=TFNS_NAMES[label_text],
        labels=TFNS_LABELS,
    )


def tfns_items(stem: str, rows: Iterable[tuple[str, object, object]]) -> list[Item]:
    """TFNS items from ``(where, text, label)`` rows, with ids from the tweet's text, not its row position.

    The id is ``<stem>-<first 12 hex digits of the SHA-256 of the normalised text>``, so a copy of the split in
    another row order (a shuffled export, the Hub's parquet) gives every tweet the same id and ``--ids-from``
    picks the same tweets. A text seen again gets ``-2``, ``-3``, … in the order met (sent_valid has none).
    """
    seen: Counter[str] = Counter()
    items = []
    for where, text, label in rows:
        base = f"{stem}-{content_id(text if isinstance(text, str) else '', length=12)}"
        seen[base] += 1
        item_id = base if seen[base] == 1 else f"{base}-{seen[base]}"
        items.append(tfns_item(text, label, item_id, where))
    return items


def read_tfns(path: Path) -> list[Item]:
    """Read a TFNS CSV (header ``text,label``); ids come from each tweet's text (:func:`tfns_items`)."""
    path = Path(path)
    header, rows = read_csv(path, encoding="utf-8")
    require_columns(path, header, ["text", "label"])
    return tfns_items(path.stem, ((f"{path} line {line}", row["text"], row["label"]) for line, row in rows))


def load_tfns(path: Path, split: str = "valid") -> list[Item]:
    """Read a TFNS split from a folder (``sent_train.csv``/``sent_valid.csv``) or one CSV file."""
    path = Path(path)
    if path.is_dir():
        if split not in TFNS_SPLIT_FILES:
            raise InputError(f"TFNS split '{split}' is unknown (expected train or valid)")
        return read_tfns(path / TFNS_SPLIT_FILES[split])
    return read_tfns(path)


# --- multiple-choice helpers ----------------------------------------------------------------------


def _choices(row: dict[str, str], header: list[str]) -> dict[str, str]:
    return {letter: row[letter].strip() for letter in LETTERS if letter in header and row[letter].strip()}


def _check_letters(where: str, answer: str, choices: dict[str, str]) -> str:
    answer = answer.strip().upper()
    if not answer or any(ch not in choices for ch in answer):
        raise InputError(f"{where}: answer {answer!r} is not one of the options {''.join(choices)}")
    return answer


def nfkc(text: str) -> str:
    """NFKC-normalise a name so that full-width and ASCII spellings agree (``（CPA）`` = ``(CPA)``)."""
    return unicodedata.normalize("NFKC", text)


# --- Ant_Finance ----------------------------------------------------------------------------------


def _ant_root(path: Path) -> Path:
    if (path / "Ant").is_dir():
        return path / "Ant"
    if (path / "data" / "Ant").is_dir():
        return path / "data" / "Ant"
    return path


def read_ant_file(path: Path, ability: str, labelled: bool | None = True) -> list[Item]:
    """Read one Ant_Finance CSV (UTF-8 with BOM); ``labelled`` True keeps rows with an answer, False the rest."""
    header, rows = read_csv(path, encoding="utf-8-sig")
    require_columns(path, header, ["id", "question", "answer"])
    letters = [c for c in LETTERS if c in header]
    task = path.stem
    stratum = f"{ability}/{task}" if ability else task
    items = []
    for line, row in rows:
        where = f"{path} line {line}"
        answer = row["answer"].strip()
        if (labelled is True and not answer) or (labelled is False and answer):
            continue
        if not row["question"].strip():
            raise InputError(f"{where}: column 'question' is empty")
        meta = {"ability": ability, "task": task, "row_id": row["id"]}
        if letters:
            choices = _choices(row, header)
            if len(choices) < 2:
                raise InputError(f"{where}: fewer than two non-empty options")
            reference = _check_letters(where, answer, choices) if answer else ""
            items.append(
                Item(
                    id=f"{stratum}/{row['id']}",
                    question=row["question"].strip(),
                    reference=reference,
                    answer_type="choice",
                    category=stratum,
                    choices=choices,
                    context=row.get("context", "").strip(),
                    meta=meta,
                )
            )
        else:
            if answer and answer not in ("是", "否"):
                raise InputError(f"{where}: column 'answer' must be 是 or 否, got {answer!r}")
            items.append(
                Item(
                    id=f"{stratum}/{row['id']}",
                    question=row["question"].strip(),
                    reference=answer,
                    answer_type="boolean",
                    category=stratum,
                    meta=meta,
                )
            )
    return items


def read_ant_finance(path: Path, labelled: bool | None = True) -> list[Item]:
    """Read Ant_Finance from ``Ant/<ability>/<task>.csv`` (folder given as the Ant folder or its parent) or one CSV.

    Only the first rows of each file carry an ``answer`` (2,343 in all); the rest are the hidden test set.
    ``labelled=True`` keeps the labelled rows (evaluation), ``False`` only the unlabelled ones, ``None`` all.
    """
    path = Path(path)
    if path.is_file():
        return read_ant_file(path, path.parent.name, labelled)
    root = _ant_root(path)
    files = sorted(root.rglob("*.csv"))
    if not files:
        raise InputError(f"{path}: no Ant_Finance CSV files (expected Ant/<ability>/<task>.csv)")
    items: list[Item] = []
    for file in files:
        items.extend(read_ant_file(file, file.parent.name if file.parent != root else "", labelled))
    return items


# --- FinEval (SUFE) -------------------------------------------------------------------------------


def _fineval_root(path: Path) -> Path:
    for candidate in (path / "SUFE", path / "data" / "SUFE", path):
        if (candidate / "subject_map.json").is_file() or (candidate / "val").is_dir() or (candidate / "dev").is_dir():
            return candidate
    return path


def read_fineval(path: Path, split: str = "val") -> list[Item]:
    """Read FinEval ``<split>/<subject>_<split>.csv`` with ``subject_map.json`` (category = the subject group)."""
    root = _fineval_root(Path(path))
    map_path = root / "subject_map.json"
    subject_map = read_json(map_path)
    if not isinstance(subject_map, dict):
        raise InputError(f"{map_path}: expected an object mapping subject -> {{name, ch, en, subject}}")
    folder = root / split
    files = sorted(folder.glob(f"*_{split}.csv")) if folder.is_dir() else []
    if not files:
        raise InputError(f"{folder}: no FinEval {split} files (expected <subject>_{split}.csv)")
    items = []
    for file in files:
        subject = file.stem.removesuffix(f"_{split}")
        info = subject_map.get(subject)
        if not isinstance(info, dict) or "subject" not in info:
            raise InputError(f"{map_path}: no entry with a 'subject' group for '{subject}' (file {file.name})")
        header, rows = read_csv(file)
        require_columns(file, header, ["id", "question", "A", "B", "C", "D", "answer"])
        for line, row in rows:
            where = f"{file} line {line}"
            choices = _choices(row, header)
            reference = _check_letters(where, row["answer"], choices)
            meta = {"subject": subject, "subject_ch": info.get("ch", ""), "row_id": row["id"]}
            if row.get("explanation"):
                meta["explanation"] = row["explanation"]
            items.append(
                Item(
                    id=f"{subject}/{row['id']}",
                    question=row["question"].strip(),
                    reference=reference,
                    answer_type="choice",
                    category=str(info["subject"]),
                    choices=choices,
                    meta=meta,
                )
            )
    return items


# --- FinanceIQ ------------------------------------------------------------------------------------


def read_financeiq_file(path: Path) -> list[Item]:
    """Read one FinanceIQ CSV: an unnamed row-number column, then ``Question,A,B,C,D,Answer``."""
    header, rows = read_csv(path)
    require_columns(path, header, ["Question", "A", "B", "C", "D", "Answer"])
    category = nfkc(path.stem)
    items = []
    for index, (line, row) in enumerate(rows):
        where = f"{path} line {line}"
        row_id = (row.get("") or str(index)).strip()
        if not row["Question"].strip():
            raise InputError(f"{where}: column 'Question' is empty")
        choices = _choices(row, header)
        reference = _check_letters(where, row["Answer"], choices)
        items.append(
            Item(
                id=f"{category}/{row_id}",
                question=row["Question"].strip(),
                reference=reference,
                answer_type="choice",
                category=category,
                choices=choices,
                meta={"exam": category, "row_id": row_id},
            )
        )
    return items


def read_financeiq(path: Path, split: str = "test") -> list[Item]:
    """Read FinanceIQ ``<split>/<category>.csv`` (also under ``data/``, as on the Hub) or one CSV file."""
    path = Path(path)
    if path.is_file():
        return read_financeiq_file(path)
    for folder in (path / split, path / "data" / split, path):
        files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
        if files:
            items: list[Item] = []
            for file in files:
                items.extend(read_financeiq_file(file))
            return items
    raise InputError(f"{path}: no FinanceIQ {split} CSV files (expected {split}/<category>.csv)")
