"""Command line of finr1-distill (Click; heavy libraries are imported inside commands)."""

from __future__ import annotations

from collections.abc import Sequence

from finr1_core.cli import run, tool_group

cli = tool_group("finr1-distill", "finr1-distill", "Distil reasoning traces from a teacher model over financial source datasets.")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `finr1-distill` console script."""
    return run(cli, argv)


if __name__ == "__main__":
    raise SystemExit(main())
