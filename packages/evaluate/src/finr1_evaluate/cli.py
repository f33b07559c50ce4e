"""Command line of finr1-evaluate (Click; heavy libraries are imported inside commands)."""

from __future__ import annotations

from collections.abc import Sequence

from finr1_core.cli import run, tool_group

cli = tool_group("finr1-evaluate", "finr1-evaluate", "Evaluate a model on the Fin-R1 financial benchmark suite and write reports.")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `finr1-evaluate` console script."""
    return run(cli, argv)


if __name__ == "__main__":
    raise SystemExit(main())
