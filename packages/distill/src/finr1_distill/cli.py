"""Command line of finr1-distill (Click; heavy libraries are imported inside commands)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from finr1_core.cli import config_option, force_option, left_alone_line, run, tool_group
from finr1_distill.sources import sources_command

cli = tool_group(
    "finr1-distill", "finr1-distill", "Distil reasoning traces from a teacher model over financial source datasets."
)
cli.add_command(sources_command)


@cli.command("run")
@config_option
@click.option(
    "--source",
    "sources",
    multiple=True,
    metavar="NAME",
    help="Distil only this source (repeatable); its quota and data from --config are kept.",
)
@click.option("--data", type=click.Path(), default=None, help="Local files of the (single) --source, original format.")
@click.option("--samples/--no-samples", default=None, help="Read the shipped sample of each source without --data.")
@click.option("--output", default=None, help="Output dataset: a local directory or hf://datasets/ORG/NAME[@BRANCH].")
@click.option("--base-url", default=None, help="Teacher endpoint (OpenAI-compatible), e.g. http://localhost:8000/v1.")
@click.option("--model", default=None, help="Teacher model id.")
@click.option("--api-key-env", default=None, metavar="VAR", help="NAME of the env var holding the teacher's key.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None, help="Requests in flight at once.")
@click.option("--samples-per-item", type=click.IntRange(min=1), default=None, help="Generations per prompt.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Read at most N items per source.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=None, help="Teacher max_tokens (default 16384).")
@click.option("--shard", default=None, metavar="I/N", help="Distil only shard I of N (0-based), split by item id.")
@click.option("--progress/--no-progress", default=None, help="Show the progress bar.")
@click.option(
    "--allow-unreferenced",
    is_flag=True,
    default=None,
    help="Distil objective items that have no reference (the judge cannot check them; refused by default).",
)
@force_option
def run_command(
    config_path: str | None, sources: tuple[str, ...], data: str | None, force: bool, **flags: Any
) -> None:
    """Distil reasoning traces from a teacher into a dataset (resumable: run again after a crash)."""
    from finr1_core.config import load_config
    from finr1_distill.config import DistillConfig
    from finr1_distill.run import run_distill

    if data is not None and len(sources) != 1:
        raise click.UsageError("--data needs exactly one --source (the source whose files it holds)")
    overrides = {
        "samples": flags["samples"],
        "output": flags["output"],
        "teacher.base_url": flags["base_url"],
        "teacher.model": flags["model"],
        "teacher.api_key_env": flags["api_key_env"],
        "teacher.max_tokens": flags["max_tokens"],
        "concurrency": flags["concurrency"],
        "samples_per_item": flags["samples_per_item"],
        "limit": flags["limit"],
        "shard": flags["shard"],
        "progress": flags["progress"],
        "allow_unreferenced": flags["allow_unreferenced"],
    }
    config = load_config(DistillConfig, config_path, overrides)
    if sources:
        configured = {spec.name: spec for spec in config.sources}
        chosen = []
        for name in sources:
            spec = configured.get(name)
            entry = spec.model_dump() if spec is not None else {"name": name}
            if data is not None:
                entry["data"] = data
            chosen.append(entry)
        config = load_config(DistillConfig, None, {**config.model_dump(), "sources": chosen})
    result = run_distill(config, force=force)
    if result.skipped:
        click.echo(left_alone_line(result.output, result.complete, "the teacher"))
        return
    s = result.summary
    errors = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in s.get("errors", {}).items() if v) or "none"
    removed = s.get("decontamination", {}).get("removed", 0)
    state = "complete" if result.complete else "this shard written; waiting for the other shards"
    click.echo(
        f"distilled {s.get('rows', 0)} rows ({s.get('ok', 0)} usable; flagged: {errors}); "
        f"removed {removed} contaminated items -> {result.output} ({state})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `finr1-distill` console script."""
    return run(cli, argv)


if __name__ == "__main__":
    raise SystemExit(main())
