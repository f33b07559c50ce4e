"""Command line of finr1-distill (Click; heavy libraries are imported inside commands)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from finr1_core.cli import config_option, echo, flag_overrides, min_usable_option, run, tool_group
from finr1_distill.sources import sources_command

cli = tool_group(
    "finr1-distill", "finr1-distill", "Distil reasoning traces from a teacher model over financial source datasets."
)
cli.add_command(sources_command)


#: Config key -> the `run` option that sets it (errors about a value name the option the user typed).
FLAG_KEYS = {
    "samples": "samples",
    "output": "output",
    "teacher.base_url": "base_url",
    "teacher.model": "model",
    "teacher.api_key_env": "api_key_env",
    "teacher.max_tokens": "max_tokens",
    "concurrency": "concurrency",
    "samples_per_item": "samples_per_item",
    "limit": "limit",
    "shard": "shard",
    "progress": "progress",
    "min_usable": "min_usable",
}


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
@min_usable_option
@click.option("--progress/--no-progress", default=None, help="Show the progress bar.")
def run_command(config_path: str | None, sources: tuple[str, ...], data: str | None, **flags: Any) -> None:
    """Distil reasoning traces from a teacher into a dataset (resumable: run again after a crash)."""
    from finr1_core.config import load_config
    from finr1_distill.config import DistillConfig
    from finr1_distill.run import run_distill

    if data is not None and len(sources) != 1:
        raise click.UsageError("--data needs exactly one --source (the source whose files it holds)")
    overrides, names = flag_overrides(flags, FLAG_KEYS)
    config = load_config(DistillConfig, config_path, overrides, flags=names)
    if sources:
        configured = {spec.name: spec for spec in config.sources}
        chosen = []
        for name in sources:
            spec = configured.get(name)
            entry = spec.model_dump() if spec is not None else {"name": name}
            if data is not None:
                entry["data"] = data
            chosen.append(entry)
        # The same file and flags again, with the chosen sources: every setting keeps the name the user gave it.
        config = load_config(DistillConfig, config_path, {**overrides, "sources": chosen}, flags=names)
    result = run_distill(config)
    s = result.summary
    errors = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in s.get("errors", {}).items() if v) or "none"
    removed = s.get("decontamination", {}).get("removed", 0)
    state = "complete" if result.complete else "this shard written; waiting for the other shards"
    echo(
        f"distilled {s.get('rows', 0)} rows ({s.get('ok', 0)} usable; flagged: {errors}); "
        f"removed {removed} contaminated items -> {result.output} ({state})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `finr1-distill` console script."""
    return run(cli, argv)


if __name__ == "__main__":
    raise SystemExit(main())
