"""``finr1-distill sources``: list the source adapters."""

from __future__ import annotations

import json

import click

from finr1_distill.sources.adapters import SOURCES


@click.command("sources")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per source instead of a table.")
def sources_command(as_json: bool) -> None:
    """List the source adapters: category, language, answer type, training split and Hub id."""
    rows = [
        {
            "name": a.name,
            "category": a.category,
            "language": a.language,
            "answer_type": a.answer_type,
            "train_split": a.train_split,
            "hub_id": a.hub_id or "(local files only)",
            "description": a.description,
        }
        for a in SOURCES.values()
    ]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    columns = ["name", "category", "language", "answer_type", "train_split", "hub_id"]
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        click.echo("  ".join(row[c].ljust(widths[c]) for c in columns).rstrip())
    click.echo("\nUse --data PATH for local files in the original format; 'fincuge:<task>' selects FinCUGE tasks.")
