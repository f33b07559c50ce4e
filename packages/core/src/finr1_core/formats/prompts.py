r"""Prompt builders: distillation prompts (RECIPE.md §2) and evaluation prompts (RECIPE.md §7).

Every builder returns chat messages (a list of ``{"role": "user", "content": ...}``) with **no system turn**.

Distillation prompts follow the template of the Fin-R1 paper (Fig. 10): a task description, the input, an
instruction, a directive and notes. Items with a definite answer are told to put it in ``\boxed{}`` (English:
"Please use \boxed{} to wrap the final answer"; Chinese: "请一步步推理，并把最终答案放到 \boxed{}。"), and every
distillation prompt ends with Fin-R1's literal line ``-Add a "\n" at the beginning of each output before
generating data`` (the backslash-n is literal, as published).

Evaluation prompts come in two variants: ``faithful`` (the texts Fin-R1's harness used, including the FinQA
"not less than 2048 tokens" line) and ``clean`` (the same without that line, which pushes outputs into the
4,096-token cap). Only FinQA differs between the variants.
"""

from __future__ import annotations

from typing import Literal

from finr1_core.formats.exams import TFNS_NAMES
from finr1_core.formats.fineva import FINEVA_TEMPLATES
from finr1_core.formats.records import ConvTurn, FinQARecord, Item
from finr1_core.formats.tables import table_to_html, table_to_python, table_to_text

PromptVariant = Literal["faithful", "clean"]
PROMPT_VARIANTS: tuple[str, ...] = ("faithful", "clean")

BOXED_EN = "Please use \\boxed{} to wrap the final answer."
BOXED_ZH = "请一步步推理，并把最终答案放到 \\boxed{}。"
NEWLINE_NOTE = '-Add a "\\n" at the beginning of each output before generating data'
TFNS_KEY = '"0"=Bearish "1"=Bullish "2"=Neutral'

FINQA_TASK = "Please answer the question based on all the information provided below:"
CONVFINQA_TASK = (
    "Read the following texts and table with financial data from an S&P 500 earnings report carefully. "
    "Based on the question-answer history (if provided), answer the last question. "
    "The answer may require mathematical calculation based on the data provided."
)
TFNS_TASK = "Below is a finance-related tweet. Please analyze its sentiment."
FINANCEQT_TASK = "Read the context below and answer the questions."
FINPEE_TASK = "请根据所给信息解答以下金融计算题。"
FINQA_EVAL_INSTRUCTION = (
    "Please reason step by step. Extract relevant data from the table and the text, calculate step by step, "
    "and put the final answer in \\boxed{}. Before giving the final answer, verify your answer."
)
FINQA_EVAL_LENGTH_LINE = "Your reasoning should not be less than 2048 tokens."
FINEVAL_PREAMBLE = "你是一位金融专家。以下是一道单项选择题，请选出正确的选项，并把选项字母放到 \\boxed{} 中。"
CHOICE_EVAL_PREAMBLE = "以下是一道单项选择题，请选出正确的选项，并把选项字母放到 \\boxed{} 中。"


