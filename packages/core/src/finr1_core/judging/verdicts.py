"""Reading a judge's reply: one verdict parser for every judge call site (judge rounds 1 and 2, evaluate, GRPO).

A verdict is 1, 0, or unusable. An unusable reply is never read as 0 or 1: the judge loop asks again
and finally records a judge failure (RECIPE.md §3: "a failure never counts silently as 0"). A reply
is unusable when it

- is empty, or has no verdict of its own (``none``);
- **quotes the prompt** (``echo``): it repeats the prompt, or a verdict in it sits in text copied
  from the prompt, such as the ``\\boxed{1}`` example of the instructions or a box inside the trace
  under review. Small or misconfigured judges echo their prompt; reading the example inside the echo
  turned every wrong answer into a right one;
- **holds both verdicts** (``both``): a 1 and a 0 anywhere in its verdict markers, or one criterion
  given both ways;
- ends on something that is not a verdict (``not_a_verdict``: ``\\boxed{7}``, ``\\boxed{yes}``);
- (round-2 criteria) lacks some of the criteria (``incomplete``).

Extraction follows RECIPE.md: the §7 patterns in order, ``boxed{…}``, ``判断：…``, ``结果：…``; the
first pattern with a hit decides, and within it the **last** hit (the §3/§4 last-box rule: the judge
reasons first, then boxes its score). A missing backslash (``boxed{1}``) still counts.

Example:
    >>> parse_verdict("The values agree.\\n\\\\boxed{1}").score
    1
    >>> parse_verdict("Output only the score, as \\\\boxed{1} or \\\\boxed{0}", prompt="...").problem
    'both'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Problems (why a reply is unusable); the judge loop adds CALL_FAILED, REASONING_ONLY and TRUNCATED.
EMPTY = "empty"
NONE = "none"
ECHO = "echo"
BOTH = "both"
NOT_A_VERDICT = "not_a_verdict"
INCOMPLETE = "incomplete"
CALL_FAILED = "call_failed"
REASONING_ONLY = "reasoning_only"
TRUNCATED = "truncated"

#: RECIPE.md §7 score patterns, tried in order (the first pattern with a hit decides). Group 1 is the value.
#: The box takes any content so that its *last* box decides even when that box holds no 0/1 (then the reply is
#: unusable instead of falling back to an earlier box).
VERDICT_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"boxed\{\s*([^{}]*?)\s*\}"),
    re.compile(r"判断\s*[:：]\s*(\d+)"),
    re.compile(r"结果\s*[:：]\s*(\d+)"),
)

# Round-2 criterion lines: "C3: 1", "**C2:** 0", "3. Steps: yes", "Criterion 4 - logic: 1", "C6（领域）：是".
_CRITERION = re.compile(
    r"(?:^|\n)[ \t>*#_\-]*(?:C|criterion\s*|criteria\s*)?([1-9])\b[^\n:：=]{0,60}[:：=][ \t*_]*"
    r"(1|0|yes|no|true|false|pass|fail|holds|fails|是|否)(?![\w.])",
    re.IGNORECASE,
)
_TRUE = {"1", "yes", "true", "pass", "holds", "是"}

# Echo detection. A verdict marker is "quoted" when this many characters of text around it (after
# whitespace is collapsed) also stand next to it in the prompt: long enough that a judge's own sentence
# ("so the answer is correct. \boxed{1}") never matches the instructions by chance, short enough to catch
# an echo that is cut or reflowed.
_QUOTE_CONTEXT = 24
_QUOTE_MIN_CONTEXT = 12  # a short reply ("So the answer is \boxed{1}.") is compared on what context it has
# A reply "repeats the prompt" when it contains this share of the prompt's substantial lines verbatim.
_ECHO_LINE_SHARE = 0.5
_ECHO_MIN_LINE = 12  # lines shorter than this ("Rules:", "C3.") say nothing about an echo
_ECHO_PREFIX = 60  # or when it starts with the prompt's first characters (an echo cut by max_tokens)


@dataclass(frozen=True)
class Verdict:
    """One parsed judge reply.

    Attributes:
        score: 1, 0, or ``None`` when the reply is unusable.
        problem: Why it is unusable (one of this module's problem names), ``None`` when usable.
        criteria: Round-2 per-criterion verdicts found (criterion number -> holds), when parsed.
    """

    score: int | None
    problem: str | None = None
    criteria: Mapping[int, bool] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        """True when the reply gave a 0 or 1 of its own."""
        return self.score is not None


def _squash(text: str) -> str:
    return " ".join(text.split())


def quotes_prompt(reply: str, prompt: str | None) -> bool:
    """Whether ``reply`` quotes ``prompt``: it repeats the prompt, or a verdict marker in it is copied from it.

    Whitespace is collapsed on both sides, so a reflowed echo counts too. A reply of a bare verdict
    (``\\boxed{1}``) has no context to compare and is never a quote.
    """
    if not prompt or not reply:
        return False
    text, source = _squash(reply), _squash(prompt)
    head = source[:_ECHO_PREFIX]
    if len(head) == _ECHO_PREFIX and head in text:
        return True
    lines = [line for line in (_squash(x) for x in prompt.splitlines()) if len(line) >= _ECHO_MIN_LINE]
    if lines:
        copied = sum(len(line) for line in lines if line in text)
        if copied >= _ECHO_LINE_SHARE * sum(len(line) for line in lines):
            return True
    for pattern in VERDICT_PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.start(), match.end()
            left, right = max(0, start - _QUOTE_CONTEXT), min(len(text), end + _QUOTE_CONTEXT)
            if start - left >= _QUOTE_MIN_CONTEXT and text[left:end] in source:
                return True
            if right - end >= _QUOTE_MIN_CONTEXT and text[start:right] in source:
                return True
    return False


def _hits(text: str) -> list[list[str]]:
    """The values of every pattern's hits, per pattern in :data:`VERDICT_PATTERNS` order."""
    return [[m.group(1).strip() for m in pattern.finditer(text)] for pattern in VERDICT_PATTERNS]


def parse_verdict(reply: str | None, prompt: str | None = None) -> Verdict:
    """Read a 0/1 verdict from a judge reply (see the module docstring for the rules).

    Args:
        reply: The judge's answer text (after any ``<think>`` block).
        prompt: The prompt it was asked (its user turn): needed to tell the judge's own verdict from
            a quoted one. Without it, echoes are only caught when they hold both verdicts.

    Returns:
        The :class:`Verdict` (``score`` None with a ``problem`` when unusable).
    """
    if not reply or not reply.strip():
        return Verdict(None, EMPTY)
    if quotes_prompt(reply, prompt):
        return Verdict(None, ECHO)
    hits = _hits(reply)
    values = {v for per_pattern in hits for v in per_pattern if v in ("0", "1")}
    if len(values) > 1:
        return Verdict(None, BOTH)
    decisive = next((per_pattern[-1] for per_pattern in hits if per_pattern), None)
    if decisive is None:
        return Verdict(None, NONE)
    if decisive not in ("0", "1"):
        return Verdict(None, NOT_A_VERDICT)
    return Verdict(int(decisive))


def parse_criteria(reply: str | None) -> tuple[dict[int, bool], bool]:
    """Per-criterion verdicts of a round-2 reply (``C3: 1`` lines) and whether a criterion was given both ways."""
    found: dict[int, bool] = {}
    conflict = False
    for match in _CRITERION.finditer(reply or ""):
        number, value = int(match.group(1)), match.group(2).lower() in _TRUE
        if number in found and found[number] != value:
            conflict = True
        found[number] = value
    return found, conflict


def parse_criteria_verdict(
    reply: str | None,
    prompt: str | None = None,
    *,
    count: int = 7,
    min_hold: int | None = None,
    decision: str = "criteria",
) -> Verdict:
    """Read a round-2 reply: one line per criterion, then a final box (RECIPE.md §4).

    Args:
        reply: The judge's answer text.
        prompt: The prompt it was asked (for echo detection).
        count: Number of criteria (C1..C``count``).
        min_hold: How many must hold for a 1 (default: all of them).
        decision: ``"criteria"``: every criterion must be parsed (else ``incomplete``) and the score is
            whether ``min_hold`` hold; ``"boxed"``: the final box decides (:func:`parse_verdict`'s rules),
            criteria are kept when parsed.

    Returns:
        The :class:`Verdict`, with ``criteria`` filled from the lines found. A criterion given both
        ways, boxes with both verdicts, or (with all criteria required) a box that contradicts the
        criteria make the reply unusable (``both``).
    """
    if not reply or not reply.strip():
        return Verdict(None, EMPTY)
    if quotes_prompt(reply, prompt):
        return Verdict(None, ECHO)
    criteria, conflict = parse_criteria(reply)
    criteria = {n: v for n, v in criteria.items() if 1 <= n <= count}
    boxed = parse_verdict(reply)
    if conflict or boxed.problem == BOTH:
        return Verdict(None, BOTH, criteria)
    if decision == "boxed":
        return Verdict(boxed.score, boxed.problem, criteria)
    if len(criteria) < count:
        return Verdict(None, INCOMPLETE if criteria else NONE, criteria)
    need = count if min_hold is None else min_hold
    score = int(sum(criteria.values()) >= need)
    if need == count and boxed.usable and boxed.score != score:
        return Verdict(None, BOTH, criteria)  # "all seven hold" on the lines, "not all" in the box (or back)
    return Verdict(score, None, criteria)


def majority(scores: Iterable[int | None]) -> int | None:
    """Majority over the usable scores; ``None`` when there is none or on a tie."""
    usable = [s for s in scores if s is not None]
    ones = sum(usable)
    zeros = len(usable) - ones
    if ones == zeros:
        return None
    return int(ones > zeros)
