"""The source-adapter interface and helpers shared by the adapters."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any, ClassVar

from finr1_core.errors import InputError
from finr1_core.formats.records import Item
from finr1_core.schemas import SourceItem, validate_row

logger = logging.getLogger(__name__)

#: Set to 1/true/yes to read the shipped samples whenever no ``data`` path is given (the embedded pipeline).
OFFLINE_SAMPLES_ENV = "FINR1_OFFLINE_SAMPLES"
_CJK = re.compile(r"[\u3400-\u9fff]")


def sample_path(name: str) -> Path:
    """The folder of the small sample shipped for source ``name`` (in the source's original format)."""
    path = Path(str(files("finr1_distill") / "samples" / name))
    if not path.is_dir():
        raise InputError(f"no shipped sample for source '{name}' ({path})")
    return path


def offline_samples() -> bool:
    """True when ``FINR1_OFFLINE_SAMPLES`` asks for the shipped samples."""
    return os.environ.get(OFFLINE_SAMPLES_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def guess_language(text: str) -> str:
    """``zh`` when the text contains CJK characters, else ``en``."""
    return "zh" if _CJK.search(text) else "en"


class SourceAdapter:
    """One distillation source: reads its original format (local files or the Hub) into :class:`SourceItem`.

    Subclasses set the class attributes and implement :meth:`read_local` and, when the set is on the Hub,
    :meth:`read_hub`. ``split="train"`` means the adapter's training split (:attr:`train_split`).
    """

    name: ClassVar[str]
    category: ClassVar[str]
    language: ClassVar[str]
    answer_type: ClassVar[str]
    hub_id: ClassVar[str | None] = None
    description: ClassVar[str] = ""
    #: How to get the data when there is no Hub copy (shown when a run names the source without ``data``).
    fetch_hint: ClassVar[str] = "pass --data PATH to its local files"
    #: What ``split="train"`` reads.
    train_split: ClassVar[str] = "train"
    #: Splits this adapter knows.
    splits: ClassVar[tuple[str, ...]] = ("train",)
    #: Splits that are evaluation material (reading them logs a warning; decontamination will drop them).
    eval_splits: ClassVar[tuple[str, ...]] = ()

    def resolve_split(self, split: str) -> str:
        """Map ``train`` to the adapter's training split and reject unknown splits with one line."""
        resolved = self.train_split if split == "train" else split
        if resolved not in self.splits:
            raise InputError(f"source '{self.name}' has no split '{split}' (known: {', '.join(self.splits)})")
        if resolved in self.eval_splits:
            logger.warning(
                "source %s: split '%s' is evaluation material; decontamination will remove it", self.name, resolved
            )
        return resolved

    def load(
        self,
        data: Path | str | None = None,
        *,
        split: str = "train",
        limit: int | None = None,
        samples: bool = False,
        hub_id: str | None = None,
    ) -> Iterator[SourceItem]:
        """Yield source items from local files (``data``), the shipped samples, or the Hub.

        Args:
            data: a file or folder in the dataset's original format; None reads the Hub (``hub_id`` or the
                default id), or the shipped samples when ``samples`` is true or ``FINR1_OFFLINE_SAMPLES`` is set.
            split: ``train`` (the default: the adapter's training split) or another split it knows.
            limit: stop after this many items.
            samples: read the shipped sample even though ``FINR1_OFFLINE_SAMPLES`` is not set.
            hub_id: a Hub dataset id (``ORG/NAME[@REV]``) instead of the default.
        """
        resolved = self.resolve_split(split)
        if limit is not None and limit < 0:
            raise InputError(f"limit must be >= 0, got {limit}")
        if data is None and (samples or offline_samples()):
            data = sample_path(self.name)
        if data is not None:
            path = Path(data)
            if not path.exists():
                raise InputError(f"{path}: data path for source '{self.name}' not found")
            items: Iterable[SourceItem] = self.read_local(path, resolved)
        else:
            repo = hub_id or self.hub_id
            if not repo:
                raise InputError(f"source '{self.name}' has no Hub copy: {self.fetch_hint}")
            items = self.read_hub(repo, resolved)
        count = 0
        for item in items:
            if limit is not None and count >= limit:
                break
            count += 1
            yield item
        logger.info("source %s (%s): %d items", self.name, resolved, count)

    def read_local(self, path: Path, split: str) -> Iterable[SourceItem]:
        """Read local files in the original format."""
        raise NotImplementedError

    def read_hub(self, repo_id: str, split: str) -> Iterable[SourceItem]:
        """Read the Hub copy."""
        raise InputError(f"source '{self.name}' cannot read from the Hub; pass --data PATH to its local files")

    # --- helpers for subclasses -------------------------------------------------------------------------------

    def make(
        self,
        original_id: str,
        messages: list[dict[str, str]],
        reference: str,
        answer_type: str,
        *,
        choices: dict[str, str] | None = None,
        labels: dict[str, list[str]] | None = None,
        language: str | None = None,
        category: str | None = None,
        meta: dict[str, Any] | None = None,
        where: str = "",
    ) -> SourceItem:
        """Build and validate a :class:`SourceItem` with the id ``<source>/<original id>``."""
        row = dict(
            id=f"{self.name}/{original_id}",
            source=self.name,
            category=category or self.category,
            language=language or self.language,
            messages=messages,
            reference=reference,
            answer_type=answer_type,
            choices=choices,
            labels=labels,
            meta=meta or {},
        )
        return validate_row(SourceItem, row, where=where or f"source {self.name} item {original_id}")

    def from_item(
        self,
        item: Item,
        messages: list[dict[str, str]],
        *,
        language: str | None = None,
        extra_meta: dict[str, Any] | None = None,
    ) -> SourceItem:
        """Build a :class:`SourceItem` from a parsed :class:`~finr1_core.formats.records.Item`."""
        meta = {"question": item.question, **({"stratum": item.category} if item.category else {}), **item.meta}
        if item.system:
            meta["system"] = item.system
        meta.update(extra_meta or {})
        return self.make(
            item.id,
            messages,
            item.reference,
            item.answer_type,
            choices=item.choices,
            labels=item.labels,
            language=language,
            meta=meta,
        )
