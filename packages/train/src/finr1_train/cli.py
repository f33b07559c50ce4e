"""Command line of finr1-train (Click; heavy libraries are imported inside commands)."""

from __future__ import annotations

from collections.abc import Sequence

from finr1_core.cli import run, tool_group

cli = tool_group("finr1-train", "finr1-train", "Train with TRL: SFT on judged traces, then GRPO with Fin-R1's rewards.")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `finr1-train` console script."""
    return run(cli, argv)


if __name__ == "__main__":
    raise SystemExit(main())
