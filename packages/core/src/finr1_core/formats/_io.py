"""File reading shared by the format readers: every failure is one line naming the file and the row."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from finr1_core.errors import InputError


def require_file(path: Path, what: str = "file") -> Path:
    """Return ``path`` if it is a file, else raise a one-line :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    return path


def _open_text(path: Path, encoding: str = "utf-8") -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, newline="")
    return open(path, encoding=encoding, newline="")


def read_json(path: Path) -> Any:
    """Parse a whole JSON file (optionally gzipped)."""
    path = require_file(path)
    try:
        with _open_text(path) as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_json_list(path: Path) -> list[Any]:
    """Parse a JSON file whose top level must be a list."""
    data = read_json(path)
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list at the top level, got {type(data).__name__}")
    return data


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for each non-blank line of a JSON-lines file (optionally gzipped)."""
    path = require_file(path)
    try:
        with _open_text(path) as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path} line {lineno}: not valid JSON ({exc.msg})") from None
                if not isinstance(obj, dict):
                    raise InputError(f"{path} line {lineno}: expected a JSON object, got {type(obj).__name__}")
                yield lineno, obj
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_records(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Read a table of records from JSON lines, a JSON list of objects, CSV or Parquet.

    Returns ``(location, row)`` pairs; ``location`` names the file and the line or row for error messages.
    """
    path = require_file(path)
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson")):
        return [(f"{path} line {n}", row) for n, row in iter_jsonl(path)]
    if name.endswith(".json"):
        try:
            data = read_json(path)
        except InputError:
            # Hub "json" datasets are often JSON lines with a .json name.
            return [(f"{path} line {n}", row) for n, row in iter_jsonl(path)]
        if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
            data = next(iter(data.values()))
        if not isinstance(data, list):
            raise InputError(f"{path}: expected a JSON list of objects, got {type(data).__name__}")
        out = []
        for i, row in enumerate(data):
            if not isinstance(row, dict):
                raise InputError(f"{path} row {i}: expected a JSON object, got {type(row).__name__}")
            out.append((f"{path} row {i}", row))
        return out
    if name.endswith(".csv"):
        _, rows = read_csv(path)
        return [(f"{path} line {n}", row) for n, row in rows]
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            raise InputError(f"{path}: cannot read Parquet ({exc})") from None
        return [(f"{path} row {i}", row) for i, row in enumerate(table.to_pylist())]
    raise InputError(f"{path}: unsupported file type (expected .jsonl, .json, .csv or .parquet)")


def read_csv(path: Path, *, encoding: str = "utf-8-sig") -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Read a CSV with a header; returns the header and ``(line number, row)`` pairs.

    ``utf-8-sig`` strips the byte-order mark that several Chinese datasets start with. A row with more
    cells than the header is malformed and raises; missing trailing cells read as empty strings.
    """
    path = require_file(path)
    try:
        with _open_text(path, encoding) as fh:
            reader = csv.reader(fh)
            try:
                header = next(reader)
            except StopIteration:
                raise InputError(f"{path}: empty CSV file (no header)") from None
            header = [h.strip() for h in header]
            rows = []
            for cells in reader:
                if not cells or all(not c.strip() for c in cells):
                    continue
                if len(cells) > len(header):
                    raise InputError(
                        f"{path} line {reader.line_num}: {len(cells)} cells but the header has {len(header)}"
                    )
                cells = cells + [""] * (len(header) - len(cells))
                rows.append((reader.line_num, dict(zip(header, cells, strict=True))))
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not {encoding} text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise InputError(f"{path}: malformed CSV ({exc})") from None
    return header, rows


def require_columns(path: Path | str, header: Sequence[str], columns: Sequence[str]) -> None:
    """Raise naming the file and the missing column(s) when ``header`` lacks any of ``columns``."""
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(repr(c) for c in missing)} (found: {', '.join(header) or 'none'})"
        )


def require_keys(where: str, obj: Any, keys: Sequence[str]) -> None:
    """Raise naming ``where`` when a JSON object lacks any of ``keys``."""
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise InputError(f"{where}: missing field(s) {', '.join(repr(k) for k in missing)}")


def as_text_list(where: str, field: str, value: Any) -> list[str]:
    """Coerce a text field that should be a list of sentences (a bare string becomes one sentence)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InputError(f"{where}: field '{field}' must be a list of strings, got {type(value).__name__}")


def as_table(where: str, field: str, value: Any) -> list[list[str]]:
    """Coerce a table field (rows of cells) or raise naming the field."""
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(r, list) for r in value):
        return [[str(c) for c in row] for row in value]
    raise InputError(f"{where}: field '{field}' must be a list of rows (lists of cells)")
