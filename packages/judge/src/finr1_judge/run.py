"""``finr1-judge run``: Fin-R1's two-round filter over a distilled dataset (RECIPE.md §3–§4).

For every distilled row, in this order:

1. **Pre-checks** (no judge call): a row whose teacher call failed or was flagged (``error``) is rejected;
   so is a row whose sft turn could not have the exact format the format reward checks. The mechanical
   checks (steps, repetition, term overlap) are computed and stored on every usable row; with
   ``mechanical.reject_before_judge`` a failed check rejects the row here.
2. **Round 1, answer**: objective items (numeric, choice, boolean, label) are graded by
   :func:`finr1_core.answers.match_answer` on the final answer only; items it cannot decide, and free-form
   items, go to the LLM judge with the rules-first prompt showing only the reference and the extracted final
   answer (never the question or the reasoning). A reply without a verdict of its own (an echo of the prompt,
   both verdicts, none) is asked again (``max_asks``) and then recorded as null with its raw text: the row is
   rejected as ``judge_failed``, never scored 0. Several judges or repeats vote by majority. The parser and
   the ask/re-ask/vote loop are :mod:`finr1_core.judging`'s, shared with evaluate and the GRPO verifier.
3. **Round 2, reasoning** (round-1 passes only): the seven criteria with the task domain; per-criterion
   verdicts are parsed and stored; the row is good when the configured decision holds.
4. **Routing** to ``sft``, ``rl``, ``rejected``, plus ``judged`` (every row, for audit).

Calibration (``calibration.share``) also sends that share of rule-graded rows to the judge and reports
agreement with the rule (percent and Cohen's kappa). Every judge call goes through the resumable runner;
its logs live in the output's work dir, so a killed run resumes without repeating finished calls.

A judge that refuses the key (401/402/403) stops the run at once; a round whose usable verdicts fall
below ``min_usable`` stops it before anything is written (exit 1, no lineage), keeping the answered
asks for the re-run.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from finr1_core.errors import InputError
from finr1_core.judging import Decision, Judge, Verdict, ask_judges, parse_criteria_verdict, parse_verdict
from finr1_core.runner import UsableCount, check_usable
from finr1_core.schemas import OBJECTIVE_TYPES, Criteria, DistilledRow, JudgedRow, MechanicalChecks
from finr1_core.stage import Stage, parse_shard
from finr1_judge import __version__
from finr1_judge.config import JudgeConfig
from finr1_judge.mechanical import failed_checks, mechanical_checks
from finr1_judge.prompts import (
    CRITERIA,
    ROUND1_PROMPT,
    ROUND2_PROMPT,
    question_text,
    reference_text,
    round1_messages,
    round2_messages,
)
from finr1_judge.routing import Routed, assistant_turn, route
from finr1_judge.verdicts import agreement, criteria_names, majority_criteria

logger = logging.getLogger(__name__)

TOOL = "finr1-judge"


@dataclass
class RowState:
    """Everything decided about one distilled row so far."""

    row: DistilledRow
    mechanical: MechanicalChecks | None = None
    extracted: str | None = None
    answer_score: int | None = None
    answer_method: str | None = None
    judge_answer_raw: str | None = None
    reasoning_score: int | None = None
    criteria: Criteria | None = None
    judge_reasoning_raw: str | None = None
    reject_reason: str | None = None
    judge_problem: str | None = None  # why the judge gave no usable verdict (echo, both, none, ...)
    stage: str = "pending"  # where the row's fate was decided (for the per-round counts)

    @property
    def key(self) -> str:
        return f"{self.row.id}#{self.row.sample_index}"

    def judged(self) -> JudgedRow:
        good = self.reject_reason is None
        return JudgedRow(
            **self.row.model_dump(),
            extracted=self.extracted,
            answer_score=self.answer_score,
            answer_method=self.answer_method,  # type: ignore[arg-type]
            judge_answer_raw=self.judge_answer_raw,
            reasoning_score=self.reasoning_score,
            criteria=self.criteria,
            mechanical=self.mechanical,
            judge_reasoning_raw=self.judge_reasoning_raw,
            label="good" if good else "bad",
            reject_reason=self.reject_reason,
        )


@dataclass
class JudgeResult:
    """What a run produced."""

    output: str
    complete: bool
    summary: dict[str, Any] = field(default_factory=dict)


# --- judge calls --------------------------------------------------------------------------------------------


class Judges:
    """The configured judges behind :func:`finr1_core.judging.ask_judges`, with this run's counts."""

    def __init__(self, config: JudgeConfig, stage: Stage) -> None:
        self.config = config
        self.stage = stage
        self.judges = [Judge(j.endpoint(), j.label) for j in config.judges]
        self.answers: Counter[str] = Counter()
        self.counts: dict[str, UsableCount] = {}
        self.checked = False

    def check(self) -> None:
        """Check every judge endpoint once (unreachable, refused key, unknown model → EndpointError)."""
        from finr1_core.runner import check_endpoint

        if not self.checked:
            for judge in self.judges:
                check_endpoint(judge.endpoint)
            self.checked = True

    def ask(
        self,
        name: str,
        tasks: dict[str, list[dict[str, str]]],
        *,
        max_tokens: int,
        parse: Callable[[str, str], Verdict],
    ) -> dict[str, Decision]:
        """Ask every judge ``repeats`` times per task (re-asking unusable replies); returns key -> Decision.

        Each (round, judge) has its own result log in the resume folder (see :mod:`finr1_core.judging.loop`).
        """
        if not tasks:
            return {}
        self.check()
        run = ask_judges(
            tasks,
            self.judges,
            self.stage.state_dir,
            name=name,
            params={"temperature": self.config.temperature, "max_tokens": max_tokens},
            parse=parse,
            repeats=self.config.repeats,
            max_asks=self.config.max_asks,
            concurrency=self.config.concurrency,
            progress=self.config.progress,
            check=False,
        )
        self.answers[name] += sum(run.asks.values())
        self.counts.setdefault(name, UsableCount()).merge(run.count)
        return run.decisions

    def check_usable(self, *names: str) -> None:
        """Fail (before anything is written) when these rounds' usable verdicts are below ``min_usable``."""
        count = UsableCount()
        for name in names:
            count.merge(self.counts.get(name, UsableCount()))
        what = "judge verdicts" + (f" ({', '.join(n for n in names if n in self.counts)})" if names else "")
        check_usable(
            count,
            self.config.min_usable,
            what=what,
            setting=self.config.setting_name("min_usable"),
            resume_dir=self.stage.state_dir,
        )


