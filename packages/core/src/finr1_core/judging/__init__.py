"""Judging model answers with an LLM, once for every call site: the verdict parser and the judge loop.

Judge round 1 and round 2 (``finr1-judge``), the evaluation judge (``finr1-evaluate``) and the GRPO
LLM verifier (``accuracy_llm``) all read judge replies with :func:`parse_verdict` (or
:func:`parse_criteria_verdict` for round 2's seven criteria) and ask through :func:`ask_judges`:

- a reply that quotes the prompt, holds both verdicts or has no verdict of its own is unusable:
  asked again (``max_asks``), then recorded as a judge failure — never as 0 or 1;
- ``\\boxed{…}``, ``判断：…`` and ``结果：…`` are read in that order (RECIPE.md §7), the last box
  deciding (§3, §4);
- the asks go through :mod:`finr1_core.runner` (resumable, retries, budgets, 401 stops the run), with
  the endpoints as :class:`~finr1_core.runner.EndpointConfig`;
- the usable share is a :class:`~finr1_core.runner.UsableCount` for the stage's ``min_usable`` check.
"""

from finr1_core.judging.loop import (
    DEFAULT_MAX_ASKS,
    Decision,
    Judge,
    JudgeRun,
    VerdictParser,
    Vote,
    ask_judges,
    judge_reply,
    log_path,
)
from finr1_core.judging.verdicts import (
    BOTH,
    CALL_FAILED,
    ECHO,
    EMPTY,
    INCOMPLETE,
    NONE,
    NOT_A_VERDICT,
    REASONING_ONLY,
    TRUNCATED,
    VERDICT_PATTERNS,
    Verdict,
    majority,
    parse_criteria,
    parse_criteria_verdict,
    parse_verdict,
    quotes_prompt,
)

__all__ = [
    "BOTH",
    "CALL_FAILED",
    "DEFAULT_MAX_ASKS",
    "ECHO",
    "EMPTY",
    "INCOMPLETE",
    "NONE",
    "NOT_A_VERDICT",
    "REASONING_ONLY",
    "TRUNCATED",
    "VERDICT_PATTERNS",
    "Decision",
    "Judge",
    "JudgeRun",
    "Verdict",
    "VerdictParser",
    "Vote",
    "ask_judges",
    "judge_reply",
    "log_path",
    "majority",
    "parse_criteria",
    "parse_criteria_verdict",
    "parse_verdict",
    "quotes_prompt",
]
