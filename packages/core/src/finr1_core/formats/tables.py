"""Table rendering for the prompt shapes of RECIPE.md §2 and §7."""

from __future__ import annotations

import html


def parse_pipe_table(text: str) -> list[list[str]]:
    """Split a Program-of-Thoughts table (``a | b | c`` rows, header first) into rows of cells."""
    rows = []
    for line in text.splitlines():
        if line.strip():
            rows.append([cell.strip() for cell in line.split("|")])
    return rows


def table_to_text(rows: list[list[str]]) -> str:
    """One line per row, cells joined by `` | `` (the distillation prompts' "Table Data" block)."""
    return "\n".join(" | ".join(cell for cell in row) for row in rows)


def table_to_python(rows: list[list[str]]) -> str:
    """The table as a Python list of rows, as the Fin-R1 FinQA evaluation adapter sent it (RECIPE.md §7)."""
    return repr([list(row) for row in rows])


def table_to_html(rows: list[list[str]]) -> str:
    """The ConvFinQA shape: ``<table class='wikitable'>`` with a row-number column, as in the AMT annotation."""
    parts = ["<table class='wikitable'>"]
    for number, row in enumerate(rows, start=1):
        cells = "".join(f"<td>{html.escape(cell, quote=False)}</td>" for cell in row)
        parts.append(f"<tr><td>{number}</td>{cells}</tr>")
    parts.append("</table>")
    return "".join(parts)
