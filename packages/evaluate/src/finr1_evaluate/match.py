"""``finr1-evaluate match``: grade a JSONL of (prediction, reference, answer_type) rows by rule.

Each input line is a JSON object with ``prediction``, ``reference`` and ``answer_type`` and optionally
``choices`` (letter → text, or a list of option texts in letter order as lm-eval writes it), ``labels`` (label → list of synonyms) and ``question``; any other fields are passed
through. Each output line is the input object plus ``extracted``, ``rule`` and ``correct`` (true, false, or null
when the rules cannot decide and a judge must). The whole file is validated before anything is written, so a
malformed line stops the run with its line number and no partial output.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

from finr1_core.answers import ANSWER_TYPES, DEFAULT_REL_TOL, match_item
from finr1_core.errors import InputError

logger = logging.getLogger(__name__)

REQUIRED_FIELDS = ("prediction", "reference", "answer_type")
ADDED_FIELDS = ("extracted", "rule", "correct")


def _check_row(row: Any, where: str) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for name in REQUIRED_FIELDS:
        if name not in row:
            raise InputError(f"{where}: missing field {name!r} (each line needs {', '.join(REQUIRED_FIELDS)})")
    if row["answer_type"] not in ANSWER_TYPES:
        raise InputError(f"{where}: answer_type {row['answer_type']!r} is not one of {', '.join(ANSWER_TYPES)}")
    if row["prediction"] is not None and not isinstance(row["prediction"], str):
        raise InputError(f"{where}: prediction must be a string or null, got {type(row['prediction']).__name__}")
    ref = row["reference"]
    if ref is not None and not isinstance(ref, str | int | float):
        raise InputError(f"{where}: reference must be a string, a number or null, got {type(ref).__name__}")
    choices = row.get("choices")
    if choices is not None and not (
        (isinstance(choices, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in choices.items()))
        or (isinstance(choices, list) and all(isinstance(v, str) for v in choices) and len(choices) <= 26)
    ):
        raise InputError(
            f'{where}: choices must be an object of letter -> option text ({{"A": "..."}}) or a list of option '
            'texts in letter order (["...", "..."], as lm-eval writes it)'
        )
    labels = row.get("labels")
    if labels is not None and not (
        isinstance(labels, dict)
        and all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in labels.values())
    ):
        raise InputError(f'{where}: labels must be an object of label -> list of synonyms, e.g. {{"0": ["bearish"]}}')
    question = row.get("question")
    if question is not None and not isinstance(question, str):
        raise InputError(f"{where}: question must be a string or null")
    for name in ADDED_FIELDS:
        if name in row:
            raise InputError(f"{where}: field {name!r} is already present; match writes it (rename the input field)")
    return row


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        handle = path.open(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from None
            except UnicodeDecodeError:
                raise InputError(f"{where}: not UTF-8 text") from None
            yield lineno, _check_row(row, where)


def _write(path: Path, out: IO[str], rel_tol: float) -> dict[str, int]:
    counts = {"rows": 0, "correct": 0, "wrong": 0, "undecided": 0}
    for _, row in _rows(path):
        # the row is an item like any other: graded by the call the reward and `run` use
        result = match_item(row["prediction"], row, rel_tol=rel_tol)
        row.update(extracted=result.extracted, rule=result.rule, correct=result.correct)
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        counts["rows"] += 1
        key = "undecided" if result.correct is None else "correct" if result.correct else "wrong"
        counts[key] += 1
    return counts


def match_file(
    input_path: str | Path, output: str | Path | IO[str] | None = None, *, rel_tol: float = DEFAULT_REL_TOL
) -> dict[str, int]:
    """Grade every line of a JSONL file and write the graded lines.

    Args:
        input_path: JSONL with ``prediction``, ``reference``, ``answer_type`` (+ optional ``choices``,
            ``labels``, ``question``, and pass-through fields).
        output: A path (written atomically), an open text stream, or ``None``/``"-"`` for stdout.
        rel_tol: Relative tolerance for numeric answers.

    Returns:
        Counts: ``rows``, ``correct``, ``wrong``, ``undecided``.

    Raises:
        InputError: The file is unreadable or a line is malformed (the message names the line); nothing is
            written in that case.
    """
    path = Path(input_path)
    for _ in _rows(path):  # validate everything first: no partial output on a bad line
        pass
    if output is None or output == "-":
        counts = _write(path, sys.stdout, rel_tol)
    elif isinstance(output, str | Path):
        target = Path(output)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                counts = _write(path, out, rel_tol)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    else:
        counts = _write(path, output, rel_tol)
    logger.info("matched %s: %s", path, counts)
    return counts


@click.command("match")
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSONL with prediction, reference, answer_type (+ choices, labels, question).",
)
@click.option("--output", "output", default="-", show_default=True, help="Output JSONL path, or - for stdout.")
@click.option(
    "--rel-tol",
    type=click.FloatRange(min=0.0),
    default=DEFAULT_REL_TOL,
    show_default=True,
    help="Relative tolerance for numeric answers, of the larger of the two numbers.",
)
def match_command(input_path: Path, output: str, rel_tol: float) -> None:
    """Grade model answers against gold answers by rule (numbers, letters, yes/no, labels)."""
    counts = match_file(input_path, None if output == "-" else output, rel_tol=rel_tol)
    click.echo(
        f"{counts['rows']} rows: {counts['correct']} correct, {counts['wrong']} wrong, "
        f"{counts['undecided']} undecided",
        err=True,
    )