# --- the stage ------------------------------------------------------------------------------------------------


def _question(row: DistilledRow) -> str | None:
    question = row.meta.get("question") if isinstance(row.meta, dict) else None
    return question if isinstance(question, str) else None


def _selected(key: str, share: float, seed: int) -> bool:
    if share <= 0:
        return False
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def verifiable(row: DistilledRow) -> bool:
    """Whether an objective row's gold can be checked by rule (the gold matches itself when boxed)."""
    from finr1_core.answers import match_answer

    if row.answer_type not in OBJECTIVE_TYPES or not row.reference.strip():
        return False
    boxed = f"\\boxed{{{row.reference}}}"
    return match_answer(boxed, row.reference, row.answer_type, choices=row.choices, labels=row.labels).correct is True


#: Columns of a distilled row that have defaults in the schema but that judging cannot do without: filling them
#: in would reject every row as "format" (no trace, no answer) and still exit 0.
REQUIRED_COLUMNS = ("reasoning", "completion", "error")


def _read_rows(stage: Stage, config: JudgeConfig) -> list[DistilledRow]:
    from finr1_core.schemas import from_rows, require_columns

    ds = stage.read_dataset(config.input, split=config.input_split)
    source = f"{config.input} split {config.input_split}"
    require_columns(ds.column_names, DistilledRow, source=source)
    missing = [name for name in REQUIRED_COLUMNS if name not in ds.column_names]
    if missing:
        raise InputError(
            f"{source}: missing column(s) {', '.join(missing)}; judge reads finr1-distill output "
            "(a DistilledRow per row: the trace in reasoning, the final answer in completion, error null)"
        )
    if len(ds) == 0:
        raise InputError(f"{source}: no rows to judge; check --input and input_split")
    rows = list(from_rows(DistilledRow, ds, source=source))
    seen: set[tuple[str, int]] = set()
    for row in rows:
        key = (row.id, row.sample_index)
        if key in seen:
            raise InputError(f"{source}: row id '{row.id}' sample {row.sample_index} appears twice")
        seen.add(key)
    return rows


