"""The one judge loop: ask every judge, ask again while a reply is unusable, vote (RECIPE.md §3, §4, §7).

::

    from finr1_core.judging import Judge, ask_judges, parse_verdict

    judges = [Judge(EndpointConfig(base_url=..., model="Qwen2.5-72B-Instruct"))]
    tasks = {"finqa/17#0": [{"role": "user", "content": prompt}], ...}
    run = ask_judges(tasks, judges, work_dir, name="round1", params={"temperature": 0, "max_tokens": 64})
    for key, decision in run.decisions.items():
        decision.score      # 1, 0, or None (no usable verdict: a judge failure, never 0)
        decision.votes      # one Vote per judge and repeat, with its raw reply and why it was unusable
    check_usable(run.count, config.min_usable, what="judge verdicts")

Every call goes through :func:`finr1_core.runner.run_chat`, so the loop inherits its guarantees:
bounded concurrency, retries with backoff and Retry-After, 401/402/403 stopping the run at once
(:class:`~finr1_core.errors.AuthError`), Ctrl-C, and a result log per (``name``, judge) in ``log_dir``:
``{name}.{judge}.jsonl``, keyed by ``<task key>|r<repeat>`` with the ask number (0, 1, …) as sample
index. A killed run resumes without losing or repeating an answered ask: asks already in the log are
read back, only the missing ones are sent; an ask whose *call* failed in an earlier run (an outage)
is sent again, an ask that got an unusable *reply* is not (the next ask is made instead).

A reply is judged by ``parse(answer_text, prompt_text)`` (:func:`~finr1_core.judging.parse_verdict` by
default) after three checks of its own: a failed call (``call_failed``), an answer that arrived only
as ``reasoning_content`` with ``content`` null (``reasoning_only``: a reasoning parser on an instruct
judge — the loop logs the fix), and a reply without a verdict that was cut by ``max_tokens``
(``truncated``: the verdict may have been cut off).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finr1_core.judging.verdicts import (
    CALL_FAILED,
    EMPTY,
    INCOMPLETE,
    NONE,
    REASONING_ONLY,
    TRUNCATED,
    Verdict,
    majority,
    parse_verdict,
)
from finr1_core.runner import ChatRequest, ChatResult, EndpointConfig, UsableCount, check_endpoint, read_results
from finr1_core.runner import run_chat as _run_chat

logger = logging.getLogger(__name__)

#: A reply parser: ``(answer text, prompt text) -> Verdict``.
VerdictParser = Callable[[str, str], Verdict]

# Default number of asks per verdict: RECIPE.md §3 ("retry (3 tries), then judge_failed").
DEFAULT_MAX_ASKS = 3


@dataclass(frozen=True)
class Judge:
    """One judge: an endpoint and the name it has in summaries and log files (default: the model)."""

    endpoint: EndpointConfig
    label: str | None = None

    @property
    def name(self) -> str:
        """The label, or the endpoint's model."""
        return self.label or self.endpoint.model


@dataclass
class Vote:
    """One judge's answer (after re-asks) for one task and repeat.

    Attributes:
        judge: The judge's name.
        repeat: Which repeat (0 for the first).
        verdict: The parsed verdict of the last reply considered (the first usable one, else the last).
        raw: That reply's text (``error: …`` for a failed call); kept for audit.
        asks: How many asks it took.
    """

    judge: str
    repeat: int
    verdict: Verdict
    raw: str
    asks: int

    @property
    def score(self) -> int | None:
        """The verdict's score (``None`` when unusable)."""
        return self.verdict.score


@dataclass
class Decision:
    """The outcome for one task: the majority of its usable votes (``None`` on none or a tie)."""

    score: int | None
    votes: list[Vote] = field(default_factory=list)

    @property
    def raw(self) -> str:
        """The raw replies: the one reply, or ``[judge #repeat] reply`` blocks for several votes."""
        if len(self.votes) == 1:
            return self.votes[0].raw
        return "\n\n".join(f"[{v.judge} #{v.repeat}] {v.raw}" for v in self.votes)

    @property
    def problem(self) -> str | None:
        """Why there is no score: the unusable votes' problems (``"echo"``, ``"tie"``, …); ``None`` with a score."""
        if self.score is not None:
            return None
        problems = sorted({v.verdict.problem for v in self.votes if v.verdict.problem})
        return ", ".join(problems) if problems else "tie"


