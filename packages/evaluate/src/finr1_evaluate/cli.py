"""Command line of finr1-evaluate (Click; heavy libraries are imported inside commands)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from finr1_core.cli import config_option, echo, flag_overrides, run, tool_group
from finr1_evaluate.match import match_command

cli = tool_group(
    "finr1-evaluate", "finr1-evaluate", "Evaluate a model on the Fin-R1 financial benchmark suite and write reports."
)


class _LazyCommand(click.Command):
    """A subcommand imported only when it runs (the benchmark registry reads format modules: ~0.15 s)."""

    def __init__(self, name: str, target: str, short_help: str) -> None:
        super().__init__(name, short_help=short_help, help=short_help)
        self._target = target

    def _load(self) -> click.Command:
        import importlib

        module, _, attr = self._target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        # The real command parses the arguments, shows its own --help and is what Group.invoke runs.
        return self._load().make_context(info_name, args, parent=parent, **extra)


cli.add_command(match_command, "match")
cli.add_command(
    _LazyCommand(
        "benchmarks",
        "finr1_evaluate.benchmarks:benchmarks_command",
        "List the benchmarks: name, headline, scoring, Hub id, local files (item counts with --data).",
    )
)


def _split_names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]


#: Config key -> the `run` option that sets it (errors about a value name the option the user typed).
FLAG_KEYS = {
    "benchmarks": "benchmark",
    "data": "data",
    "samples": "samples",
    "model.base_url": "base_url",
    "model.model": "model",
    "model_ref": "model_ref",
    "model.api_key_env": "api_key_env",
    "model.api_mode": "api_mode",
    "model.prompt_format": "prompt_format",
    "sampling.temperature": "temperature",
    "sampling.top_p": "top_p",
    "sampling.max_tokens": "max_tokens",
    "system_prompt": "system_prompt",
    "prompt_variant": "prompt_variant",
    "judge.base_url": "judge_base_url",
    "judge.model": "judge_model",
    "judge.api_key_env": "judge_api_key_env",
    "limit": "limit",
    "sample_size": "sample_size",
    "seed": "seed",
    "ids_from": "ids_from",
    "concurrency": "concurrency",
    "rescore": "rescore",
    "force": "force",
    "min_usable.generations": "min_usable",
    "min_usable.verdicts": "min_usable",
    "output": "output",
    "label": "label",
}


@cli.command("run")
@click.option("--benchmark", "benchmark", metavar="NAME[,NAME...]", help="Benchmarks to run (see `benchmarks`).")
@click.option(
    "--data", metavar="PATH|NAME=PATH,...", help="Local data instead of the Hub: one path, or per benchmark."
)
@click.option("--samples", is_flag=True, default=None, help="Use each benchmark's small shipped sample.")
@click.option("--base-url", metavar="URL", help="Model endpoint, e.g. http://127.0.0.1:8000/v1.")
@click.option("--model", metavar="NAME", help="Model name the endpoint serves.")
@click.option(
    "--model-ref",
    metavar="REF",
    help="The weights the endpoint serves (hf://ORG/NAME[@REV], a folder or `embedded`): its revision is recorded.",
)
@click.option("--api-key-env", metavar="VAR", help="Environment variable holding the model endpoint's key.")
@click.option(
    "--api-mode",
    type=click.Choice(["chat", "completions"]),
    help="chat: OpenAI chat completions (default). completions: raw HTTP mode, a prompt string POSTed to "
    "{base_url}/completions (or to the URL itself when it does not end in /v1).",
)
@click.option("--prompt-format", type=click.Choice(["plain", "chatml"]), help="completions mode: prompt layout.")
@click.option("--temperature", type=float, help="Sampling temperature [0.6].")
@click.option("--top-p", type=float, help="Nucleus sampling top_p [0.95].")
@click.option("--max-tokens", type=int, help="Max new tokens per answer [4096].")
@click.option("--system-prompt", metavar="TEXT", help="System prompt (Fin-R1's evaluation sent none).")
@click.option("--prompt-variant", type=click.Choice(["faithful", "clean"]), help="Prompt texts [faithful].")
@click.option("--judge-base-url", metavar="URL", help="LLM judge endpoint; unset = rules only.")
@click.option("--judge-model", metavar="NAME", help="Judge model [gpt-4o].")
@click.option("--judge-api-key-env", metavar="VAR", help="Environment variable holding the judge's key.")
@click.option("--limit", type=int, help="At most N items per benchmark (stratified, seeded).")
@click.option("--sample-size", type=int, help="Items per benchmark when the set is larger [1000].")
@click.option("--seed", type=int, help="Sampling seed [42].")
@click.option(
    "--ids-from", metavar="REF", help="Evaluate the items another evaluation sampled (its folder or hf:// ref)."
)
@click.option("--concurrency", type=int, help="Concurrent model requests [16].")
@click.option(
    "--rescore", is_flag=True, default=None, help="Re-score the responses already generated; never generate."
)
@click.option("--force", is_flag=True, default=None, help="Replace a complete output even if its config differs.")
@click.option("--label", help="Row name in results.md and merged reports [the model name].")
@click.option(
    "--min-usable",
    type=click.FloatRange(0, 1),
    metavar="SHARE",
    help="Fail (no output) when a benchmark's share of usable model answers or judge verdicts is below this "
    "(sets min_usable.generations and min_usable.verdicts; default 0.9 each; 0: never).",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
@click.option("--output", metavar="DIR|hf://datasets/ORG/NAME[@BRANCH]", help="Where the evaluation artifact goes.")
@config_option
def run_command(config_path: str | None, no_progress: bool, **flags: Any) -> None:
    """Evaluate a model endpoint on benchmarks; write an artifact: sample splits, card with results, lineage."""
    from finr1_core.config import load_config
    from finr1_evaluate.config import EvalConfig
    from finr1_evaluate.run import run_evaluation

    flags["benchmark"] = _split_names(flags["benchmark"])
    overrides, names = flag_overrides(flags, FLAG_KEYS)
    cfg = load_config(EvalConfig, config_path, overrides, flags=names)
    outcome = run_evaluation(cfg, progress=not no_progress)
    results = outcome.results
    width = max((len(name) for name in results["benchmarks"]), default=9)
    for name, entry in results["benchmarks"].items():
        ci = entry.get("ci95") or [None, None]
        if entry.get("accuracy") is None:  # nothing scorable: every item failed generation or judging
            score = "n/a  (no scored items"
        else:
            score = f"{entry['accuracy']}%  (95% CI {ci[0]}–{ci[1]}"
        echo(
            f"{name:<{width}}  {score}, n={entry.get('n_scored')}, "
            f"rule-only {_pct((entry.get('rule_only') or {}).get('accuracy'))}, "
            f"judge failed {entry.get('judge_failures')}, generation errors {entry.get('generation_errors')})"
        )
    if outcome.written:
        at = f" at {outcome.revision[:12]}" if outcome.output.startswith("hf://") and outcome.revision else ""
        echo(f"wrote {outcome.output}{at} (one split per benchmark, README.md, lineage.json)")
    else:
        echo(f"{outcome.output} is already complete for this config; left alone (--force redoes it)")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value}%"


@cli.command("report")
@click.argument("refs", nargs=-1, required=True, metavar="REF...")
@click.option("--output", type=click.Path(file_okay=False), help="Write results.md and results.png here.")
@click.option("--title", help="Title of the table and chart.")
def report_command(refs: Sequence[str], output: str | None, title: str | None) -> None:
    """Merge evaluations (artifact folders or hf://datasets/ORG/NAME@REV) into one table (printed) and a chart."""
    from finr1_evaluate.report import merge_results, render_markdown, write_reports

    results = merge_results(refs)
    echo(render_markdown(results, title or "finr1-evaluate results"))
    if output:
        paths = write_reports(results, output, title=title)
        echo("wrote " + ", ".join(str(p) for p in paths))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `finr1-evaluate` console script."""
    return run(cli, argv)


if __name__ == "__main__":
    raise SystemExit(main())
