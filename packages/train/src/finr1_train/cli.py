"""Command line of finr1-train (Click; heavy libraries are imported inside commands)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from finr1_core.cli import run, tool_group

cli = tool_group(
    "finr1-train", "finr1-train", "Train with TRL: SFT on judged traces, then GRPO with Fin-R1's rewards."
)

_EPILOG = (
    "Any other option is TRL's own argument, spelt as TRL spells it (--learning_rate 1e-5, --num_train_epochs 1, "
    "--bf16 false, --max_steps 20); see TRL's {cls} documentation. Every key of the recipe can also be given as a "
    "flag; flags win over the recipe."
)


def _train_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.argument("trl_args", nargs=-1, type=click.UNPROCESSED)(func)
    for option in reversed(
        [
            click.option(
                "--config",
                "config_path",
                type=click.Path(dir_okay=False),
                default=None,
                help="Recipe YAML (finr1 keys plus TRL's arguments); flags override it.",
            ),
            click.option("--model", default=None, help="Base model: local folder, hf://ORG/NAME[@REV] or 'embedded'."),
            click.option(
                "--dataset", default=None, help="Judged dataset: local folder or hf://datasets/ORG/NAME[@REV]."
            ),
            click.option("--split", default=None, help="Split to train on (default: sft / rl)."),
            click.option("--output", default=None, help="Final model: local folder or hf://ORG/NAME[@BRANCH]."),
            click.option(
                "--resume/--no-resume",
                default=None,
                help="Resume from the last checkpoint (default: when one exists) or start over.",
            ),
            click.option(
                "--dry-run",
                is_flag=True,
                help="Check the recipe and the packages it needs (DeepSpeed, vLLM), print what would run, exit.",
            ),
            click.option(
                "--accelerate-config",
                "accelerate_config",
                type=click.Path(dir_okay=False),
                default=None,
                help="The accelerate config the run is launched with (its DeepSpeed need is checked).",
            ),
        ]
    ):
        func = option(func)
    return func


def _run_command(
    kind: str,
    config_path: str | None,
    trl_args: Sequence[str],
    dry_run: bool = False,
    accelerate_config: str | None = None,
    **overrides: Any,
) -> None:
    from finr1_train.config import load_recipe
    from finr1_train.preflight import check_recipe, installed_version
    from finr1_train.train import run as run_recipe

    recipe = load_recipe(kind, config_path, overrides=overrides, trl_tokens=trl_args)  # type: ignore[arg-type]
    needed = check_recipe(recipe, accelerate_config)
    if dry_run:
        settings = recipe.settings
        click.echo(f"{kind}: recipe {recipe.source} is valid")
        click.echo(f"model: {settings.model}\ndataset: {settings.dataset} (split {settings.split})")
        click.echo(f"output: {settings.output}")
        for need in needed:
            click.echo(f"needs {need.package} {installed_version(need.package)}: {need.reason}")
        click.echo("dry run: nothing was loaded or trained")
        return
    result = run_recipe(recipe)
    click.echo(f"model: {result.output} ({result.location})")
    if result.metrics_path is not None:
        click.echo(f"metrics: {result.metrics_path}")
    if result.curves_path is not None:
        click.echo(f"curves: {result.curves_path}")


_CONTEXT = {"ignore_unknown_options": True, "allow_interspersed_args": True}


@cli.command("sft", context_settings=_CONTEXT, epilog=_EPILOG.format(cls="SFTConfig"))
@_train_options
def sft_command(config_path: str | None, trl_args: tuple[str, ...], **overrides: Any) -> None:
    """Fine-tune a model on the judge's sft split (TRL SFTTrainer, loss on the assistant turn only)."""
    _run_command("sft", config_path, trl_args, **overrides)


@cli.command("grpo", context_settings=_CONTEXT, epilog=_EPILOG.format(cls="GRPOConfig"))
@_train_options
def grpo_command(config_path: str | None, trl_args: tuple[str, ...], **overrides: Any) -> None:
    """Train the SFT model with GRPO on the judge's rl split (format + accuracy rewards, beta 0)."""
    _run_command("grpo", config_path, trl_args, **overrides)


@cli.command("slurm")
@click.argument("kind", type=click.Choice(["sft", "grpo"]))
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False), help="Recipe YAML.")
@click.option(
    "--accelerate-config",
    required=True,
    type=click.Path(dir_okay=False),
    help="accelerate config (recipes/accelerate/zero3.yaml); its machine counts are set per job.",
)
@click.option("--nodes", type=int, required=True, help="Training nodes (GRPO in vLLM server mode adds one for vLLM).")
@click.option(
    "--gpus-per-node", type=int, default=None, help="Default: the accelerate config's processes per machine."
)
@click.option("--vllm-tensor-parallel-size", type=int, default=1, show_default=True, help="GPUs per vLLM replica.")
@click.option("--partition", default=None, help="#SBATCH --partition.")
@click.option("--time", "time_limit", default=None, help="#SBATCH --time (e.g. 2-00:00:00).")
@click.option("--job-name", default=None, help="#SBATCH --job-name (default finr1-KIND).")
@click.option("--venv", default=None, help="Virtual environment activated on every node.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None, help="Write here (default stdout).")
def slurm_command(kind: str, config_path: str, out_path: str | None, **options: Any) -> None:
    """Render a Slurm batch script that runs the recipe over several nodes (accelerate; vLLM server node for GRPO)."""
    from pathlib import Path

    from finr1_train.slurm import render

    script_name = out_path or "job.slurm"
    text = render(kind, config_path, nodes=options.pop("nodes"), script_name=script_name, **options)  # type: ignore[arg-type]
    if out_path is None:
        click.echo(text, nl=False)
        return
    Path(out_path).write_text(text, encoding="utf-8")
    Path(out_path).chmod(0o755)
    click.echo(f"wrote {out_path}")


@cli.command("rewards")
def rewards_command() -> None:
    """List the reward functions a GRPO recipe can name under rewards:."""
    from finr1_train import rewards

    def first_line(obj: Any) -> str:
        return (obj.__doc__ or "").strip().splitlines()[0].replace("``", "")

    for name, func in sorted(rewards.REWARDS.items()):
        click.echo(f"{name:<13} {first_line(func)}")
    for name, factory in sorted(rewards.CONFIGURED_REWARDS.items()):
        click.echo(f"{name:<13} {first_line(factory)} (needs a verifier: section)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `finr1-train` console script."""
    return run(cli, argv)


if __name__ == "__main__":
    raise SystemExit(main())
