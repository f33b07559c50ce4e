"""The benchmark registry of finr1-evaluate (RECIPE.md §7).

``BENCHMARKS`` maps a name to a :class:`Benchmark`: the headline sets ``finqa``, ``convfinqa``, ``ant_finance``,
``tfns``, ``finance_instruct_500k``, plus ``fineval``, ``financeiq`` and ``fincuge_<task>``. A benchmark has
``name``, ``hub_id``, ``headline``, ``scoring`` (rule | judge | rule_then_judge) and ``judge_note``, and
``load(data=None, *, prompt_variant="faithful", samples=False)`` returning :class:`BenchItem` objects with
``category`` = the sampling stratum. :func:`sample_items` draws the stratified, proportional, seeded sample.

Add a benchmark with a small class (subclass :class:`Benchmark`, implement ``read_local``, call
:func:`register_benchmark`) or, for a plain file with a column mapping, a YAML file
(:func:`load_yaml_benchmark`; see :mod:`finr1_evaluate.benchmarks.yaml_spec`).
"""

from finr1_evaluate.benchmarks import builtin as _builtin  # noqa: F401  (registers the built-in benchmarks)
from finr1_evaluate.benchmarks.base import (
    BENCHMARKS,
    OFFLINE_SAMPLES_ENV,
    SCORINGS,
    BenchItem,
    Benchmark,
    Scoring,
    get_benchmark,
    register_benchmark,
    sample_path,
)
from finr1_evaluate.benchmarks.command import benchmarks_command
from finr1_evaluate.benchmarks.sampling import allocate, sample_items
from finr1_evaluate.benchmarks.yaml_spec import YamlBenchmark, YamlBenchmarkSpec, load_yaml_benchmark

HEADLINE: tuple[str, ...] = tuple(name for name, b in BENCHMARKS.items() if b.headline)

__all__ = [
    "BENCHMARKS",
    "HEADLINE",
    "OFFLINE_SAMPLES_ENV",
    "SCORINGS",
    "BenchItem",
    "Benchmark",
    "Scoring",
    "YamlBenchmark",
    "YamlBenchmarkSpec",
    "allocate",
    "benchmarks_command",
    "get_benchmark",
    "load_yaml_benchmark",
    "register_benchmark",
    "sample_items",
    "sample_path",
]
