"""`finr1-evaluate match`: JSONL in, graded JSONL out, clear errors for malformed lines."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from finr1_core.errors import InputError
from finr1_evaluate.match import match_command, match_file

ROWS = [
    {
        "id": "finqa-1",
        "prediction": "<think>\n8.1/56\n</think>\n\\boxed{14.46\\%}",
        "reference": 0.14464,
        "answer_type": "numeric",
        "question": "what percentage of facilities are leased?",
    },
    {
        "id": "ant-1",
        "prediction": "答案：C",
        "reference": "B",
        "answer_type": "choice",
        "choices": {"A": "3000", "B": "23173", "C": "27754", "D": "10943"},
    },
    {
        "id": "tfns-1",
        "prediction": "\\boxed{Bearish}",
        "reference": 0,
        "answer_type": "label",
        "labels": {"0": ["bearish"], "1": ["bullish"], "2": ["neutral"]},
    },
    {
        "id": "fi-1",
        "prediction": "Diversification reduces risk.",
        "reference": "It lowers risk.",
        "answer_type": "text",
        "meta": {"k": [1, 2]},
    },
    {"id": "empty", "prediction": None, "reference": "yes", "answer_type": "boolean"},
]


def _write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_match_to_stdout(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "cases.jsonl", ROWS)
    result = CliRunner().invoke(match_command, ["--input", str(src)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["correct"] for row in lines] == [True, False, True, None, False]
    assert [row["extracted"] for row in lines] == ["14.46%", "C", "0", "Diversification reduces risk.", ""]
    assert lines[0]["rule"] == "boxed"
    assert lines[3]["meta"] == {"k": [1, 2]}  # pass-through fields survive
    assert lines[0]["id"] == "finqa-1"
    assert "5 rows: 2 correct, 2 wrong, 1 undecided" in result.stderr


def test_match_to_file_and_counts(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "cases.jsonl", ROWS)
    out = tmp_path / "sub" / "out.jsonl"
    result = CliRunner().invoke(match_command, ["--input", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == len(ROWS)
    assert match_file(src, tmp_path / "again.jsonl") == {"rows": 5, "correct": 2, "wrong": 2, "undecided": 1}


def test_match_file_to_stream_and_rel_tol(tmp_path: Path) -> None:
    src = _write_jsonl(
        tmp_path / "c.jsonl", [{"prediction": "\\boxed{3,260}", "reference": 3297.67, "answer_type": "numeric"}]
    )
    buf = io.StringIO()
    assert match_file(src, buf)["wrong"] == 1  # 1.1% off: beyond the default 1%
    assert match_file(src, io.StringIO(), rel_tol=0.02)["correct"] == 1
    result = CliRunner().invoke(match_command, ["--input", str(src), "--rel-tol", "0.02"])
    assert json.loads(result.stdout)["correct"] is True


def test_choices_as_a_list_in_letter_order_as_lm_eval_writes_them(tmp_path: Path) -> None:
    options = ["3000", "23173", "27754", "10943"]
    rows = [
        {"prediction": "答案：C", "reference": "C", "answer_type": "choice", "choices": options},
        {"prediction": "The answer is 27754.", "reference": "C", "answer_type": "choice", "choices": options},
        {"prediction": "The answer is 27754.", "reference": 2, "answer_type": "choice", "choices": options},
        {"prediction": "答案：A", "reference": 2, "answer_type": "choice", "choices": options},
    ]
    out = io.StringIO()
    assert match_file(_write_jsonl(tmp_path / "c.jsonl", rows), out)["correct"] == 3
    graded = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(g["extracted"], g["correct"]) for g in graded] == [("C", True), ("C", True), ("C", True), ("A", False)]
    assert graded[0]["choices"] == options  # the row is written back as it came


def test_blank_lines_are_not_rows(tmp_path: Path) -> None:
    src = tmp_path / "c.jsonl"
    src.write_text("\n" + json.dumps(ROWS[1]) + "\n\n", encoding="utf-8")
    assert match_file(src, io.StringIO())["rows"] == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "c.jsonl:2: invalid JSON"),
        (json.dumps({"prediction": "5", "answer_type": "numeric"}), "c.jsonl:2: missing field 'reference'"),
        (json.dumps({"prediction": "5", "reference": 5, "answer_type": "number"}), "c.jsonl:2: answer_type 'number'"),
        (json.dumps([1, 2]), "c.jsonl:2: expected a JSON object"),
        (json.dumps({"prediction": 5, "reference": 5, "answer_type": "numeric"}), "c.jsonl:2: prediction must be"),
        (
            json.dumps({"prediction": "B", "reference": "B", "answer_type": "choice", "choices": [1, 2]}),
            "c.jsonl:2: choices must be",
        ),
        (
            json.dumps({"prediction": "B", "reference": "B", "answer_type": "choice", "choices": "A, B"}),
            "c.jsonl:2: choices must be",
        ),
        (
            json.dumps({"prediction": "0", "reference": 0, "answer_type": "label", "labels": {"0": "bearish"}}),
            "c.jsonl:2: labels must be",
        ),
        (
            json.dumps({"prediction": "5", "reference": 5, "answer_type": "numeric", "correct": True}),
            "c.jsonl:2: field 'correct' is already present",
        ),
    ],
)
def test_malformed_line_names_line_and_writes_nothing(tmp_path: Path, line: str, message: str) -> None:
    src = tmp_path / "c.jsonl"
    src.write_text(json.dumps(ROWS[0]) + "\n" + line + "\n" + json.dumps(ROWS[1]) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(match_command, ["--input", str(src), "--output", str(out)])
    assert isinstance(result.exception, InputError)
    assert message in str(result.exception)
    assert "\n" not in str(result.exception)
    assert not out.exists()
    assert list(tmp_path.glob(".out.jsonl.*")) == []
    stdout_run = CliRunner().invoke(match_command, ["--input", str(src)])
    assert isinstance(stdout_run.exception, InputError)
    assert stdout_run.stdout == ""  # validated before the first row is written


def test_missing_input_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        match_file(tmp_path / "absent.jsonl", io.StringIO())


def test_help_is_instant() -> None:
    result = CliRunner().invoke(match_command, ["--help"])
    assert result.exit_code == 0
    assert "--input" in result.output and "--rel-tol" in result.output
