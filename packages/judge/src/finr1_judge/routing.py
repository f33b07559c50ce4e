"""Routing judged rows to the ``sft``, ``rl`` and ``rejected`` splits (ARCHITECTURE.md, RECIPE.md §4).

- ``sft``: rows good in both rounds, as a conversation: the Fin-R1 system prompt, the item's prompt and
  the assistant turn ``<think>\\n{reasoning}\\n</think>\\n<answer>\\n{completion}\\n</answer>`` — exactly
  the whole-string format the GRPO format reward checks (RECIPE.md §6).
- ``rl``: one row per objective *item* with a verifiable gold, whatever happened to its traces;
  ``failed_filter`` is true when none of its samples was good. Free-form items never enter rl.
- ``rejected``: every bad row, with its ``reject_reason``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from finr1_core.answers import format_turn, is_formatted, item_question
from finr1_core.answers.format import TAGS, unwrap_answer
from finr1_core.schemas import OBJECTIVE_TYPES, JudgedRow, Message, RLRow, SFTRow


def format_ok(text: str) -> bool:
    """RECIPE.md §6 format rule, the one GRPO rewards: :func:`finr1_core.answers.is_formatted`."""
    return is_formatted(text)


def assistant_turn(reasoning: str | None, completion: str | None) -> tuple[str | None, str | None]:
    """Build the sft assistant turn; returns ``(turn, None)`` or ``(None, why it cannot be built)``.

    The completion may already be wrapped in ``<answer>…</answer>`` (the teacher saw the format);
    that wrapper is removed once. Any other tag inside the trace or the answer would give a turn the
    format reward scores 0, so such a row is rejected rather than repaired.
    """
    think = (reasoning or "").strip()
    answer = unwrap_answer(completion or "")
    if not think:
        return None, "empty reasoning"
    if not answer:
        return None, "empty final answer"
    for tag in TAGS:
        if tag in think or tag in answer:
            return None, f"tag {tag} inside the trace"
    turn = format_turn(think, answer)
    if not format_ok(turn):  # pragma: no cover - guarded by the checks above
        return None, "format check failed"
    return turn, None


def row_key(row: JudgedRow) -> str:
    """Unique key of a (item, sample) row."""
    return f"{row.id}#{row.sample_index}"


def sft_row(row: JudgedRow, system_prompt: str) -> SFTRow:
    """The sft conversation of a good row."""
    turn, why = assistant_turn(row.reasoning, row.completion)
    if turn is None:
        raise ValueError(f"{row_key(row)}: good row without a valid assistant turn ({why})")
    messages = [Message(role="system", content=system_prompt)] if system_prompt else []
    messages += [m for m in row.messages if m.role != "system"]
    messages.append(Message(role="assistant", content=turn))
    return SFTRow(id=row_key(row), source=row.source, messages=messages)


@dataclass
class Routed:
    """The three output splits."""

    sft: list[SFTRow] = field(default_factory=list)
    rl: list[RLRow] = field(default_factory=list)
    rejected: list[JudgedRow] = field(default_factory=list)


def route(
    rows: Iterable[JudgedRow],
    *,
    system_prompt: str,
    verifiable: Callable[[JudgedRow], bool],
    rl_system_prompt: bool = False,
) -> Routed:
    """Split judged rows into sft, rl and rejected.

    Args:
        rows: every judged row (all samples of an item must be present together, as shards are by item).
        system_prompt: the sft system turn (RECIPE.md §6).
        verifiable: whether an objective row's gold can be checked by rule (only those enter rl).
        rl_system_prompt: also put the system prompt at the head of rl prompts.
    """
    out = Routed()
    first_of_item: dict[str, JudgedRow] = {}
    good_items: set[str] = set()
    for row in rows:
        if row.label == "good":
            out.sft.append(sft_row(row, system_prompt))
            good_items.add(row.id)
        else:
            out.rejected.append(row)
        if row.answer_type in OBJECTIVE_TYPES and row.id not in first_of_item:
            first_of_item[row.id] = row
    for item_id, row in first_of_item.items():
        if not verifiable(row):
            continue
        prompt = [m for m in row.messages if m.role != "system"]
        if rl_system_prompt and system_prompt:
            prompt = [Message(role="system", content=system_prompt), *prompt]
        out.rl.append(
            RLRow(
                id=item_id,
                source=row.source,
                prompt=prompt,
                solution=row.reference,
                question=item_question(row),  # the question alone, for the reward's question-sensitive rules
                answer_type=row.answer_type,
                choices=row.choices,
                labels=row.labels,
                failed_filter=item_id not in good_items,
            )
        )
    return out
