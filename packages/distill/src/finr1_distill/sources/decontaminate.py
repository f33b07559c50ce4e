"""Drop source items that appear in evaluation sets (RECIPE.md §11)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable

from finr1_core.formats.decontam import EvalIndex
from finr1_core.schemas import SourceItem

logger = logging.getLogger(__name__)


def item_text(item: SourceItem) -> str:
    """The text compared against evaluation sets.

    ConvFinQA turns use the dialogue so far (``meta["dialogue"]``): a single turn such as "what was, then, the
    change over the year?" is too generic to compare on its own. Other items use the raw question the adapter
    kept (``meta["question"]``), else the last user turn.
    """
    for key in ("dialogue", "question"):
        text = item.meta.get(key)
        if isinstance(text, str) and text.strip():
            return text
    users = [m.content for m in item.messages if m.role == "user"]
    return users[-1] if users else ""


def decontaminate(
    items: Iterable[SourceItem], eval_index: EvalIndex, *, reasons: dict[str, str] | None = None
) -> tuple[list[SourceItem], list[str]]:
    """Split items into those kept and the ids of those removed.

    An item is removed when its normalised question text is an evaluation text, when enough of its 8-grams
    occur in evaluation sets (see :class:`~finr1_core.formats.decontam.EvalIndex`), or when it comes from a
    FinQA/ConvFinQA report page used for evaluation (``meta["page"]``). Pass a dict as ``reasons`` to get
    ``id -> reason``; the counts per reason are logged.
    """
    kept: list[SourceItem] = []
    removed: list[str] = []
    why: Counter[str] = Counter()
    for item in items:
        page = item.meta.get("page") if isinstance(item.meta.get("page"), str) else None
        reason = eval_index.check(item_text(item), page=page)
        if reason is None:
            kept.append(item)
            continue
        removed.append(item.id)
        why[reason.split(":")[0]] += 1
        if reasons is not None:
            reasons[item.id] = reason
    total = len(kept) + len(removed)
    logger.info(
        "decontamination: removed %d of %d items (%s)",
        len(removed),
        total,
        ", ".join(f"{k} {v}" for k, v in sorted(why.items())) or "none",
    )
    return kept, removed
