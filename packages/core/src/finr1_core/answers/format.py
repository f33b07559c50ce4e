"""The Fin-R1 output format (RECIPE.md §6), defined once for judge, GRPO, evaluation and serving.

The format is the whole string ``<think>\\n{reasoning}\\n</think>\\n<answer>\\n{answer}\\n</answer>``:

* the judge writes it as the sft assistant turn (:func:`format_turn`) and checks it (:func:`is_formatted`);
* the GRPO format reward is :func:`is_formatted`; the accuracy reward grades :func:`answer_block`;
* :func:`finr1_core.answers.answer_region` finds the graded part of any response with :func:`split_reasoning`
  and :func:`answer_block`; serve's ``ask`` splits a reply with the same two functions.

Rules of :func:`is_formatted`: a whole-string match (``\\A…\\Z``), DOTALL so the bodies span lines, **no
MULTILINE** (with it, open-r1's ``$`` also matches before a newline, so text after ``</answer>\\n`` still scored
1), each of the four tags exactly once (so a lazy body cannot swallow a second block), and only trailing
whitespace and end-of-sequence strings stripped first (nothing at the start: junk before ``<think>`` is a
format error).
"""

from __future__ import annotations

import re

THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE = "<think>", "</think>", "<answer>", "</answer>"
TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)

#: End-of-sequence strings that may survive decoding when a tokenizer does not mark them special
#: (Qwen/ChatML, GPT-2 style, Llama 3, SentencePiece, DeepSeek-R1).
EOS_STRINGS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>", "<｜end▁of▁sentence｜>")

_FORMAT_RE = re.compile(r"\A<think>\n(?P<think>.*?)\n</think>\n<answer>\n(?P<answer>.*?)\n</answer>\Z", re.DOTALL)


def strip_trailing(text: str) -> str:
    """Strip trailing whitespace and end-of-sequence strings, and nothing else (RECIPE.md §6)."""
    previous = None
    while previous != text:
        previous = text
        text = text.rstrip()
        for eos in EOS_STRINGS:
            if text.endswith(eos):
                text = text[: -len(eos)]
    return text


def is_formatted(text: str) -> bool:
    """True when ``text`` is exactly ``<think>\\n…\\n</think>\\n<answer>\\n…\\n</answer>`` (see the module doc)."""
    text = strip_trailing(text)
    if any(text.count(tag) != 1 for tag in TAGS):
        return False
    return _FORMAT_RE.match(text) is not None


def format_turn(reasoning: str, answer: str) -> str:
    """The formatted turn for a reasoning and a final answer (both stripped; neither may hold a tag)."""
    return f"{THINK_OPEN}\n{reasoning.strip()}\n{THINK_CLOSE}\n{ANSWER_OPEN}\n{answer.strip()}\n{ANSWER_CLOSE}"


def split_reasoning(text: str) -> tuple[str, str | None]:
    """Split a response into ``(reasoning, after)`` at the last ``</think>``.

    * With a ``</think>``: the reasoning is what precedes it, from just after the first ``<think>`` (anything
      before ``<think>``, such as stray template tokens, is dropped); ``after`` is the rest. A missing
      ``<think>`` is fine (chat templates that open the block in the prompt).
    * With a ``<think>`` that never closes (cut off while thinking): ``after`` is ``None``, the response has
      committed to no answer, whatever the thinking says.
    * Without think tags: no reasoning, ``after`` is the whole text.
    """
    close = text.rfind(THINK_CLOSE)
    if close >= 0:
        start = text.find(THINK_OPEN, 0, close)
        reasoning = text[start + len(THINK_OPEN) if start >= 0 else 0 : close]
        return reasoning.strip(), text[close + len(THINK_CLOSE) :]
    start = text.find(THINK_OPEN)
    if start >= 0:
        return text[start + len(THINK_OPEN) :].strip(), None
    return "", text


def after_reasoning(text: str) -> str | None:
    """The ``after`` of :func:`split_reasoning` without building the reasoning (the graders' hot path)."""
    close = text.rfind(THINK_CLOSE)
    if close >= 0:
        return text[close + len(THINK_CLOSE) :]
    return None if THINK_OPEN in text else text


def answer_block(text: str, *, closed: bool = True) -> str | None:
    """The content (stripped) of the last ``<answer>…</answer>`` block, or ``None`` when there is none.

    Args:
        text: A response or the part of it after the reasoning.
        closed: Only complete blocks count (the GRPO reward: no ``</answer>``, no answer). With ``False``, a last
            block cut off before its ``</answer>`` also counts (evaluation reads a truncated answer block).
    """
    start = text.rfind(ANSWER_OPEN)
    while start >= 0:
        stop = text.find(ANSWER_CLOSE, start)
        if stop >= 0:
            return text[start + len(ANSWER_OPEN) : stop].strip()
        if not closed:
            return text[start + len(ANSWER_OPEN) :].strip()
        start = text.rfind(ANSWER_OPEN, 0, start)  # an unclosed last block: the complete one before it
    return None


def unwrap_answer(text: str) -> str:
    """``text`` without its ``<answer>`` tags when it is exactly one ``<answer>…</answer>`` block, else ``text``."""
    s = text.strip()
    if s.startswith(ANSWER_OPEN) and s.endswith(ANSWER_CLOSE) and s.count(ANSWER_OPEN) == 1:
        return s[len(ANSWER_OPEN) : -len(ANSWER_CLOSE)].strip()
    return s