def _precheck(states: list[RowState], config: JudgeConfig) -> list[RowState]:
    mech = config.mechanical
    alive = []
    for st in states:
        row = st.row
        if row.error:
            st.reject_reason, st.stage = f"distill_error: {row.error}", "precheck"
            continue
        st.mechanical = mechanical_checks(
            reasoning=row.reasoning,
            completion=row.completion,
            reference=row.reference,
            answer_type=row.answer_type,
            min_steps=mech.min_steps,
            max_repeated_fraction=mech.max_repeated_fraction,
            min_term_overlap=mech.min_term_overlap,
        )
        _, why = assistant_turn(row.reasoning, row.completion)
        if why is not None:
            st.reject_reason, st.stage = f"format: {why}", "precheck"
            continue
        failed = failed_checks(st.mechanical)
        if mech.reject_before_judge and failed:
            st.reject_reason, st.stage = f"mechanical: {', '.join(failed)}", "mechanical"
            continue
        alive.append(st)
    return alive


def _round1(states: list[RowState], config: JudgeConfig, judges: Judges, calibration: Counter) -> list[RowState]:
    from finr1_core.answers import answer_region, match_answer

    template = config.round1.prompt
    llm: dict[str, list[dict[str, str]]] = {}
    calib: dict[str, list[dict[str, str]]] = {}
    by_key = {st.key: st for st in states}
    for st in states:
        row = st.row
        completion = row.completion or ""  # the final answer only: the reasoning never reaches round 1
        if row.answer_type in OBJECTIVE_TYPES:
            m = match_answer(
                completion,
                row.reference,
                row.answer_type,
                choices=row.choices,
                labels=row.labels,
                question=_question(row),
            )
            st.extracted = m.extracted or None
            if m.correct is not None:
                st.answer_score, st.answer_method = int(m.correct), "rule"
                if st.extracted and _selected(st.key, config.calibration.share, config.calibration.seed):
                    calib[st.key] = round1_messages(reference_text(row), st.extracted, template)
                continue
            answer = m.extracted or answer_region(completion)[0]
        else:
            answer = answer_region(completion)[0]
            st.extracted = answer or None
        llm[st.key] = round1_messages(reference_text(row), answer, template)
        st.answer_method = "llm"
    r1 = config.round1.max_tokens
    for key, decision in judges.ask("round1", llm, max_tokens=r1, parse=parse_verdict).items():
        st = by_key[key]
        st.answer_score = decision.score
        st.judge_answer_raw = decision.raw
        st.judge_problem = decision.problem
    if calib:
        answers = judges.ask("calibration", calib, max_tokens=r1, parse=parse_verdict)
        for key, decision in answers.items():
            st = by_key[key]
            llm_verdict = decision.score
            st.judge_answer_raw = "calibration (rule decided): " + decision.raw
            calibration["asked"] += 1
            if llm_verdict is None:
                calibration["llm_null"] += 1
            else:
                calibration[f"rule{st.answer_score}_llm{llm_verdict}"] += 1
    passed = []
    for st in states:
        st.stage = "round1"
        if st.answer_score == 1:
            passed.append(st)
        elif st.answer_score == 0:
            st.reject_reason = f"answer_wrong ({st.answer_method})"
        else:
            st.reject_reason = f"answer_judge_failed: no usable verdict ({st.judge_problem or 'tie'})"
    return passed