def _user(content: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": content.strip()}]


def _join(*blocks: str) -> str:
    return "\n\n".join(b.strip() for b in blocks if b and b.strip())


def _notes(boxed: bool, language: str) -> str:
    if language == "zh":
        lines = ["注意：", "-严格遵循上述指令。"]
        if boxed:
            lines.append("-" + BOXED_ZH)
    else:
        lines = ["Notes:", "-Follow the instruction above strictly."]
        if boxed:
            lines.append("-" + BOXED_EN)
    lines.append(NEWLINE_NOTE)
    return "\n".join(lines)


def fig10_prompt(task: str, body: str, instruction: str, directive: str, *, boxed: bool, language: str) -> str:
    """The Fin-R1 distillation template: task, input, instruction, directive, notes."""
    return _join(task, body, instruction, directive, _notes(boxed, language))


def options_text(choices: dict[str, str] | None) -> str:
    """Lettered options, one per line (``A. text``)."""
    return "\n".join(f"{letter}. {text}" for letter, text in (choices or {}).items())


# --- blocks shared by distillation and evaluation ---------------------------------------------------------


def finqa_blocks(rec: FinQARecord, table: str) -> str:
    """The labelled FinQA blocks: Document, ID, Previous Text, Table Data, Following Text, Question."""
    return "\n".join(
        [
            f"Document: {rec.filename or rec.page}",
            f"ID: {rec.id}",
            f"Previous Text: {' '.join(rec.pre_text)}",
            f"Table Data: {table}",
            f"Following Text: {' '.join(rec.post_text)}",
            f"Question: {rec.question}",
        ]
    )


def convfinqa_blocks(turn: ConvTurn) -> str:
    """Texts, the wikitable and the question-answer history, then the last question."""
    text = " ".join([*turn.pre_text, *turn.post_text])
    history = "\n".join(f"Q{i + 1}: {q}\nA{i + 1}: {a}" for i, (q, a) in enumerate(turn.history))
    parts = [f"Text: {text}", f"Table: {table_to_html(turn.table)}"]
    if history:
        parts.append(f"Question-answer history:\n{history}")
    parts.append(f"Last question: {turn.question}")
    return "\n\n".join(parts)


def _tfns_body(text: str) -> str:
    return f"Tweet: {text}\n\nSentiment labels: {TFNS_KEY}"


_TFNS_REQUIREMENTS = (
    "Requirements:\n"
    "1. Analyze the sentiment the tweet expresses about the market or the company.\n"
    "2. Answer with exactly one label number: 0, 1 or 2.\n"
    "3. " + BOXED_EN
)


def _choice_body(item: Item) -> str:
    parts = [item.context, item.question]
    if item.choices:
        parts.append(options_text(item.choices))
    return "\n".join(p for p in parts if p)


# --- distillation (RECIPE.md §2) --------------------------------------------------------------------------


def finqa_distill(rec: FinQARecord) -> list[dict[str, str]]:
    """FinQA: the labelled blocks, step-by-step calculation, boxed answer."""
    return _user(
        fig10_prompt(
            FINQA_TASK,
            finqa_blocks(rec, "\n" + table_to_text(rec.table)),
            "Extract the relevant numbers from the text and the table and calculate the answer step by step.",
            "Please analyze the financial report above and generate a step-by-step solution that ends with the final answer.",
            boxed=True,
            language="en",
        )
    )


def convfinqa_distill(turn: ConvTurn) -> list[dict[str, str]]:
    """ConvFinQA: one turn with the dialogue so far (earlier questions with their gold answers)."""
    return _user(
        fig10_prompt(
            CONVFINQA_TASK,
            convfinqa_blocks(turn),
            "Answer only the last question; use the history to resolve what it refers to.",
            "Please analyze the report and the conversation above and generate a step-by-step solution that ends "
            "with the answer to the last question.",
            boxed=True,
            language="en",
        )
    )


def tfns_distill(item: Item) -> list[dict[str, str]]:
    """TFNS: the tweet, the label key, then a Requirements block ending with the boxed instruction."""
    return _user(_join(TFNS_TASK, _tfns_body(item.question), _TFNS_REQUIREMENTS, NEWLINE_NOTE))


def financeqt_distill(item: Item) -> list[dict[str, str]]:
    """FinanceQT: "Read the context below and answer the questions. Context: … Question: …" (code, no box)."""
    body = f"Context: {item.context}\nQuestion: {item.question}" if item.context else f"Question: {item.question}"
    return _user(
        fig10_prompt(
            FINANCEQT_TASK,
            body,
            "Write the code the question asks for and explain it briefly.",
            "Please analyze the task above and generate a working solution.",
            boxed=False,
            language="en",
        )
    )


def finpee_distill(item: Item) -> list[dict[str, str]]:
    """FinPEE: "请根据所给信息解答以下金融计算题 …" with the Chinese boxed instruction."""
    return _user(
        fig10_prompt(
            FINPEE_TASK,
            _choice_body(item),
            "请写出计算过程。",
            "请分析上述题目并给出详细的解题步骤。",
            boxed=True,
            language="zh",
        )
    )


def choice_distill(item: Item) -> list[dict[str, str]]:
    """Multiple choice and yes/no (FinanceIQ, Ant_Finance, FinCorpus): question, lettered options, boxed line."""
    lines = [_choice_body(item)]
    if item.answer_type == "boolean":
        lines.append("请回答“是”或“否”。")
    lines += [BOXED_ZH, NEWLINE_NOTE]
    return _user("\n".join(lines))


def instruction_distill(item: Item, *, language: str) -> list[dict[str, str]]:
    """An instruction as published (Finance-Instruct-500k, FinCorpus free text, user items); boxed only if definite."""
    boxed = item.answer_type in ("numeric", "choice", "boolean", "label")
    body = _join(item.instruction, _choice_body(item))
    lines = [body]
    if boxed:
        lines.append(BOXED_ZH if language == "zh" else BOXED_EN)
    lines.append(NEWLINE_NOTE)
    return _user("\n\n".join(lines))


def fincuge_distill(item: Item) -> list[dict[str, str]]:
    """FinCUGE: the task instruction, the text, the boxed line for definite answers (labels, spans)."""
    boxed = item.meta.get("task") != "finna"
    lines = [item.instruction, item.question]
    if boxed:
        lines.append(BOXED_ZH)
    lines.append(NEWLINE_NOTE)
    return _user("\n".join(lines))


# --- evaluation (RECIPE.md §7) ----------------------------------------------------------------------------


def _check_variant(variant: str) -> None:
    if variant not in PROMPT_VARIANTS:
        raise ValueError(f"prompt variant must be one of {', '.join(PROMPT_VARIANTS)}, got {variant!r}")


def finqa_eval(rec: FinQARecord, variant: str = "faithful") -> list[dict[str, str]]:
    """FinQA: the §2 blocks with the table as a Python list of rows, then the step-by-step instruction."""
    _check_variant(variant)
    instruction = FINQA_EVAL_INSTRUCTION
    if variant == "faithful":
        instruction += " " + FINQA_EVAL_LENGTH_LINE
    return _user(_join(FINQA_TASK, finqa_blocks(rec, table_to_python(rec.table)), instruction))


def convfinqa_eval(turn: ConvTurn, variant: str = "faithful") -> list[dict[str, str]]:
    """ConvFinQA: the §2 shape with the earlier turns as question and gold-answer history."""
    _check_variant(variant)
    return _user(
        _join(
            CONVFINQA_TASK,
            convfinqa_blocks(turn),
            "Please reason step by step and put the final answer to the last question in \\boxed{}.",
        )
    )


def tfns_eval(item: Item, variant: str = "faithful") -> list[dict[str, str]]:
    """TFNS: the §2 shape."""
    _check_variant(variant)
    return _user(_join(TFNS_TASK, _tfns_body(item.question), _TFNS_REQUIREMENTS))


def ant_finance_eval(item: Item, variant: str = "faithful") -> list[dict[str, str]]:
    """Ant_Finance: the task wrapped in Fin-Eva's own instruction for it (:mod:`finr1_core.formats.fineva`).

    The rows hold a bare utterance and options, or a statement with "请回答是或否" at best; Fin-Eva's harness sends
    each task with its role, field labels and what to answer, and so does finr1, so scores compare with Fin-Eva's.
    A task Fin-Eva has no instruction for is sent as it is (:func:`as_is_eval`).
    """
    _check_variant(variant)
    template = FINEVA_TEMPLATES.get(str(item.meta.get("task", "")))
    if template is None:
        return as_is_eval(item, variant)
    # Fin-Eva fills a missing field with "/" (its loader's default), so an absent option reads as it does there
    fields = {"question": item.question, "context": item.context or "/"}
    fields.update({letter: (item.choices or {}).get(letter, "/") for letter in "ABCDE"})
    return _user(template.format_map(fields))


def as_is_eval(item: Item, variant: str = "faithful") -> list[dict[str, str]]:
    """The instruction as it is (Finance-Instruct-500k, FinanceQT; Ant_Finance tasks Fin-Eva does not wrap)."""
    _check_variant(variant)
    body = _choice_body(item)
    if item.answer_type == "boolean":
        body += "\n请回答“是”或“否”。"
    return _user(body)


def fineval_eval(item: Item, variant: str = "faithful") -> list[dict[str, str]]:
    """FinEval: the Chinese expert preamble, then "问题: …" with the options."""
    _check_variant(variant)
    return _user(f"{FINEVAL_PREAMBLE}\n问题: {item.question}\n{options_text(item.choices)}")


def choice_eval(item: Item, variant: str = "faithful") -> list[dict[str, str]]:
    """Other Chinese multiple choice (FinanceIQ): a short preamble, the question and options."""
    _check_variant(variant)
    return _user(f"{CHOICE_EVAL_PREAMBLE}\n问题: {item.question}\n{options_text(item.choices)}")


def fincuge_eval(item: Item, variant: str = "faithful") -> list[dict[str, str]]:
    """FinCUGE: the task instruction and text; definite answers go in ``\\boxed{}``."""
    _check_variant(variant)
    lines = [item.instruction, item.question]
    if item.meta.get("task") != "finna":
        lines.append("请把最终答案放到 \\boxed{} 中。")
    return _user("\n".join(lines))


def tfns_label_name(label: str) -> str:
    """Bearish/Bullish/Neutral for a TFNS label id."""
    return TFNS_NAMES[label]
