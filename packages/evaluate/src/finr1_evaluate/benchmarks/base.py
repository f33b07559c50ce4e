"""The benchmark interface: an item type, a base class, shipped samples and the registry."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from finr1_core.errors import InputError
from finr1_core.formats.prompts import PROMPT_VARIANTS

logger = logging.getLogger(__name__)

Scoring = Literal["rule", "judge", "rule_then_judge"]
SCORINGS: tuple[str, ...] = ("rule", "judge", "rule_then_judge")
OFFLINE_SAMPLES_ENV = "FINR1_OFFLINE_SAMPLES"
#: Folder names of a ``../shared/data``-like root (used to tell a root from a dataset folder).
DATA_FOLDERS = (
    "finqa",
    "convfinqa",
    "tfns",
    "ant_finance",
    "fineval",
    "financeiq",
    "fincuge",
    "finance_instruct_500k",
)


@dataclass(frozen=True, eq=False)
class BenchItem:
    """One evaluation item: the prompt (no system turn unless a run adds one), the gold and its stratum."""

    id: str
    category: str
    messages: list[dict[str, str]]
    reference: str
    answer_type: str
    choices: dict[str, str] | None = None
    labels: dict[str, list[str]] | None = None
    question: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def sample_path(name: str) -> Path:
    """The folder of the small sample shipped for benchmark ``name`` (laid out like ``../shared/data/<name>``)."""
    path = Path(str(files("finr1_evaluate") / "samples" / name))
    if not path.is_dir():
        raise InputError(f"no shipped sample for benchmark '{name}'; pass --data PATH")
    return path


def offline_samples() -> bool:
    """True when ``FINR1_OFFLINE_SAMPLES`` asks for the shipped samples."""
    return os.environ.get(OFFLINE_SAMPLES_ENV, "").strip().lower() in ("1", "true", "yes", "on")


class Benchmark:
    """A benchmark: reads its original format (local files or the Hub) and builds the RECIPE.md §7 prompts.

    To add one, subclass, set the class attributes, implement :meth:`read_local` (and :meth:`read_hub` if it is
    on the Hub), and call :func:`~finr1_evaluate.benchmarks.register_benchmark` with an instance.
    """

    name: str = ""
    hub_id: str | None = None
    headline: bool = False
    scoring: Scoring = "rule"
    judge_note: str | None = None
    description: str = ""
    #: What ``category`` means for this benchmark (the sampling stratum).
    stratum: str = ""
    #: The local files read under ``--data`` (for the listing).
    layout: str = ""

    def load(
        self,
        data: Path | str | None = None,
        *,
        prompt_variant: str = "faithful",
        samples: bool = False,
        hub_id: str | None = None,
    ) -> list[BenchItem]:
        """Read every item of the benchmark.

        Args:
            data: a folder laid out like ``../shared/data/<name>`` (or the ``../shared/data`` root, or a file);
                None reads the Hub (``hub_id`` or the default), or the shipped sample when ``samples`` is true or
                ``FINR1_OFFLINE_SAMPLES`` is set.
            prompt_variant: ``faithful`` (Fin-R1's texts) or ``clean`` (without the FinQA 2048-token line).
            samples: read the shipped sample.
            hub_id: a Hub dataset id instead of the default.
        """
        if prompt_variant not in PROMPT_VARIANTS:
            raise InputError(f"prompt variant must be one of {', '.join(PROMPT_VARIANTS)}, got '{prompt_variant}'")
        if data is None and (samples or offline_samples()):
            data = sample_path(self.name)
        if data is not None:
            path = self.resolve_data(Path(data))
            items = list(self.read_local(path, prompt_variant))
        else:
            repo = hub_id or self.hub_id
            if not repo:
                raise InputError(f"benchmark '{self.name}' has no Hub copy; pass --data PATH ({self.layout})")
            items = list(self.read_hub(repo, prompt_variant))
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                raise InputError(f"benchmark '{self.name}': duplicate item id '{item.id}'")
            seen.add(item.id)
        logger.info("benchmark %s: %d items", self.name, len(items))
        return items

    def resolve_data(self, path: Path) -> Path:
        """Accept the dataset folder, a file, or a root holding a folder named like the benchmark's data."""
        if not path.exists():
            raise InputError(f"{path}: data path for benchmark '{self.name}' not found")
        if not path.is_dir():
            return path
        folder = path / self.data_folder()
        if folder.is_dir():
            return folder
        if path.name != self.data_folder() and any((path / d).is_dir() for d in DATA_FOLDERS):
            raise InputError(f"{path}: no '{self.data_folder()}' folder for benchmark '{self.name}' ({self.layout})")
        return path

    def data_folder(self) -> str:
        """The folder name under a ``../shared/data``-like root."""
        return self.name

    def read_local(self, path: Path, variant: str) -> list[BenchItem]:
        """Read local files in the original format."""
        raise NotImplementedError

    def read_hub(self, repo_id: str, variant: str) -> list[BenchItem]:
        """Read the Hub copy."""
        raise InputError(f"benchmark '{self.name}' cannot read from the Hub; pass --data PATH ({self.layout})")


BENCHMARKS: dict[str, Benchmark] = {}


def register_benchmark(benchmark: Benchmark, *, replace: bool = False) -> Benchmark:
    """Add a benchmark to :data:`BENCHMARKS` (an existing name needs ``replace=True``)."""
    if not benchmark.name:
        raise ValueError("a benchmark needs a name")
    if benchmark.scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {', '.join(SCORINGS)}")
    if benchmark.name in BENCHMARKS and not replace:
        raise ValueError(f"benchmark '{benchmark.name}' is already registered")
    BENCHMARKS[benchmark.name] = benchmark
    return benchmark


def get_benchmark(name: str) -> Benchmark:
    """Return the benchmark called ``name`` or raise naming the known ones."""
    if name not in BENCHMARKS:
        raise InputError(f"unknown benchmark '{name}' (known: {', '.join(BENCHMARKS)})")
    return BENCHMARKS[name]
