"""ConvFinQA (``czyssrs/ConvFinQA``): official conversation and turn files, and the Program-of-Thoughts copy.

* Official conversation level (``train.json``, ``dev.json``): ``annotation.dialogue_break`` (the questions),
  ``annotation.turn_program`` and ``annotation.exe_ans_list`` (the gold of each turn).
* Official turn level (``train_turn.json``, ``dev_turn.json``): one row per turn, with ``cur_dial`` (the
  questions so far), ``exe_ans`` (this turn's gold) and ``turn_ind`` — inside ``annotation`` or at the top
  level (both layouts are accepted).
* Program-of-Thoughts (``wenhuchen/Program-of-Thoughts`` ``convfinqa_dev.json``): ``questions``,
  ``programs`` (one Python arithmetic snippet per turn), ``answer`` (final-turn gold), ``text``, ``table``
  (pipe rows). Turn *i*'s gold is ``ans`` after ``programs[i]``, computed by :mod:`finr1_core.formats.pot`;
  the final turn uses ``answer`` itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finr1_core.errors import InputError
from finr1_core.formats._io import as_table, as_text_list, read_json_list, require_keys
from finr1_core.formats.pot import ProgramError, evaluate_program
from finr1_core.formats.records import ConvTurn, gold_text
from finr1_core.formats.tables import parse_pipe_table

SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "train": ("train_turn.json", "train.json"),
    "dev": ("dev_turn.json", "dev.json", "convfinqa_dev.json"),
    "test": ("test_turn.json", "test.json"),
}


def _golds(where: str, values: list[Any]) -> tuple[list[str], list[str]]:
    refs, types = [], []
    for i, value in enumerate(values):
        try:
            ref, kind = gold_text(value)
        except ValueError as exc:
            raise InputError(f"{where}: turn {i} gold {exc}") from None
        refs.append(ref)
        types.append(kind)
    return refs, types


def _questions(where: str, value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(q, str) for q in value):
        raise InputError(f"{where}: field '{field}' must be a non-empty list of question strings")
    return [q.strip() for q in value]


def _pot_turns(row: dict[str, Any], where: str, source_file: str) -> list[ConvTurn]:
    require_keys(where, row, ["id", "questions", "programs", "answer"])
    questions = _questions(where, row["questions"], "questions")
    programs = row["programs"]
    if not isinstance(programs, list) or len(programs) != len(questions):
        raise InputError(f"{where}: field 'programs' must list one program per question ({len(questions)})")
    values: list[Any] = []
    for i, program in enumerate(programs):
        try:
            value = evaluate_program(str(program))
        except ProgramError as exc:
            raise InputError(f"{where} (id {row['id']}) turn {i}: program {program!r}: {exc}") from None
        values.append(value)
    values[-1] = row["answer"]  # the published final gold wins over our own execution
    answers, types = _golds(f"{where} (id {row['id']})", values)
    table = (
        parse_pipe_table(row["table"])
        if isinstance(row.get("table"), str)
        else as_table(where, "table", row.get("table"))
    )
    return [
        ConvTurn(
            conv_id=str(row["id"]),
            turn=i,
            questions=questions,
            answers=answers,
            answer_types=types,
            pre_text=as_text_list(where, "text", row.get("text")),
            post_text=[],
            table=table,
            n_turns=len(questions),
            program=str(programs[i]),
            filename="",
            source_file=source_file,
        )
        for i in range(len(questions))
    ]


def _official_turns(row: dict[str, Any], where: str, source_file: str) -> list[ConvTurn]:
    require_keys(where, row, ["id", "annotation"])
    ann = row["annotation"]
    if not isinstance(ann, dict):
        raise InputError(f"{where}: field 'annotation' must be an object")
    common: dict[str, Any] = dict(
        pre_text=as_text_list(where, "pre_text", row.get("pre_text")),
        post_text=as_text_list(where, "post_text", row.get("post_text")),
        table=as_table(where, "table", row.get("table")),
        filename=str(row.get("filename") or ""),
        source_file=source_file,
    )
    cur_dial = ann.get("cur_dial", row.get("cur_dial"))
    if cur_dial is not None:  # turn-level file: one row is one turn
        questions = _questions(where, cur_dial, "cur_dial")
        turn = ann.get("turn_ind", row.get("turn_ind", len(questions) - 1))
        if not isinstance(turn, int) or turn != len(questions) - 1:
            raise InputError(
                f"{where}: field 'turn_ind' ({turn!r}) does not match cur_dial ({len(questions)} questions)"
            )
        if "exe_ans" not in ann and "exe_ans" not in row:
            raise InputError(f"{where}: missing field 'exe_ans'")
        earlier = list(ann.get("exe_ans_list") or [])[:turn]
        if len(earlier) != turn:
            raise InputError(f"{where}: field 'exe_ans_list' has fewer than {turn} answers for the dialogue so far")
        answers, types = _golds(where, [*earlier, ann.get("exe_ans", row.get("exe_ans"))])
        conv_id = str(row["id"])
        conv_id = conv_id.removesuffix(f"_{turn}") if conv_id.endswith(f"_{turn}") else conv_id
        n_turns = len(ann.get("dialogue_break") or questions)
        program = str(ann.get("cur_program", row.get("cur_program", "")) or "")
        return [
            ConvTurn(
                conv_id=conv_id,
                turn=turn,
                questions=questions,
                answers=answers,
                answer_types=types,
                n_turns=n_turns,
                program=program,
                **common,
            )
        ]
    require_keys(f"{where} field 'annotation'", ann, ["dialogue_break", "exe_ans_list"])
    questions = _questions(where, ann["dialogue_break"], "annotation.dialogue_break")
    golds = ann["exe_ans_list"]
    if not isinstance(golds, list) or len(golds) != len(questions):
        raise InputError(
            f"{where}: field 'annotation.exe_ans_list' must have one answer per question ({len(questions)})"
        )
    answers, types = _golds(f"{where} (id {row['id']})", golds)
    programs = ann.get("turn_program") or [""] * len(questions)
    return [
        ConvTurn(
            conv_id=str(row["id"]),
            turn=i,
            questions=questions,
            answers=answers,
            answer_types=types,
            n_turns=len(questions),
            program=str(programs[i]) if i < len(programs) else "",
            **common,
        )
        for i in range(len(questions))
    ]


def parse_convfinqa_row(row: Any, where: str, source_file: str = "") -> list[ConvTurn]:
    """Parse one row of any ConvFinQA layout into its turns."""
    if not isinstance(row, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(row).__name__}")
    if "programs" in row or "questions" in row:
        return _pot_turns(row, where, source_file)
    if "annotation" in row or "cur_dial" in row:
        return _official_turns(row, where, source_file)
    raise InputError(f"{where}: not a ConvFinQA row (expected 'annotation' or 'questions'/'programs' fields)")


def read_convfinqa(path: Path) -> list[ConvTurn]:
    """Read one ConvFinQA JSON file into turns, in file order."""
    path = Path(path)
    turns: list[ConvTurn] = []
    for i, row in enumerate(read_json_list(path)):
        turns.extend(parse_convfinqa_row(row, f"{path} row {i}", path.name))
    return turns


def load_convfinqa(path: Path, split: str = "dev") -> list[ConvTurn]:
    """Read a ConvFinQA split from a folder (the first file of the split found) or one file."""
    path = Path(path)
    if path.is_file():
        return read_convfinqa(path)
    if split not in SPLIT_FILES:
        raise InputError(f"ConvFinQA split '{split}' is unknown (expected one of: {', '.join(SPLIT_FILES)})")
    if not path.is_dir():
        raise InputError(f"{path}: ConvFinQA folder or file not found")
    for name in SPLIT_FILES[split]:
        if (path / name).is_file():
            return read_convfinqa(path / name)
    raise InputError(f"{path}: no ConvFinQA {split} file (expected one of: {', '.join(SPLIT_FILES[split])})")