def _round2(states: list[RowState], config: JudgeConfig, judges: Judges) -> None:
    cfg = config.round2
    by_key = {st.key: st for st in states}
    if not cfg.enabled:
        return
    tasks = {
        st.key: round2_messages(
            task_domain=config.domain_for(st.row.source, st.row.category),
            question=question_text(st.row.messages),
            reasoning=(st.row.reasoning or "").strip(),
            reference=reference_text(st.row),
            template=cfg.prompt,
        )
        for st in states
    }

    def parse(text: str, prompt: str) -> Verdict:
        return parse_criteria_verdict(
            text, prompt, count=len(CRITERIA), min_hold=cfg.min_criteria, decision=cfg.decision
        )

    for key, decision in judges.ask("round2", tasks, max_tokens=cfg.max_tokens, parse=parse).items():
        st = by_key[key]
        st.reasoning_score = decision.score
        usable = [v.verdict.criteria for v in decision.votes if v.verdict.usable]
        # Criteria of unusable votes are kept for audit only when no vote was usable.
        criteria = majority_criteria(
            criteria_names(c) for c in (usable or [v.verdict.criteria for v in decision.votes])
        )
        st.criteria = Criteria(**criteria) if any(c is not None for c in criteria.values()) else None
        st.judge_reasoning_raw = decision.raw
        st.stage = "round2"
        if st.reasoning_score == 0:
            failed = [name for name, ok in criteria.items() if ok is False]
            st.reject_reason = "reasoning_bad" + (f": {', '.join(failed)}" if failed else "")
        elif st.reasoning_score is None:
            st.reject_reason = f"reasoning_judge_failed: no usable verdict ({decision.problem})"


def _count(states: list[RowState], routed: Routed, calibration: Counter, judges: Judges) -> dict[str, Any]:
    per_source: dict[str, Counter[str]] = {}
    rounds: dict[str, Counter[str]] = {"round1": Counter(), "round2": Counter()}
    reasons: Counter[str] = Counter()
    for st in states:
        row = st.row
        c = per_source.setdefault(row.source, Counter())
        c["rows"] += 1
        if st.reject_reason is not None:
            reasons[st.reject_reason.split(":")[0].split(" (")[0]] += 1
        if st.stage == "precheck":
            c["distill_error" if st.reject_reason and st.reject_reason.startswith("distill_error") else "format"] += 1
            continue
        if st.stage == "mechanical":
            c["mechanical"] += 1
            continue
        r1 = rounds["round1"]
        method = st.answer_method or "llm"
        outcome = {1: "pass", 0: "fail", None: "null"}[st.answer_score]
        r1[f"{method}_{outcome}"] += 1
        c[f"r1_{outcome}"] += 1
        if st.answer_score != 1 or st.stage != "round2":
            continue
        outcome = {1: "pass", 0: "fail", None: "null"}[st.reasoning_score]
        rounds["round2"][outcome] += 1
        c[f"r2_{outcome}"] += 1
    for st in states:
        c = per_source[st.row.source]
        c["good" if st.reject_reason is None else "rejected"] += 1
    for row in routed.rl:
        per_source[row.source]["rl"] += 1
        per_source[row.source]["rl_failed_filter"] += int(row.failed_filter)
    keys = (
        "rows",
        "distill_error",
        "format",
        "mechanical",
        "r1_pass",
        "r1_fail",
        "r1_null",
        "r2_pass",
        "r2_fail",
        "r2_null",
        "good",
        "rejected",
        "rl",
        "rl_failed_filter",
    )
    return {
        "rows": len(states),
        "splits": {"sft": len(routed.sft), "rl": len(routed.rl), "rejected": len(routed.rejected)},
        "per_source": {src: {k: c.get(k, 0) for k in keys} for src, c in sorted(per_source.items())},
        "round1": {
            k: rounds["round1"].get(k, 0) for k in ("rule_pass", "rule_fail", "llm_pass", "llm_fail", "llm_null")
        },
        "round2": {k: rounds["round2"].get(k, 0) for k in ("pass", "fail", "null")},
        "reject_reasons": dict(sorted(reasons.items())),
        "calibration": {
            k: calibration.get(k, 0)
            for k in ("asked", "llm_null", "rule1_llm1", "rule1_llm0", "rule0_llm1", "rule0_llm0")
        },
        "judge_answers": dict(judges.answers),
    }


