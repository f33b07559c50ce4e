"""The "too few usable results" rule every stage that calls a model applies before it writes its output.

A run in which most calls failed is not a smaller dataset or a lower score: it is a broken run (a
key revoked mid-run, the wrong model, a judge that echoes its prompt, an instruct model behind a
reasoning parser). Writing it would leave a complete lineage that the pipeline then trusts and skips
on the next run. So each stage counts its usable results (:class:`UsableCount`) and calls
:func:`check_usable` *before* it writes: below the stage's ``min_usable`` share the run fails with
one line, writes nothing, and keeps its resume log, so the fixed re-run pays only for what is
missing.

Stages declare the setting with :func:`min_usable_field` so every tool has the same key, default and
explanation::

    class DistillConfig(StrictModel):
        min_usable: float = min_usable_field("teacher calls that give a usable trace")
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from finr1_core.errors import TooFewUsableError

#: Default ``min_usable``. Below half usable is a systemic failure (a revoked key mid-run, a wrong model, an
#: echoing judge, a reasoning parser on an instruct model), not item-level noise: a healthy R1 distillation
#: keeps more than 90% of its calls (the rest are traces cut by ``max_tokens`` and the odd empty answer), and
#: a healthy judge gives a usable verdict on more than 95% of its asks. Half leaves room for hard sources and
#: small judges without letting a broken run through.
DEFAULT_MIN_USABLE = 0.5


def min_usable_field(what: str, default: float = DEFAULT_MIN_USABLE) -> Any:
    """The ``min_usable`` config field of a stage (a pydantic ``Field`` with the shared default and text).

    Args:
        what: What is counted, for the description ("teacher calls that give a usable trace").
        default: The threshold (see :data:`DEFAULT_MIN_USABLE` for why 0.5).
    """
    return Field(
        default=default,
        ge=0,
        le=1,
        description=(
            f"Fail the run (exit 1, no output, no lineage; the resume log is kept) when the share of {what} is "
            f"below this. Default {default}: below half usable is a systemic failure (revoked key, wrong model, "
            "echoing judge, misconfigured reasoning parser), not item-level noise; a healthy run keeps more than "
            "90%. 0 disables the check."
        ),
    )


@dataclass
class UsableCount:
    """Usable and unusable results of one stage run, with why the unusable ones failed.

    Attributes:
        usable: Results the stage can use.
        total: Results counted (usable or not).
        reasons: Why the unusable ones failed (a short kind: ``request_failed``, ``echo``, ...).
        examples: One example text per reason (an error line, a reply snippet) for the message.
    """

    usable: int = 0
    total: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, usable: bool, reason: str | None = None, example: str | None = None) -> None:
        """Count one result; an unusable one with its reason (and an example text, kept once per reason)."""
        self.total += 1
        if usable:
            self.usable += 1
            return
        kind = reason or "unusable"
        self.reasons[kind] += 1
        if example and kind not in self.examples:
            self.examples[kind] = " ".join(example.split())[:160]

    def merge(self, other: UsableCount) -> UsableCount:
        """Add ``other``'s counts to this one; returns self."""
        self.usable += other.usable
        self.total += other.total
        self.reasons.update(other.reasons)
        for kind, text in other.examples.items():
            self.examples.setdefault(kind, text)
        return self

    @property
    def share(self) -> float | None:
        """``usable / total`` (``None`` when nothing was counted)."""
        return self.usable / self.total if self.total else None

    def describe_failures(self, limit: int = 3) -> str:
        """``"request_failed 12 (e.g. HTTP 500: …), echo 3"``: the most common reasons first."""
        parts = []
        for kind, n in self.reasons.most_common(limit):
            example = self.examples.get(kind)
            parts.append(f"{kind} {n}" + (f" (e.g. {example})" if example else ""))
        rest = sum(self.reasons.values()) - sum(n for _, n in self.reasons.most_common(limit))
        if rest:
            parts.append(f"other {rest}")
        return ", ".join(parts)


def check_usable(
    count: UsableCount,
    min_usable: float,
    *,
    what: str,
    setting: str = "min_usable",
    resume_dir: str | Path | None = None,
) -> None:
    """Fail when the share of usable results is below ``min_usable`` (nothing counted: no check).

    Call it before the stage writes its output; the resume log stays where it is.

    Args:
        count: The stage's counts.
        min_usable: The threshold, 0 to 1 (0 disables the check).
        what: What was counted, for the message ("teacher calls", "judge verdicts").
        setting: How the user sets the threshold (``--min-usable``, ``min_usable in FILE``).
        resume_dir: Where the paid-for results are kept, named in the message.

    Raises:
        TooFewUsableError: One line: the counts, the most common failures with an example, that nothing
            was written, where the finished work is kept, and the setting.
    """
    share = count.share
    if share is None or min_usable <= 0 or share >= min_usable:
        return
    kept = f"; the {count.total} finished results are kept in {resume_dir}" if resume_dir else ""
    raise TooFewUsableError(
        f"only {count.usable} of {count.total} {what} were usable ({100 * share:.0f}%, below {setting} "
        f"{100 * min_usable:.0f}%): {count.describe_failures() or 'no reason recorded'}; nothing was written"
        f"{kept}, so running again after fixing the cause resumes without paying twice (or lower {setting})"
    )
