"""`finr1-pipeline run`: the entry point behind `nox -s pipeline`."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Sequence
from pathlib import Path

import click

from finr1_core.cli import run as run_group
from finr1_core.cli import tool_group

cli = tool_group("finr1-pipeline", "finr1-pipeline", "Run the finr1 stages in order, skipping complete ones.")


@cli.command("run")
@click.option(
    "--config",
    "config_path",
    default="configs/pipeline/embedded.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Pipeline file.",
)
@click.option(
    "--runner",
    type=click.Choice(["local", "docker", "compose"]),
    default="local",
    show_default=True,
    help="local processes, one container per stage (Docker SDK), or compose/pipeline.yaml.",
)
@click.option("--compose-file", default="compose/pipeline.yaml", show_default=True, type=click.Path(dir_okay=False))
@click.option(
    "--artifacts",
    default=None,
    type=click.Path(file_okay=False),
    help="Artifacts folder instead of the pipeline file's `artifacts`.",
)
@click.option("--force", is_flag=True, help="Re-run steps whose outputs are already complete.")
@click.option("--dry-run", is_flag=True, help="Print the commands (or container specs) without running them.")
def run_command(
    config_path: str, runner: str, compose_file: str, artifacts: str | None, force: bool, dry_run: bool
) -> None:
    """Run a pipeline file end to end and print the wall time of each stage."""
    import signal
    import sys

    from finr1_pipeline.config import load_pipeline
    from finr1_pipeline.plan import Plan, preflight

    # A terminated pipeline must still stop the servers it started (LocalRunner cleans up in `finally`).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path.cwd()
    cfg = load_pipeline(config_path)
    if artifacts is not None:
        cfg = cfg.model_copy(update={"artifacts": artifacts})
    plan = Plan(cfg, root)
    if dry_run:
        _dry_run(plan, runner, Path(compose_file))
        return
    preflight(cfg)
    started = time.monotonic()
    if runner == "local":
        from finr1_pipeline.local import LocalRunner

        results = LocalRunner(plan, force=force).run()
    elif runner == "docker":
        from finr1_pipeline.containers import DockerRunner

        results = DockerRunner(plan, force=force).run()
    else:
        from finr1_pipeline.containers import ComposeRunner

        results = ComposeRunner(plan, Path(compose_file)).run()
    total = time.monotonic() - started
    report = plan.artifacts / "report"
    report.mkdir(parents=True, exist_ok=True)
    rows = [{"step": r.name, "status": r.status, "seconds": round(r.seconds, 1)} for r in results]
    (report / "pipeline_timings.json").write_text(
        json.dumps({"pipeline": cfg.name, "runner": runner, "total_seconds": round(total, 1), "steps": rows}, indent=2)
        + "\n",
        encoding="utf-8",
    )
    click.echo(f"\npipeline '{cfg.name}' ({runner}) finished in {total / 60:.1f} min")
    for r in results:
        click.echo(f"  {r.name:<24} {r.status:<8} {r.seconds:8.1f} s")


def _dry_run(plan, runner: str, compose_file: Path) -> None:
    if runner == "compose":
        from finr1_pipeline.containers import compose_commands

        for cmd in compose_commands(plan, compose_file):
            click.echo(" ".join(cmd))
        return
    if runner == "docker":
        from finr1_pipeline.containers import step_container_spec

        for name, server in plan.config.servers.items():
            plan.server_urls[name] = server.external_url or f"http://{plan.config.name}-{name}:{server.port}/v1"
            plan.server_models[name] = server.external_model or server.served_model_name
        for step in plan.config.steps:
            spec = step_container_spec(plan, step, f"{plan.config.name}-net")
            env_names = sorted(spec["environment"])  # names only: values are never printed
            entry = " ".join(spec.get("entrypoint", [])) or f"finr1-{step.tool}"
            click.echo(f"{spec['name']}: {spec['image']} [{entry}] {shlex.join(spec['command'])}  env={env_names}")
        return
    for name, server in plan.config.servers.items():
        plan.server_urls[name] = server.external_url or f"http://127.0.0.1:{server.port}/v1"
        plan.server_models[name] = server.external_model or server.served_model_name
    for step in plan.config.steps:
        servers = f"  [servers: {', '.join(step.servers)}]" if step.servers else ""
        click.echo(f"finr1-{step.tool} {shlex.join(plan.args(step))}{servers}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `finr1-pipeline` console script."""
    return run_group(cli, argv)


if __name__ == "__main__":
    raise SystemExit(main())
