"""Command line of finr1-judge (Click; heavy libraries are imported inside commands)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from finr1_core.cli import config_option, echo, flag_overrides, min_usable_option, run, tool_group

cli = tool_group(
    "finr1-judge",
    "finr1-judge",
    "Filter distilled traces with Fin-R1's two-round judge into sft, rl and rejected splits.",
)


#: Config key -> the `run` option that sets it (errors about a value name the option the user typed).
FLAG_KEYS = {
    "input": "input_ref",
    "output": "output",
    "judge.base_url": "base_url",
    "judge.model": "model",
    "judge.api_key_env": "api_key_env",
    "concurrency": "concurrency",
    "shard": "shard",
    "limit": "limit",
    "progress": "progress",
    "min_usable": "min_usable",
}


@cli.command("run")
@config_option
@click.option(
    "--input", "input_ref", default=None, help="Distilled dataset: a local directory or hf://datasets/ORG/NAME[@REV]."
)
@click.option("--output", default=None, help="Output dataset: a local directory or hf://datasets/ORG/NAME[@BRANCH].")
@click.option("--base-url", default=None, help="Judge endpoint (OpenAI-compatible), e.g. http://localhost:8000/v1.")
@click.option("--model", default=None, help="Judge model id (default Qwen2.5-72B-Instruct).")
@click.option("--api-key-env", default=None, metavar="VAR", help="NAME of the env var holding the judge's key.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None, help="Requests in flight at once.")
@click.option("--shard", default=None, metavar="I/N", help="Judge only shard I of N (0-based), split by item id.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Judge only the first N rows (smoke runs).")
@min_usable_option
@click.option("--progress/--no-progress", default=None, help="Show the progress bar.")
def run_command(config_path: str | None, **flags: Any) -> None:
    """Judge distilled traces in two rounds and route them to sft, rl and rejected (resumable)."""
    from finr1_core.config import load_config
    from finr1_judge.config import JudgeConfig
    from finr1_judge.run import derived, render_summary, run_judge

    overrides, names = flag_overrides(flags, FLAG_KEYS)
    config = load_config(JudgeConfig, config_path, overrides, flags=names)
    result = run_judge(config)
    echo(render_summary(result.summary))
    d = derived(result.summary)
    state = "complete" if result.complete else "this shard written; waiting for the other shards"
    null_rate = d["round1_null_rate"]
    echo(
        f"-> {result.output} ({state}); round-1 null-verdict rate "
        f"{'n/a' if null_rate is None else f'{100 * null_rate:.1f}%'}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `finr1-judge` console script."""
    return run(cli, argv)


if __name__ == "__main__":
    raise SystemExit(main())