@dataclass
class JudgeRun:
    """What :func:`ask_judges` returns.

    Attributes:
        decisions: Task key -> :class:`Decision`.
        count: Usable votes among all votes, with the problems of the others (for
            :func:`~finr1_core.runner.check_usable`).
        asks: HTTP-level asks made or read back from the log, per judge name.
    """

    decisions: dict[str, Decision] = field(default_factory=dict)
    count: UsableCount = field(default_factory=UsableCount)
    asks: Counter[str] = field(default_factory=Counter)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:60]


def log_path(log_dir: str | Path, name: str, judge: Judge) -> Path:
    """The result log of one (round, judge): ``{log_dir}/{name}.{judge name}.jsonl``."""
    return Path(log_dir) / f"{name}.{_slug(judge.name)}.jsonl"


def _prompt_text(messages: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(str(m.get("content") or "") for m in messages if m.get("role") != "assistant")


def judge_reply(result: ChatResult, prompt: str, parse: VerdictParser) -> tuple[Verdict, str]:
    """The verdict and raw text of one judge result (the loop's checks, then ``parse``)."""
    if not result.ok:
        return Verdict(None, CALL_FAILED), f"error: {result.error}"
    if result.answer_in_reasoning_only:
        return Verdict(None, REASONING_ONLY), f"(content empty; reasoning_content: {result.reasoning})"
    verdict = parse(result.completion, prompt)
    if verdict.problem in (NONE, INCOMPLETE, EMPTY) and result.finish_reason == "length":
        # The verdict may have been cut off: say so (raise max_tokens). An echo or a hedge stays what it is.
        verdict = Verdict(None, TRUNCATED, verdict.criteria)
    return verdict, result.content if result.content is not None else result.completion


class _Asks:
    """The asks of one judge: what the log holds, what this run sent, and each vote's state."""

    def __init__(self, path: Path, max_asks: int, parse: VerdictParser, prompts: Mapping[str, str]) -> None:
        self.path = path
        self.max_asks = max_asks
        self.parse = parse
        self.prompts = prompts  # vote id -> prompt text
        self.logged: dict[tuple[str, int], ChatResult] = read_results(path) if path.is_file() else {}
        self.sent: set[tuple[str, int]] = set()

    def walk(self, vid: str) -> tuple[int | None, Verdict, str, int]:
        """``(next ask to send or None, last verdict, its raw text, asks used)`` for one vote.

        A failed call is sent again only when it is the newest ask of this vote and was not sent in
        this run (an outage in an earlier run); otherwise it counts as a used ask.
        """
        verdict, raw = Verdict(None, CALL_FAILED), ""
        for ask in range(self.max_asks):
            result = self.logged.get((vid, ask))
            if result is None:
                return ask, verdict, raw, ask
            if not result.ok and (vid, ask) not in self.sent and (vid, ask + 1) not in self.logged:
                return ask, verdict, raw, ask
            verdict, raw = judge_reply(result, self.prompts[vid], self.parse)
            if verdict.usable:
                return None, verdict, raw, ask + 1
        return None, verdict, raw, self.max_asks


def ask_judges(
    tasks: Mapping[str, Sequence[Mapping[str, Any]]],
    judges: Sequence[Judge],
    log_dir: str | Path,
    *,
    name: str,
    params: Mapping[str, Any] | None = None,
    parse: VerdictParser = parse_verdict,
    repeats: int = 1,
    max_asks: int = DEFAULT_MAX_ASKS,
    concurrency: int = 32,
    progress: bool = True,
    check: bool = True,
) -> JudgeRun:
    """Ask every judge ``repeats`` times per task, re-asking unusable replies, and vote (see the module docstring).

    Args:
        tasks: Task key -> chat messages (the judge prompt). Keys must not contain ``|r``.
        judges: The judges; every judge answers every task ``repeats`` times.
        log_dir: Folder of the result logs (the stage's resume folder).
        name: The round's name, the first part of each log's file name (``round1``).
        params: Request fields of every ask (``temperature``, ``top_p``, ``max_tokens``, …).
        parse: ``(answer text, prompt text) -> Verdict``; :func:`parse_verdict` reads a 0/1 box.
        repeats: Verdicts per judge per task (the majority vote runs over judges × repeats).
        max_asks: Asks per vote until a usable reply; after that the vote is unusable.
        concurrency: Requests in flight at once.
        progress: Show the runner's progress bar.
        check: Check each judge endpoint first (:func:`~finr1_core.runner.check_endpoint`).

    Returns:
        The decisions, the usable-vote count and the asks per judge.

    Raises:
        AuthError: A judge refused the key (the run stops at once; answered asks stay in the log).
        EndpointError: A judge is unreachable or does not serve its model (with ``check``).
        RunInterrupted: After a clean stop on Ctrl-C.
    """
    if max_asks < 1 or repeats < 1:
        raise ValueError(f"max_asks and repeats must be at least 1, got {max_asks} and {repeats}")
    run = JudgeRun(decisions={key: Decision(None) for key in tasks})
    if not tasks:
        return run
    if check:
        for judge in judges:
            check_endpoint(judge.endpoint)
    votes_of: dict[str, list[Vote]] = {key: [] for key in tasks}
    for judge in judges:
        votes = _ask_one_judge(tasks, judge, log_dir, name, dict(params or {}), parse, repeats, max_asks,
                               concurrency, progress)  # fmt: skip
        for key, vote in votes:
            votes_of[key].append(vote)
            run.count.add(vote.verdict.usable, vote.verdict.problem, vote.raw)
            run.asks[judge.name] += vote.asks
    for key, votes in votes_of.items():
        run.decisions[key] = Decision(majority(v.score for v in votes), votes)
    _warn_problems(name, run.count, judges)
    return run


def _ask_one_judge(
    tasks: Mapping[str, Sequence[Mapping[str, Any]]],
    judge: Judge,
    log_dir: str | Path,
    name: str,
    params: dict[str, Any],
    parse: VerdictParser,
    repeats: int,
    max_asks: int,
    concurrency: int,
    progress: bool,
) -> list[tuple[str, Vote]]:
    vids = {f"{key}|r{r}": (key, r) for key in tasks for r in range(repeats)}
    prompts = {vid: _prompt_text(tasks[key]) for vid, (key, _) in vids.items()}
    path = log_path(log_dir, name, judge)
    asks = _Asks(path, max_asks, parse, prompts)
    state = {vid: asks.walk(vid) for vid in vids}
    while True:
        pending = {vid: s[0] for vid, s in state.items() if s[0] is not None}
        if not pending:
            break
        requests = [
            ChatRequest(vid, ask, [dict(m) for m in tasks[vids[vid][0]]], dict(params)) for vid, ask in pending.items()
        ]
        again = sum(ask > 0 for ask in pending.values())
        if again:
            top = max(pending.values()) + 1
            logger.info("%s (%s): asking again for %d unusable replies (ask %d of %d)", name, judge.name, again,
                        top, max_asks)  # fmt: skip
        asks.sent.update(pending.items())

        def collect(result: ChatResult) -> None:
            asks.logged[result.key] = result

        _run_chat(requests, judge.endpoint, path, concurrency=concurrency, progress=progress, check=False,
                  on_result=collect)  # fmt: skip
        for vid in pending:
            state[vid] = asks.walk(vid)
    out = []
    for vid, (_, verdict, raw, used) in state.items():
        key, repeat = vids[vid]
        out.append((key, Vote(judge.name, repeat, verdict, raw, used)))
    return out


def _warn_problems(name: str, count: UsableCount, judges: Sequence[Judge]) -> None:
    if not count.reasons:
        return
    logger.warning(
        "%s: %d of %d judge verdicts unusable after re-asking (%s); they are judge failures, never 0 or 1",
        name,
        count.total - count.usable,
        count.total,
        ", ".join(f"{k} {n}" for k, n in count.reasons.most_common()),
    )
    if count.reasons.get(REASONING_ONLY):
        servers = ", ".join(sorted({j.endpoint.display_url for j in judges}))
        logger.warning(
            "%s: %d replies came with content null and the whole answer in reasoning_content: %s runs a "
            "reasoning parser for a model that does not write <think>; serve the judge without --reasoning-parser",
            name,
            count.reasons[REASONING_ONLY],
            servers,
        )