def derived(summary: dict[str, Any]) -> dict[str, float | None]:
    """Rates from a (possibly merged) summary: null-verdict rates, calibration agreement and kappa."""
    r1, r2, cal = summary.get("round1", {}), summary.get("round2", {}), summary.get("calibration", {})
    llm1 = r1.get("llm_pass", 0) + r1.get("llm_fail", 0) + r1.get("llm_null", 0)
    judged2 = sum(r2.get(k, 0) for k in ("pass", "fail", "null"))
    pairs = [(1, 1)] * cal.get("rule1_llm1", 0) + [(1, 0)] * cal.get("rule1_llm0", 0)
    pairs += [(0, 1)] * cal.get("rule0_llm1", 0) + [(0, 0)] * cal.get("rule0_llm0", 0)
    percent, kappa = agreement(pairs)
    return {
        "round1_null_rate": r1.get("llm_null", 0) / llm1 if llm1 else None,
        "round2_null_rate": r2.get("null", 0) / judged2 if judged2 else None,
        "calibration_agreement_pct": percent,
        "calibration_kappa": kappa,
    }


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}%" if pct else f"{value:.3f}"


def render_summary(summary: dict[str, Any]) -> str:
    """Markdown tables: counts per source and per round, null-verdict rates, calibration agreement."""
    d = derived(summary)
    splits = summary.get("splits", {})
    lines = [
        f"Rows judged: {summary.get('rows', 0):,} → sft {splits.get('sft', 0):,}, rl {splits.get('rl', 0):,}, "
        f"rejected {splits.get('rejected', 0):,} (all rows with their verdicts are in split `judged`).",
        "",
        "| source | rows | distill error | format | mechanical | R1 pass | R1 fail | R1 null | R2 pass | R2 fail "
        "| R2 null | good | rl (failed filter) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for src, c in summary.get("per_source", {}).items():
        lines.append(
            f"| {src} | {c['rows']:,} | {c['distill_error']:,} | {c['format']:,} | {c['mechanical']:,} | "
            f"{c['r1_pass']:,} | {c['r1_fail']:,} | {c['r1_null']:,} | {c['r2_pass']:,} | {c['r2_fail']:,} | "
            f"{c['r2_null']:,} | {c['good']:,} | {c['rl']:,} ({c['rl_failed_filter']:,}) |"
        )
    r1, r2, cal = summary.get("round1", {}), summary.get("round2", {}), summary.get("calibration", {})
    lines += [
        "",
        f"Round 1 (answer): rule pass {r1.get('rule_pass', 0):,}, rule fail {r1.get('rule_fail', 0):,}; "
        f"LLM pass {r1.get('llm_pass', 0):,}, fail {r1.get('llm_fail', 0):,}, null {r1.get('llm_null', 0):,} "
        f"(null-verdict rate {_fmt(d['round1_null_rate'], pct=True)}).",
        f"Round 2 (reasoning): pass {r2.get('pass', 0):,}, fail {r2.get('fail', 0):,}, null {r2.get('null', 0):,} "
        f"(null-verdict rate {_fmt(d['round2_null_rate'], pct=True)}).",
    ]
    if cal.get("asked"):
        pct = d["calibration_agreement_pct"]
        lines.append(
            f"Calibration: {cal['asked']:,} rule-graded rows also sent to the LLM judge; agreement "
            f"{'n/a' if pct is None else f'{pct:.1f}%'}, Cohen's kappa {_fmt(d['calibration_kappa'])} "
            f"({cal.get('llm_null', 0):,} null verdicts left out)."
        )
    reasons = summary.get("reject_reasons", {})
    if reasons:
        lines.append("Reject reasons: " + ", ".join(f"{k} {v:,}" for k, v in reasons.items()) + ".")
    return "\n".join(lines)


def render_card(summary: dict[str, Any], config: JudgeConfig) -> str:
    """Card body: what the splits are, the judge setup, and the summary tables."""
    judges = ", ".join(f"`{j.model}`" for j in config.judges)
    vote = (
        f", majority of {len(config.judges) * config.repeats} votes" if len(config.judges) * config.repeats > 1 else ""
    )
    r2 = config.round2
    rule = f"at least {r2.min_criteria} of 7 criteria" if r2.decision == "criteria" else "the final \\boxed{} verdict"
    return "\n".join(
        [
            "Distilled traces filtered by `finr1-judge` with Fin-R1's two rounds (finr1).",
            "",
            "- `sft`: rows good in both rounds, as conversations (Fin-R1 system prompt, the prompt, and the assistant "
            "turn `<think>\\n…\\n</think>\\n<answer>\\n…\\n</answer>`).",
            "- `rl`: every objective item with a verifiable gold, passed or failed (`failed_filter`); no trace.",
            "- `rejected`: bad rows with `reject_reason`; `judged`: every row with both rounds' verdicts and raw texts.",
            "",
            f"Judge {judges} at temperature {config.temperature}{vote}, up to {config.max_asks} asks per verdict (a "
            f"reply that echoes the prompt, holds both verdicts or none is unusable: null, never 0). Round 1: rules for objective items, the judge (rules-first prompt, "
            f"reference and extracted answer only) for the rest. Round 2: {rule}"
            f"{'' if r2.enabled else ' (disabled)'}; mechanical checks "
            f"{'reject before judging' if config.mechanical.reject_before_judge else 'stored only'}.",
            "",
            render_summary(summary),
        ]
    )


def run_judge(config: JudgeConfig) -> JudgeResult:
    """Run the judge stage end to end (resumable); see the module docstring.

    Raises:
        ConfigError: bad shard spec, or a resume folder holding a run with other settings.
        ArtifactError: the input cannot be read, or the output cannot be written.
        InputError: the input lacks a column or holds a malformed or duplicate row.
        EndpointError: a judge is unreachable or does not serve the model.
        AuthError: a judge refused the key (at start or during the run).
        TooFewUsableError: a round's usable verdicts fell below ``min_usable`` (nothing written).
    """
    from finr1_core.schemas import RLRow, SFTRow, to_dataset

    shard = parse_shard(config.shard)
    stage = Stage(TOOL, __version__, config, output=config.output, shard=shard)
    rows = _read_rows(stage, config)
    if shard is not None:
        rows = list(shard.select(rows, key=lambda r: r.id))  # by item: an item's samples stay together (rl rows)
    if config.limit is not None:
        rows = rows[: config.limit]
    stage.input_rows = len(rows)
    stage.pin_settings(
        {
            "judges": [(j.label, j.model) for j in config.judges],
            "temperature": config.temperature,
            "round1": [config.round1.max_tokens, config.round1.prompt or ROUND1_PROMPT],
            "round2": [config.round2.max_tokens, config.round2.prompt or ROUND2_PROMPT],
            "domains": config.domains,
        }
    )
    judges = Judges(config, stage)
    if rows:
        judges.check()
    states = [RowState(row) for row in rows]
    calibration: Counter[str] = Counter()
    alive = _precheck(states, config)
    passed = _round1(alive, config, judges, calibration)
    judges.check_usable("round1", "calibration")  # a broken judge stops here, before round 2 is paid for
    _round2(passed, config, judges)
    judges.check_usable("round2")
    judged = [st.judged() for st in states]
    routed = route(
        judged, system_prompt=config.system_prompt, verifiable=verifiable, rl_system_prompt=config.rl_system_prompt
    )
    summary = _count(states, routed, calibration, judges)
    splits = {
        "sft": to_dataset(SFTRow, routed.sft),
        "rl": to_dataset(RLRow, routed.rl),
        "rejected": to_dataset(JudgedRow, routed.rejected),
        "judged": to_dataset(JudgedRow, judged),
    }
    record = stage.write(splits, summary=summary, card_body=lambda s: render_card(s, config))
    return JudgeResult(output=config.output, complete=record.revision_sha is not None, summary=summary)


__all__ = ["CRITERIA", "JudgeResult", "Judges", "derived", "render_summary", "run_judge", "verifiable"]
