"""`finr1-pipeline run` (the entry point behind `nox -s pipeline`) and `finr1-pipeline compose`."""

from __future__ import annotations

import json
import logging
import os
import shlex
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from finr1_core.cli import run as run_group
from finr1_core.cli import tool_group

log = logging.getLogger(__name__)

cli = tool_group("finr1-pipeline", "finr1-pipeline", "Run the finr1 stages in order, skipping complete ones.")

_config_option = click.option(
    "--config",
    "config_path",
    default="configs/pipeline/embedded.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Pipeline file.",
)
_overlay_option = click.option(
    "--overlay",
    "overlays",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Overlay file applied on top of the pipeline file (repeatable, in order): swaps servers, env values, "
    "launchers and config keys without copying the pipeline (see pipeline/README.md).",
)


@cli.command("run")
@_config_option
@_overlay_option
@click.option(
    "--runner",
    type=click.Choice(["local", "docker", "compose"]),
    default="local",
    show_default=True,
    help="local processes, one container per stage (Docker SDK), or a compose project generated from --config.",
)
@click.option(
    "--compose-file",
    default=None,
    type=click.Path(dir_okay=False),
    help="Where the compose runner writes the generated project.  [default: <artifacts>/compose/<name>.yaml]",
)
@click.option(
    "--artifacts",
    default=None,
    type=click.Path(file_okay=False),
    help="Artifacts folder instead of the pipeline file's `artifacts`.",
)
@click.option("--force", is_flag=True, help="Re-run steps whose outputs are already complete.")
@click.option("--dry-run", is_flag=True, help="Print what each runner will start and run, without running it.")
def run_command(
    config_path: str,
    overlays: tuple[str, ...],
    runner: str,
    compose_file: str | None,
    artifacts: str | None,
    force: bool,
    dry_run: bool,
) -> None:
    """Run a pipeline file end to end and print the wall time of each stage."""
    import signal
    import sys

    from finr1_pipeline.plan import preflight

    # A terminated pipeline must still stop the servers it started (runners clean up in `finally`).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan, records = _load(config_path, overlays, artifacts)
    engine = _runner(plan, runner, compose_file, config_path, force)
    if dry_run:
        _print_dry_run(plan, engine, records)
        return
    for record in records:
        log.info("overlay %s: %s", record["file"], json.dumps(record["changes"], ensure_ascii=False))
    with _process_env(plan.config.env):
        preflight(plan, runner=runner, force=force)
        started = time.monotonic()
        results = engine.run()
    total = time.monotonic() - started
    report = plan.artifacts / "report"
    report.mkdir(parents=True, exist_ok=True)
    rows = [{"step": r.name, "status": r.status, "seconds": round(r.seconds, 1)} for r in results]
    summary = {"pipeline": plan.config.name, "runner": runner, "total_seconds": round(total, 1), "steps": rows}
    summary["overlays"] = records
    (report / "pipeline_timings.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    click.echo(f"\npipeline '{plan.config.name}' ({runner}) finished in {total / 60:.1f} min")
    for r in results:
        click.echo(f"  {r.name:<24} {r.status:<8} {r.seconds:8.1f} s")


@cli.command("compose")
@_config_option
@_overlay_option
@click.option(
    "--output",
    default=None,
    type=click.Path(dir_okay=False),
    help="Compose file to write.  [default: compose/<pipeline name>.yaml]",
)
def compose_command(config_path: str, overlays: tuple[str, ...], output: str | None) -> None:
    """Generate the compose project of a pipeline file (compose/pipeline.yaml is this for fin-r1.yaml)."""
    from finr1_pipeline.compose import project_name, write_compose

    plan, _ = _load(config_path, overlays, None)
    path = write_compose(plan, Path(output or f"compose/{project_name(plan)}.yaml"), config_path)
    click.echo(f"wrote {path}")


def _load(config_path: str, overlays: Sequence[str], artifacts: str | None) -> tuple[Any, list[dict[str, Any]]]:
    from finr1_core.lineage import redact
    from finr1_pipeline.config import load_overlay, load_pipeline
    from finr1_pipeline.plan import Plan

    cfg = load_pipeline(config_path, overlays)
    if artifacts is not None:
        cfg = cfg.model_copy(update={"artifacts": artifacts})
    records = []
    for path in overlays:
        overlay = load_overlay(path)
        changes = {
            **{f"set {k}": v for k, v in overlay.set.items()},
            **{f"env {k}": v for k, v in overlay.env.items()},
            **{f"file {f} {k}": v for f, keys in overlay.files.items() for k, v in keys.items()},
        }
        records.append({"file": str(path), "description": overlay.description, "changes": redact(changes)})
    return Plan(cfg, Path.cwd()), records


def _runner(plan: Any, runner: str, compose_file: str | None, config_path: str, force: bool) -> Any:
    if runner == "local":
        from finr1_pipeline.local import LocalRunner

        return LocalRunner(plan, force=force)
    if runner == "docker":
        from finr1_pipeline.containers import DockerRunner

        return DockerRunner(plan, force=force)
    from finr1_pipeline.compose import ComposeRunner

    return ComposeRunner(plan, Path(compose_file) if compose_file else None, config_label=config_path, force=force)


@contextmanager
def _process_env(values: dict[str, str]) -> Iterator[None]:
    """Apply the pipeline's env values (an overlay's HF_ENDPOINT) to this process too: completion checks and
    preflight read the same Hub and endpoints as the steps. Restored afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _print_dry_run(plan: Any, engine: Any, records: list[dict[str, Any]]) -> None:
    click.echo(f"# pipeline '{plan.config.name}', {engine.kind} runner, artifacts {plan.artifacts}")
    for record in records:
        click.echo(f"# overlay {record['file']}: {json.dumps(record['changes'], ensure_ascii=False)}")
    for path, keys in plan.config.overrides.items():
        copy = plan.override_copy(path).replace("${artifacts}", str(plan.artifacts))
        click.echo(f"# override {path} -> {copy}: {', '.join(keys)}")
    for launch in engine.describe():
        if launch.action == "stop":
            click.echo(f"stop  {launch.name}")
            continue
        click.echo(f"{launch.action:<5} {launch.name}: {shlex.join(launch.argv)}")
        click.echo(f"        via: {launch.how}")
        click.echo(f"        gpus: {'all' if launch.gpus < 0 else launch.gpus}   env (names): {', '.join(launch.env)}")
        click.echo(f"        volumes: {', '.join(launch.volumes)}")
        for note in launch.notes:
            click.echo(f"        {note}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `finr1-pipeline` console script."""
    return run_group(cli, argv)


if __name__ == "__main__":
    raise SystemExit(main())
