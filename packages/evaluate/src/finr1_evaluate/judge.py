"""The LLM judge of free-text answers (RECIPE.md §7), fixed where the original was wrong.

The judge compares the reference answer (标准回答) with the model's **extracted final answer**
(模型回答) and gives 1 or 0 in ``\\boxed{}``. Unlike the original harness it never sees the chain of
thought (a ``\\boxed{}`` inside the reasoning misled it), and it never sees the question (the paper's
App. C.1 layout study: rules first, then only the two answers, had the least disagreement with
humans). A reply without a usable score is asked again (``JudgeSettings.attempts`` times), then the
item is recorded as ``judge_failed``: excluded from the rule+judge denominator and counted on its
own, never silently scored 0.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Patterns tried in order; the first pattern with a hit wins (the original harness's order).
SCORE_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"boxed\{\s*(\d+)\s*\}"),
    re.compile(r"判断[:：]\s*(\d+)"),
    re.compile(r"结果[:：]\s*(\d+)"),
)

DEFAULT_PROMPT = """你是一位专业的金融评估专家。请比较【标准回答】和【模型回答】，只判断模型的最终答案是否正确。
You are an expert financial evaluator. Compare the standard answer with the model answer and judge only \
whether the final answer is correct.

评分规则 Rules:
1. 只比较最终结果：数值或结论相同得 1 分，有明显偏差得 0 分。Only the final result matters: the same value or \
conclusion scores 1, a significant deviation scores 0.
2. 等价形式视为相同（0.2 与 20%），单位换算后相等视为相同（亿元与亿），合理的四舍五入视为相同（0.98 与 98%，2 与 1.98）。\
Equivalent forms, unit variants equal after conversion and reasonable rounding count as the same.
3. 没有解题步骤的正确答案仍得 1 分。A correct answer without steps still scores 1.
4. 先用一两句话说明理由，最后把分数 1 或 0 写在 \\boxed{{}} 中，例如 \\boxed{{1}}。Give a short reason, then \
put the score 1 or 0 in \\boxed{{}}.
{note}{label_map}
【标准回答】Standard answer:
{reference}

【模型回答】Model answer:
{answer}
"""


def format_label_map(labels: Mapping[str, list[str]] | None) -> str:
    """The label map block (TFNS adds it so the judge knows that ``0`` means bearish, and so on)."""
    if not labels:
        return ""
    lines = [f"- {label}: {', '.join(synonyms)}" for label, synonyms in labels.items()]
    return "\n标签对照 Label map (label: synonyms):\n" + "\n".join(lines) + "\n"


def build_judge_prompt(
    reference: str,
    answer: str,
    labels: Mapping[str, list[str]] | None = None,
    template: str | None = None,
    note: str | None = None,
) -> str:
    """Fill the judge template with the reference and the extracted final answer only.

    Args:
        reference: The gold answer text.
        answer: The model's extracted final answer (never the reasoning).
        labels: Optional label id -> synonyms (classification benchmarks).
        template: A custom template with ``{reference}``, ``{answer}``, ``{label_map}`` and ``{note}`` fields
            (literal braces doubled, as in ``str.format``).
        note: The benchmark's ``judge_note`` (e.g. TFNS's label meanings), added before the answers.
    """
    return (template or DEFAULT_PROMPT).format(
        reference=reference.strip(),
        answer=answer.strip(),
        label_map=format_label_map(labels),
        note=f"\n说明 Note: {note.strip()}\n" if note else "",
    )


def parse_verdict(text: str | None) -> int | None:
    """Return the judge's 0/1 score, or ``None`` when the reply has no usable score.

    Patterns are tried in order (``boxed{n}``, ``判断: n``, ``结果: n``); within the first pattern that
    hits, the last occurrence wins (the judge states its reason before the score). A number other
    than 0 or 1 is unusable.
    """
    if not text:
        return None
    for pattern in SCORE_PATTERNS:
        hits = pattern.findall(text)
        if hits:
            value = int(hits[-1])
            return value if value in (0, 1) else None
    return None


# --- the judge loop: ask, ask again while the verdict is unusable -------------------------------------------


def judge_cache_key(judge: Any) -> str:
    """Hash of what determines a judge reply: model, sampling and the prompt template."""
    from finr1_evaluate.config import short_hash

    return short_hash(
        {
            "model": judge.model,
            "temperature": judge.temperature,
            "top_p": judge.top_p,
            "max_tokens": judge.max_tokens,
            "prompt": judge.prompt,
        }
    )


def run_judge(
    judge: Any, prompts: Mapping[str, str], log_path: Path, *, concurrency: int, progress: bool
) -> dict[str, tuple[int | None, str | None]]:
    """Ask the judge about each prompt; ask again while a verdict is unusable; key -> (score or None, raw reply).

    Each attempt is a runner request keyed ``(key, attempt)`` in ``log_path``, so a killed run resumes
    without asking again what was answered, and a rescore with the same judge is free.

    Raises:
        EndpointError: the judge refused the key (401/402/403): the run stops at once.
    """
    if not prompts:
        return {}
    from finr1_core.runner import ChatRequest, read_results, run_chat
    from finr1_evaluate.generation import endpoint_config, from_chat_result
    from finr1_evaluate.usable import stop_on_auth_error

    endpoint = endpoint_config(
        judge.base_url or "", judge.model, judge.api_key_env, judge.timeout_s, judge.max_retries
    )
    params = {"temperature": judge.temperature, "top_p": judge.top_p, "max_tokens": judge.max_tokens}
    on_result = stop_on_auth_error(endpoint.base_url, endpoint.api_key_env, "--judge-api-key-env")
    verdicts: dict[str, tuple[int | None, str | None]] = {}
    pending = list(prompts)
    for attempt in range(judge.attempts):
        requests = [
            ChatRequest(
                item_id=key, sample_index=attempt, messages=[{"role": "user", "content": prompts[key]}], params=params
            )
            for key in pending
        ]
        run_chat(
            requests, endpoint, log_path, concurrency=concurrency, progress=progress, check=False, on_result=on_result
        )
        results = read_results(log_path)
        still = []
        for key in pending:
            result = results.get((key, attempt))
            reply = from_chat_result(result) if result is not None else None
            raw = None if reply is None else (reply.content if reply.error is None else f"[error] {reply.error}")
            score = parse_verdict(reply.content) if reply is not None and reply.error is None else None
            verdicts[key] = (score, raw)
            if score is None:
                still.append(key)
        pending = still
        if not pending:
            break
        if attempt + 1 < judge.attempts:
            logger.info(
                "judge: %d replies without a usable score; asking again (attempt %d of %d)",
                len(pending),
                attempt + 2,
                judge.attempts,
            )
    return verdicts
