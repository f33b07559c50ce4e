"""Command line of finr1-serve (Click; heavy libraries are imported inside commands)."""

from __future__ import annotations

from collections.abc import Sequence

from finr1_core.cli import run, tool_group

cli = tool_group("finr1-serve", "finr1-serve", "Serve a model over an OpenAI-compatible API (vLLM on GPU, transformers serve on CPU).")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `finr1-serve` console script."""
    return run(cli, argv)


if __name__ == "__main__":
    raise SystemExit(main())
