"""The judge prompts of Fin-R1 (RECIPE.md §3–§4) and the texts they are filled with.

Round 1 uses the layout the paper found best (App. C.1, "OF"): the rules first, then only the
correct answer and the *extracted* final answer — no question, no chain of thought. Round 2 gives
the judge the task instruction, the reasoning, the standard answer and the task domain, and asks
for one verdict per criterion before the final ``\\boxed{}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from finr1_core.schemas import DistilledRow, Message

ROUND1_PROMPT = """\
You are an expert financial evaluator. Score the answer below by comparing its final result with the correct answer.

Rules:
1. Only the correctness of the final result decides: the same value scores 1, a significant deviation scores 0.
2. Equivalent forms are the same value (0.2 = 20%, 0.98 = 98%), and so are unit variants that agree after \
conversion (亿元 and 亿) and reasonable rounding (2 and 1.98).
3. A correct answer without steps still scores 1; a wrong answer scores 0 however good its steps are.
4. Output only the score, as \\boxed{1} or \\boxed{0}, with no reasoning.

Correct answer:
{reference}

Answer to be scored:
{answer}"""

#: Short keys of the seven criteria, in the paper's order (names of :class:`finr1_core.schemas.Criteria`).
CRITERIA: tuple[str, ...] = (
    "internal_consistency",
    "term_overlap",
    "min_three_steps",
    "logical_consistency",
    "content_diversity",
    "domain_relevance",
    "instruction_consistency",
)

ROUND2_PROMPT = """\
You are an expert financial evaluator. Check the quality of a reasoning trace written for a task in the domain of \
{task_domain}.

The trace is good only if all seven criteria hold:
C1. Internal consistency: the reasoning is self-consistent and derives the answer step by step.
C2. Term overlap: the reasoning uses the key terms of the standard answer.
C3. Steps: the reasoning has at least 3 steps.
C4. Logical consistency: the reasoning agrees with the standard answer, with no errors or omissions.
C5. Content diversity: no step is heavily repeated.
C6. Domain relevance: the reasoning is relevant to {task_domain}.
C7. Instruction consistency: the reasoning follows the task instruction.

You may think step by step first. Then write one line per criterion, "C1: 1" if it holds or "C1: 0" if it does not, \
through "C7", and finally \\boxed{1} if all seven hold, otherwise \\boxed{0}.

Task instruction:
{question}

Reasoning:
{reasoning}

Standard answer:
{reference}"""

_PLACEHOLDER = re.compile(r"\{(reference|answer|task_domain|question|reasoning)\}")


def fill(template: str, values: Mapping[str, str]) -> str:
    """Fill ``{name}`` placeholders in one pass (so braces in the template or in a value stay literal)."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)] if m.group(1) in values else m.group(0), template)


def reference_text(row: DistilledRow) -> str:
    """The gold answer as the judge should read it: option letters and label ids get their text."""
    ref = row.reference.strip()
    if row.answer_type == "choice" and row.choices:
        letters = [c for c in re.findall(r"[A-Za-z]", ref) if c.upper() in {k.upper() for k in row.choices}]
        texts = [f"{c.upper()}. {_lookup(row.choices, c)}" for c in letters]
        if texts and len(letters) == len(re.sub(r"[\s,;、，]", "", ref)):
            return "; ".join(texts)
    if row.answer_type == "label" and row.labels and ref in row.labels:
        synonyms = [s for s in row.labels[ref] if s != ref]
        return f"{ref} ({', '.join(synonyms)})" if synonyms else ref
    return ref


def _lookup(choices: Mapping[str, str], letter: str) -> str:
    for key, text in choices.items():
        if key.upper() == letter.upper():
            return text
    return ""


def question_text(messages: list[Message]) -> str:
    """The task instruction: the prompt's turns (a dialogue keeps its role labels)."""
    turns = [m for m in messages if m.role != "system"]
    if len(turns) == 1:
        return turns[0].content
    return "\n\n".join(f"{m.role.capitalize()}: {m.content}" for m in turns)


def round1_messages(reference: str, answer: str, template: str | None = None) -> list[dict[str, str]]:
    """Round-1 request: one user turn with the rules, the correct answer and the extracted answer only."""
    text = fill(template or ROUND1_PROMPT, {"reference": reference, "answer": answer})
    return [{"role": "user", "content": text}]


def round2_messages(
    *, task_domain: str, question: str, reasoning: str, reference: str, template: str | None = None
) -> list[dict[str, str]]:
    """Round-2 request: the seven criteria with the task domain filled in, then the inputs."""
    values = {"task_domain": task_domain, "question": question, "reasoning": reasoning, "reference": reference}
    return [{"role": "user", "content": fill(template or ROUND2_PROMPT, values)}]
