"""Decontamination primitives (RECIPE.md §11): normalised text, n-grams and an index of evaluation texts.

* :func:`normalize_text`: NFKC, lower case, punctuation and symbols removed, whitespace collapsed.
* :func:`tokens`: words, with every CJK character its own token (Chinese has no spaces).
* :class:`EvalIndex`: exact normalised texts, 8-gram hashes and FinQA/ConvFinQA report pages of evaluation
  sets. :meth:`EvalIndex.check` says why a text is contaminated, or returns None.

The n-gram rule: open-r1's ``scripts/decontaminate.py`` drops a sample when *any* 8-gram of it occurs in an
evaluation set. On Chinese exam questions (8 characters) and FinQA boilerplate ("what was the percentage
change in the ...") that removes many unrelated items, so finr1 flags a text when at least ``threshold`` of
its 8-grams (default half) occur in the index; ``threshold=0`` restores open-r1's any-match rule. Texts
shorter than ``n`` tokens are compared as one n-gram.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import Any

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_TOKEN = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")


def normalize_text(text: str) -> str:
    """NFKC, lower case, punctuation and symbols replaced by spaces, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = "".join(" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text)
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    """Tokens of the normalised text: words, and single CJK characters."""
    return _TOKEN.findall(normalize_text(text))


def _hash(text: str) -> int:
    # Python's string hash is salted per process, which is fine: an index lives in one process. It is ~5x
    # faster than hashlib on the ~2 million n-grams of ../shared/data.
    return hash(text)


def ngram_hashes(text: str, n: int = 8) -> list[int]:
    """64-bit hashes of the token n-grams of ``text`` (one hash of all tokens when there are fewer than ``n``)."""
    toks = tokens(text)
    if not toks:
        return []
    if len(toks) < n:
        return [_hash("\x1f".join(toks))]
    return [_hash("\x1f".join(toks[i : i + n])) for i in range(len(toks) - n + 1)]


class EvalIndex:
    """Normalised texts, n-gram hashes and report pages of evaluation sets, for :meth:`check`."""

    def __init__(self, n: int = 8, threshold: float = 0.5) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold must be between 0 and 1")
        self.n = n
        self.threshold = threshold
        self.counts: Counter[str] = Counter()
        self._exact: dict[int, str] = {}
        self._pages: dict[str, str] = {}
        self._pending: list[int] = []
        self._grams: Any = None

    def add(self, text: str, *, source: str, page: str | None = None) -> None:
        """Index one evaluation text (and its report page, for FinQA/ConvFinQA)."""
        norm = normalize_text(text)
        if norm:
            self._exact.setdefault(_hash(norm), source)
            self._pending.extend(ngram_hashes(text, self.n))
        if page:
            self._pages.setdefault(page, source)
        self.counts[source] += 1

    def add_page(self, page: str, *, source: str) -> None:
        """Index a report page only."""
        self._pages.setdefault(page, source)

    def _frozen(self) -> Any:
        import numpy as np

        if self._pending:
            grams = np.fromiter(self._pending, dtype=np.int64, count=len(self._pending))
            if self._grams is not None:
                grams = np.concatenate([self._grams, grams])
            grams.sort()  # sort + drop repeats: np.unique's hash path is ~8x slower on millions of int64
            keep = np.empty(len(grams), dtype=bool)
            keep[:1] = True
            np.not_equal(grams[1:], grams[:-1], out=keep[1:])
            self._grams = grams[keep]
            self._pending = []
        return self._grams

    def __len__(self) -> int:
        return sum(self.counts.values())

    @property
    def pages(self) -> frozenset[str]:
        """The indexed report pages."""
        return frozenset(self._pages)

    def overlap(self, text: str) -> float:
        """Fraction of the text's n-grams that occur in the index."""
        import numpy as np

        grams = self._frozen()
        mine = ngram_hashes(text, self.n)
        if grams is None or not mine or len(grams) == 0:
            return 0.0
        query = np.asarray(mine, dtype=np.int64)
        # grams is sorted and unique: a binary search per n-gram (np.isin re-sorts the whole index per call)
        pos = np.minimum(np.searchsorted(grams, query), len(grams) - 1)
        return float((grams[pos] == query).mean())

    def check(self, text: str, page: str | None = None) -> str | None:
        """Why ``text`` (with its report page) is contaminated, or None.

        Returns ``"text:<source>"`` for an exact normalised match, ``"page:<source>"`` for a shared report page,
        ``"ngram:<fraction>"`` for n-gram overlap at or above the threshold.
        """
        if page and page in self._pages:
            return f"page:{self._pages[page]}"
        norm = normalize_text(text)
        if not norm:
            return None
        source = self._exact.get(_hash(norm))
        if source is not None:
            return f"text:{source}"
        fraction = self.overlap(text)
        if fraction > 0 and fraction >= self.threshold:
            return f"ngram:{fraction:.2f}"
        return None

    def add_all(self, texts: Iterable[str], *, source: str) -> None:
        """Index several texts of one source."""
        for text in texts:
            self.add(text, source=source)
