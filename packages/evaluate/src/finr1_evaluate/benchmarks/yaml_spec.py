"""Benchmarks described by a YAML file, for the simple cases (a JSONL/JSON/CSV/Parquet file with a column mapping).

Example (``my_bench.yaml``; relative paths are relative to the YAML file)::

    name: bank_exam
    data: bank_exam.csv           # or hub_id: ORG/NAME with split: test
    id_column: qid                # default: the row number
    question_column: question
    reference_column: answer
    choice_columns: [A, B, C, D]  # optional: letter columns of a multiple-choice set
    category_column: subject      # optional: the sampling stratum
    answer_type: choice           # numeric | choice | boolean | label | text | code
    template: "以下是一道单项选择题，请把答案字母放到 \\\\boxed{{}} 中。\\n{question}\\n{choices}"
    scoring: rule                 # rule | judge | rule_then_judge

``template`` is a Python format string over the row's columns plus ``{choices}`` (the lettered options, one per
line); literal braces are doubled (``\\\\boxed{{}}``).
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from finr1_core.errors import ConfigError, InputError
from finr1_core.formats._io import read_records
from finr1_core.formats.hub import hub_rows
from finr1_core.formats.prompts import options_text
from finr1_core.schemas import AnswerType
from finr1_evaluate.benchmarks.base import BenchItem, Benchmark, Scoring


class YamlBenchmarkSpec(BaseModel):
    """The keys of a YAML benchmark file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Registry name.")
    data: str | None = Field(default=None, description="Data file (relative to the YAML file).")
    hub_id: str | None = Field(default=None, description="Hub dataset id read when no data file is given.")
    split: str = Field(default="test", description="Hub split.")
    id_column: str | None = Field(default=None, description="Column with item ids (default: row number).")
    question_column: str = "question"
    reference_column: str = "answer"
    category_column: str | None = None
    choice_columns: list[str] | None = Field(default=None, description="Option columns; the letter is the name.")
    answer_type: AnswerType
    labels: dict[str, list[str]] | None = None
    template: str = "{question}"
    scoring: Scoring = "rule"
    headline: bool = False
    judge_note: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _source(self) -> YamlBenchmarkSpec:
        if not self.data and not self.hub_id:
            raise ValueError("give 'data' (a file) or 'hub_id'")
        return self


class YamlBenchmark(Benchmark):
    """A benchmark built from a :class:`YamlBenchmarkSpec`."""

    def __init__(self, spec: YamlBenchmarkSpec, base_dir: Path, source: str) -> None:
        self.spec = spec
        self.base_dir = base_dir
        self.source = source
        self.name = spec.name
        self.hub_id = spec.hub_id
        self.headline = spec.headline
        self.scoring = spec.scoring
        self.judge_note = spec.judge_note
        self.description = spec.description or f"YAML benchmark from {source}"
        self.stratum = spec.category_column or "(one stratum)"
        self.layout = spec.data or f"hf://datasets/{spec.hub_id} split {spec.split}"
        fields = {f for _, f, _, _ in string.Formatter().parse(spec.template) if f}
        self._template_fields = {f.split(".")[0].split("[")[0] for f in fields}

    def load(
        self,
        data: Path | str | None = None,
        *,
        prompt_variant: str = "faithful",
        samples: bool = False,
        hub_id: str | None = None,
    ) -> list[BenchItem]:
        if data is None and not samples and self.spec.data and not hub_id:
            data = self.base_dir / self.spec.data
        return super().load(data, prompt_variant=prompt_variant, samples=samples, hub_id=hub_id)

    def resolve_data(self, path: Path) -> Path:
        if not path.exists():
            raise InputError(f"{path}: data file of YAML benchmark '{self.name}' ({self.source}) not found")
        return path

    def read_local(self, path: Path, variant: str) -> list[BenchItem]:
        return [self._item(where, i, row) for i, (where, row) in enumerate(read_records(path))]

    def read_hub(self, repo_id: str, variant: str) -> list[BenchItem]:
        return [self._item(where, i, row) for i, (where, row) in enumerate(hub_rows(repo_id, self.spec.split))]

    def _item(self, where: str, index: int, row: dict[str, Any]) -> BenchItem:
        spec = self.spec
        needed = [spec.question_column, spec.reference_column, *(spec.choice_columns or [])]
        needed += [c for c in (spec.id_column, spec.category_column) if c]
        needed += [f for f in self._template_fields if f != "choices"]
        missing = [c for c in dict.fromkeys(needed) if c not in row]
        if missing:
            raise InputError(f"{where}: missing column(s) {', '.join(missing)} (YAML benchmark {self.source})")
        choices = None
        if spec.choice_columns:
            choices = {c: str(row[c]).strip() for c in spec.choice_columns if str(row[c] or "").strip()}
        values = {k: "" if v is None else v for k, v in row.items()}
        try:
            prompt = spec.template.format(**{**values, "choices": options_text(choices)})
        except (IndexError, KeyError, ValueError) as exc:
            raise ConfigError(f"{self.source}: key 'template' cannot be filled from {where} ({exc})") from None
        item_id = str(row[spec.id_column]) if spec.id_column else str(index)
        return BenchItem(
            id=item_id,
            category=str(row[spec.category_column]) if spec.category_column else spec.name,
            messages=[{"role": "user", "content": prompt}],
            reference=str(row[spec.reference_column]).strip(),
            answer_type=spec.answer_type,
            choices=choices,
            labels=spec.labels,
            question=str(row[spec.question_column]),
        )


def _spec_error(path: Path, exc: ValidationError) -> str:
    """One line for a bad spec; an unknown key is named first (a typo like ``answer_typ`` would otherwise be
    reported only as the missing ``answer_type``), with the closest known key and the list of keys."""
    import difflib

    errors = exc.errors()
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    if unknown:
        key = ".".join(str(p) for p in unknown[0]["loc"])
        known = list(YamlBenchmarkSpec.model_fields)
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"{path}: unknown key '{key}': {hint}remove or rename it (keys: {', '.join(known)})"
    err = errors[0]
    key = ".".join(str(p) for p in err["loc"]) or "(file)"
    return f"{path}: key '{key}': {err['msg']}"


def load_yaml_benchmark(path: Path | str) -> YamlBenchmark:
    """Build a benchmark from a YAML file (see the module docstring); errors name the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: YAML benchmark file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys (name, data, answer_type, ...)")
    try:
        spec = YamlBenchmarkSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_spec_error(path, exc)) from None
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(spec.template) if f is not None]
    except ValueError as exc:
        raise ConfigError(f"{path}: key 'template': {exc} (double literal braces: \\\\boxed{{{{}}}})") from None
    if any(f == "" or f.isdigit() for f in fields):
        raise ConfigError(
            f"{path}: key 'template': use named fields like {{question}}, not {{}} (double literal braces)"
        )
    return YamlBenchmark(spec, path.parent, str(path))
