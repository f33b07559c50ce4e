"""Stratified, proportional, reproducible sampling of benchmark items (RECIPE.md §7)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from finr1_evaluate.benchmarks.base import BenchItem


def allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Split ``n`` across strata in proportion to their sizes (largest remainder; ties by stratum name)."""
    total = sum(sizes.values())
    if n >= total:
        return dict(sizes)
    quotas = {k: n * v / total for k, v in sizes.items()}
    counts = {k: int(q) for k, q in quotas.items()}
    left = n - sum(counts.values())
    for k in sorted(quotas, key=lambda k: (-(quotas[k] - counts[k]), k))[:left]:
        counts[k] += 1
    return counts


def sample_items(items: Sequence[BenchItem], n: int = 1000, seed: int = 42) -> list[BenchItem]:
    """All items when there are at most ``n``; else ``n`` drawn stratified by ``category``.

    Each stratum gets a share proportional to its size; within a stratum the items are ordered by id and drawn
    with ``random.Random(seed)``, so the result depends only on the item ids, categories and the seed, not on
    the input order. The chosen items are returned in their input order.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if len(items) <= n:
        return list(items)
    strata: dict[str, list[BenchItem]] = defaultdict(list)
    for item in items:
        strata[item.category].append(item)
    counts = allocate({k: len(v) for k, v in strata.items()}, n)
    rng = random.Random(seed)
    chosen: set[str] = set()
    for category in sorted(strata):
        members = sorted(strata[category], key=lambda it: it.id)
        chosen.update(it.id for it in rng.sample(members, counts[category]))
    return [it for it in items if it.id in chosen]
