"""Command line of finr1-judge (Click; heavy libraries are imported inside commands)."""

from __future__ import annotations

from collections.abc import Sequence

from finr1_core.cli import run, tool_group

cli = tool_group("finr1-judge", "finr1-judge", "Filter distilled traces with Fin-R1's two-round judge into sft, rl and rejected splits.")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `finr1-judge` console script."""
    return run(cli, argv)


if __name__ == "__main__":
    raise SystemExit(main())
