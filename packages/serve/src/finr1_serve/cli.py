"""Command line of finr1-serve (Click; heavy libraries are imported inside commands)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from finr1_core.cli import config_option, run, tool_group

cli = tool_group(
    "finr1-serve",
    "finr1-serve",
    "Serve a model over an OpenAI-compatible API (vLLM on GPU, transformers serve on CPU).",
)

DEFAULT_URL = "http://127.0.0.1:8000/v1"


@cli.command("up", context_settings={"show_default": True})
@config_option
@click.option("--model", help="Local model folder, hf://ORG/NAME[@REV], or `embedded` (SmolLM2-135M-Instruct).")
@click.option(
    "--engine",
    type=click.Choice(["auto", "vllm", "transformers"]),
    default=None,
    help="auto: vLLM when CUDA and vLLM are present, else `transformers serve`.  [default: auto]",
)
@click.option("--host", default=None, help="Interface to listen on.  [default: 0.0.0.0]")
@click.option("--port", type=int, default=None, help="Port to listen on.  [default: 8000]")
@click.option("--served-model-name", default=None, help="Model name clients send.  [default: Fin-R1]")
@click.option(
    "--tensor-parallel-size", type=int, default=None, help="vLLM tensor-parallel size.  [default: visible GPU count]"
)
@click.option(
    "--max-model-len", type=int, default=None, help="vLLM context length.  [default: 16384, capped by the model]"
)
@click.option("--gpu-memory-utilization", type=float, default=None, help="vLLM GPU memory fraction.  [default: 0.9]")
@click.option(
    "--dtype", default=None, help="dtype at load time.  [default: vLLM auto; bfloat16 on CPUs with bf16 hardware]"
)
@click.option(
    "--reasoning-parser",
    default=None,
    help="vLLM reasoning parser for <think> output: auto (only for models that write <think>: R1-style names, "
    "<think> in the chat template, finr1 students), none (instruct models), or a parser name.  [default: auto]",
)
@click.option(
    "--continuous-batching/--no-continuous-batching",
    default=None,
    help="transformers serve: batch concurrent requests.  [default: on]",
)
@click.option(
    "--cpu-kv-cache-tokens",
    type=int,
    default=None,
    help="transformers serve on CPU: KV-cache tokens for continuous batching.  [default: 32768]",
)
@click.option(
    "--alias/--no-alias",
    default=None,
    help="transformers serve: answer to --served-model-name through finr1-serve's proxy "
    "(--no-alias: clients must send the model folder path).  [default: on]",
)
@click.option("--dry-run", is_flag=True, help="Print the command line instead of running it.")
@click.argument("engine_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def up_command(
    ctx: click.Context, config_path: str | None, dry_run: bool, engine_args: tuple[str, ...], **flags: object
) -> None:
    """Serve a model: exec `vllm serve` on GPU, or run `transformers serve` behind a name alias on CPU.

    Arguments after `--` are appended to the engine's command line, e.g.
    `finr1-serve up --model embedded -- --enable-prefix-caching`.
    """
    from finr1_core.config import load_config
    from finr1_serve.config import ServeConfig
    from finr1_serve.engines import launch, plan_launch

    overrides = dict(flags)
    if engine_args:
        overrides["engine_args"] = list(engine_args)
    config = load_config(ServeConfig, config_path, overrides)
    if not dry_run:
        from finr1_serve.health import write_served_url

        # Before the model is resolved (a download can take minutes): the healthcheck probes this port meanwhile.
        write_served_url(config.host, config.port)
    plan = plan_launch(config)
    if dry_run:
        click.echo(plan.describe())
        return
    ctx.exit(launch(plan))


@cli.command("health", context_settings={"show_default": True})
@click.option(
    "--url",
    default=None,
    help=f"Server base URL, with or without /v1.  [default: the URL `up` wrote to $FINR1_SERVE_STATE, else {DEFAULT_URL}]",
)
@click.option("--timeout", "timeout_s", type=float, default=600.0, help="Seconds to wait in total.")
@click.option("--interval", "interval_s", type=float, default=1.0, help="Seconds between attempts.")
def health_command(url: str | None, timeout_s: float, interval_s: float) -> None:
    """Wait until the server answers /health (or /v1/models); fail with one line after --timeout.

    Without --url, the URL is the one `finr1-serve up` recorded in the file named by FINR1_SERVE_STATE (the
    serve image sets it), so a container's HEALTHCHECK probes the port actually served.
    """
    from finr1_serve.health import served_url, server_root, wait_healthy

    url = url or served_url(DEFAULT_URL)
    route, waited = wait_healthy(url, timeout_s=timeout_s, interval_s=interval_s)
    click.echo(f"healthy: {server_root(url)}{route} answered after {waited:.1f} s")


@cli.command("ask", context_settings={"show_default": True})
@click.argument("question")
@click.option("--url", default=DEFAULT_URL, help="Server base URL, with or without /v1.")
@click.option("--model", default="Fin-R1", help="Model name to request.")
@click.option(
    "--system-prompt", default=None, help="System message.  [default: Fin-R1's <think>/<answer> prompt, RECIPE §6]"
)
@click.option("--no-system-prompt", is_flag=True, help="Send no system message.")
@click.option("--api-key-env", default=None, help="Name of the environment variable with the API key (else EMPTY).")
@click.option("--temperature", type=float, default=0.7)
@click.option("--top-p", type=float, default=0.8)
@click.option("--max-tokens", type=int, default=4000)
@click.option("--repetition-penalty", type=float, default=1.05, help="Sent in extra_body (vLLM).")
@click.option("--timeout", "timeout_s", type=float, default=600.0, help="Request timeout in seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def ask_command(
    question: str,
    url: str,
    model: str,
    system_prompt: str | None,
    no_system_prompt: bool,
    api_key_env: str | None,
    temperature: float,
    top_p: float,
    max_tokens: int,
    repetition_penalty: float,
    timeout_s: float,
    as_json: bool,
) -> None:
    """Ask one question with Fin-R1's inference preset; print the reasoning and the answer separately."""
    from finr1_serve.ask import FIN_R1_SYSTEM_PROMPT, ask

    if no_system_prompt and system_prompt is not None:
        raise click.UsageError("--system-prompt and --no-system-prompt exclude each other")
    prompt = None if no_system_prompt else (system_prompt if system_prompt is not None else FIN_R1_SYSTEM_PROMPT)
    params = {
        "temperature": temperature,
        "top_p": top_p,
        "max_tokens": max_tokens,
        "repetition_penalty": repetition_penalty,
    }
    reply = ask(
        question, url, model=model, system_prompt=prompt, api_key_env=api_key_env, params=params, timeout_s=timeout_s
    )
    if as_json:
        click.echo(json.dumps(reply.__dict__, ensure_ascii=False))
        return
    click.echo("--- reasoning ---")
    click.echo(reply.reasoning or "(none)")
    click.echo("--- answer ---")
    click.echo(reply.answer or "(empty)")
    tokens = reply.usage.get("completion_tokens")
    click.echo(
        f"--- {reply.model}, finish_reason={reply.finish_reason}, completion_tokens={tokens}, {reply.latency_s:.1f} s ---"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `finr1-serve` console script."""
    return run(cli, argv)


if __name__ == "__main__":
    raise SystemExit(main())
