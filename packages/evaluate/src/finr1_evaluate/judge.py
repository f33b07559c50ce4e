"""The LLM judge of free-text answers (RECIPE.md §7), fixed where the original was wrong.

The judge compares the reference answer (标准回答) with the model's **extracted final answer**
(模型回答) and gives 1 or 0 in ``\\boxed{}``. Unlike the original harness it never sees the chain of
thought (a ``\\boxed{}`` inside the reasoning misled it), and it never sees the question (the paper's
App. C.1 layout study: rules first, then only the two answers, had the least disagreement with
humans). The asking and the reading of replies are core's (:mod:`finr1_core.judging`, shared with
``finr1-judge`` and the GRPO verifier): a reply that quotes the prompt, holds both verdicts or has no
verdict of its own is asked again (``JudgeSettings.max_asks`` times), then the item is recorded as
``judge_failed``: excluded from the rule+judge denominator and counted on its own, never scored 0 or 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finr1_core.judging import JudgeRun
    from finr1_evaluate.config import JudgeSettings

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


def judge_cache_key(judge: JudgeSettings) -> str:
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
    judge: JudgeSettings, prompts: Mapping[str, str], log_dir: Path, *, name: str, concurrency: int, progress: bool
) -> JudgeRun:
    """Ask the judge about each prompt through core's judge loop; task key -> :class:`~finr1_core.judging.Decision`.

    :func:`finr1_core.judging.ask_judges` asks, asks again while a reply is unusable (``judge.max_asks``) and
    reads each reply with :func:`finr1_core.judging.parse_verdict` against the prompt it answers: an echoed
    prompt (whose ``\\boxed{1}`` example would otherwise read as a verdict), both verdicts, or none of its own
    is unusable. Its result log is ``{log_dir}/{name}.{judge model}.jsonl``, so a killed run resumes without
    asking again what was answered, and a rescore with the same judge is free.

    Raises:
        AuthError: the judge refused the key (401/402/403): the run stops at once.
    """
    from finr1_core.judging import Judge, ask_judges

    tasks = {key: [{"role": "user", "content": prompt}] for key, prompt in prompts.items()}
    params = {"temperature": judge.temperature, "top_p": judge.top_p, "max_tokens": judge.max_tokens}
    # The judge endpoint was checked once at start (check=False), with the model's.
    return ask_judges(
        tasks,
        [Judge(judge)],
        log_dir,
        name=name,
        params=params,
        max_asks=judge.max_asks,
        concurrency=concurrency,
        progress=progress,
        check=False,
    )
