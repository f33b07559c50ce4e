"""``finr1-evaluate benchmarks``: list the registered benchmarks."""

from __future__ import annotations

import json
from pathlib import Path

import click

from finr1_core.errors import Finr1Error
from finr1_evaluate.benchmarks.base import BENCHMARKS


@click.command("benchmarks")
@click.option(
    "--data",
    "data",
    type=click.Path(path_type=Path),
    default=None,
    help="Also count the items found under this folder (laid out like ../shared/data).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per benchmark instead of a table.")
def benchmarks_command(data: Path | None, as_json: bool) -> None:
    """List the benchmarks: name, headline, local files read, scoring, Hub id (and item counts with --data)."""
    rows = []
    for b in BENCHMARKS.values():
        row = {
            "name": b.name,
            "headline": "yes" if b.headline else "",
            "scoring": b.scoring,
            "hub_id": b.hub_id or "(local files only)",
            "items_from": b.layout,
            "stratum": b.stratum,
        }
        if data is not None:
            try:
                row["items"] = str(len(b.load(data)))
            except Finr1Error as exc:
                row["items"] = f"- ({str(exc)[:60]})" if as_json else "-"
        rows.append(row)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    columns = ["name", "headline", "scoring", "hub_id", *(["items"] if data is not None else []), "items_from"]
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        click.echo("  ".join(row[c].ljust(widths[c]) for c in columns).rstrip())
