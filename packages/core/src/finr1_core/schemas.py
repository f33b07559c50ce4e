"""Record schemas: the contracts between finr1 stages, defined once (ARCHITECTURE.md).

Every stage reads and writes these records as Hugging Face datasets. Each model converts to and
from a ``datasets`` row (:meth:`Record.to_row`, :meth:`Record.from_row`) and describes its column
types (:meth:`Record.features`), so an empty split still has the right schema on the Hub.

Storage rules, applied generically from the type hints:

* ``dict[str, V]`` fields (``choices``, ``labels``) are stored as a list of ``{"key", "value"}``
  structs, because Arrow has no map type that survives the Hub viewer and pandas round trips;
* free-form ``dict[str, Any]`` fields (``meta``) are stored as a JSON string;
* optional fields are nullable columns.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from finr1_core.errors import InputError

AnswerType = Literal["numeric", "choice", "boolean", "label", "text", "code"]
Category = Literal["financial_code", "professional_knowledge", "business_knowledge", "reasoning_business_knowledge"]
Language = Literal["en", "zh"]
ANSWER_TYPES: tuple[str, ...] = typing.get_args(AnswerType)
OBJECTIVE_TYPES: frozenset[str] = frozenset({"numeric", "choice", "boolean", "label"})
CATEGORIES: tuple[str, ...] = typing.get_args(Category)

R = TypeVar("R", bound="Record")


class Record(BaseModel):
    """Base of all stage records: strict keys, JSON-able values, datasets conversion."""

    model_config = ConfigDict(extra="forbid")

    #: Fields that are free-form mappings stored as JSON strings.
    _json_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def features(cls) -> Any:
        """Return the ``datasets.Features`` of this record's rows."""
        import datasets

        return datasets.Features({name: _feature(f.annotation) for name, f in cls.model_fields.items()})

    def to_row(self) -> dict[str, Any]:
        """Return a plain dict in the storage layout of :meth:`features`."""
        return {name: _encode(getattr(self, name), f.annotation) for name, f in type(self).model_fields.items()}

    @classmethod
    def from_row(cls: type[R], row: Mapping[str, Any]) -> R:
        """Rebuild a record from a stored row (the inverse of :meth:`to_row`); extra columns are an error."""
        data = {}
        for name, value in row.items():
            field = cls.model_fields.get(name)
            data[name] = _decode(value, field.annotation) if field is not None else value
        return cls.model_validate(data)


class Message(BaseModel):
    """One chat turn."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str


class Usage(BaseModel):
    """Token counts reported by an endpoint (null when the endpoint did not report them)."""

    model_config = ConfigDict(extra="forbid")
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class SourceItem(Record):
    """One prompt from a source dataset, ready for the teacher (distill adapters produce these)."""

    id: str = Field(description="Stable id '<source>/<original id>'.")
    source: str
    category: Category
    language: Language
    messages: list[Message] = Field(min_length=1, description="The prompt; no system turn.")
    reference: str = Field(description="Gold answer text ('' when the source has none).")
    answer_type: AnswerType
    choices: dict[str, str] | None = Field(default=None, description="Option letter -> option text.")
    labels: dict[str, list[str]] | None = Field(default=None, description="Label id -> synonyms.")
    meta: dict[str, Any] = Field(default_factory=dict, description="Original fields worth keeping.")


class DistilledRow(SourceItem):
    """A source item plus one teacher sample (``error`` is set when the call failed)."""

    teacher: str
    sample_index: int = 0
    reasoning: str | None = None
    completion: str | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    latency_s: float | None = None
    error: str | None = None


class Criteria(BaseModel):
    """The seven round-2 criteria of Fin-R1 (RECIPE.md §4); null when not judged."""

    model_config = ConfigDict(extra="forbid")
    internal_consistency: bool | None = None
    term_overlap: bool | None = None
    min_three_steps: bool | None = None
    logical_consistency: bool | None = None
    content_diversity: bool | None = None
    domain_relevance: bool | None = None
    instruction_consistency: bool | None = None


class MechanicalChecks(BaseModel):
    """Deterministic versions of the mechanical criteria, computed without a judge."""

    model_config = ConfigDict(extra="forbid")
    steps: int | None = None
    min_three_steps: bool | None = None
    max_repeated_line_fraction: float | None = None
    content_diversity: bool | None = None
    term_overlap_ratio: float | None = None
    term_overlap: bool | None = None


class JudgedRow(DistilledRow):
    """A distilled row with both judge rounds' verdicts and the routing label."""

    extracted: str | None = None
    answer_score: int | None = Field(default=None, description="Round 1: 1, 0, or null (judge failed).")
    answer_method: Literal["rule", "llm"] | None = None
    judge_answer_raw: str | None = None
    reasoning_score: int | None = Field(default=None, description="Round 2: 1, 0, or null.")
    criteria: Criteria | None = None
    mechanical: MechanicalChecks | None = None
    judge_reasoning_raw: str | None = None
    label: Literal["good", "bad"]
    reject_reason: str | None = None


class SFTRow(Record):
    """The ``sft`` split: a conversation whose assistant turn is ``<think>…</think><answer>…</answer>``."""

    id: str
    source: str
    messages: list[Message] = Field(min_length=2)


class RLRow(Record):
    """The ``rl`` split: an objective prompt and its verifiable reference, without a trace."""

    id: str
    source: str
    prompt: list[Message] = Field(min_length=1)
    solution: str
    question: str | None = Field(
        default=None,
        description="The item's question alone (not the prompt's report text): what the accuracy reward grades by.",
    )
    answer_type: AnswerType
    choices: dict[str, str] | None = None
    labels: dict[str, list[str]] | None = None
    failed_filter: bool = False


class EvalSample(Record):
    """One scored model response on a benchmark item."""

    benchmark: str
    id: str
    category: str | None = None
    messages: list[Message]
    response: str | None = None
    reasoning: str | None = None
    extracted: str | None = None
    reference: str
    answer_type: AnswerType
    correct: bool | None = None
    rule_correct: bool | None = None
    method: Literal["rule", "llm"] | None = None
    rule: str | None = None
    judge_raw: str | None = None
    usage: Usage | None = None
    latency_s: float | None = None
    error: str | None = None


# --- storage conversion ---------------------------------------------------------------------------


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _is_free_mapping(annotation: Any) -> bool:
    return typing.get_origin(annotation) is dict and typing.get_args(annotation)[1] is Any


def _feature(annotation: Any) -> Any:
    import datasets

    annotation = _unwrap_optional(annotation)
    origin = typing.get_origin(annotation)
    if origin is Literal or annotation is str:
        return datasets.Value("string")
    if annotation is bool:
        return datasets.Value("bool")
    if annotation is int:
        return datasets.Value("int64")
    if annotation is float:
        return datasets.Value("float64")
    if _is_free_mapping(annotation):
        return datasets.Value("string")
    if origin is dict:
        return datasets.List({"key": datasets.Value("string"), "value": _feature(typing.get_args(annotation)[1])})
    if origin is list:
        return datasets.List(_feature(typing.get_args(annotation)[0]))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {name: _feature(f.annotation) for name, f in annotation.model_fields.items()}
    raise TypeError(f"no datasets feature for {annotation!r}")


def _encode(value: Any, annotation: Any) -> Any:
    if value is None:
        return None
    annotation = _unwrap_optional(annotation)
    origin = typing.get_origin(annotation)
    if _is_free_mapping(annotation):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if origin is dict:
        inner = typing.get_args(annotation)[1]
        return [{"key": k, "value": _encode(v, inner)} for k, v in value.items()]
    if origin is list:
        inner = typing.get_args(annotation)[0]
        return [_encode(v, inner) for v in value]
    if isinstance(value, BaseModel):
        return {name: _encode(getattr(value, name), f.annotation) for name, f in type(value).model_fields.items()}
    return value


def _decode(value: Any, annotation: Any) -> Any:
    if value is None:
        return None
    annotation = _unwrap_optional(annotation)
    origin = typing.get_origin(annotation)
    if _is_free_mapping(annotation):
        return json.loads(value) if isinstance(value, str) else value
    if origin is dict:
        if isinstance(value, Mapping):
            return dict(value)
        inner = typing.get_args(annotation)[1]
        return {entry["key"]: _decode(entry["value"], inner) for entry in value}
    if origin is list:
        inner = typing.get_args(annotation)[0]
        return [_decode(v, inner) for v in value]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(value, Mapping):
        return {
            k: _decode(v, annotation.model_fields[k].annotation) if k in annotation.model_fields else v
            for k, v in value.items()
        }
    return value


def _describe_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "(row)"
    return f"field '{field}': {err['msg']}"


def validate_row(cls: type[R], row: Mapping[str, Any], *, where: str) -> R:
    """Validate one raw mapping as ``cls``; errors name ``where`` (e.g. ``file.jsonl line 12``) and the field."""
    try:
        return cls.model_validate(row)
    except ValidationError as exc:
        raise InputError(f"{where}: {_describe_error(exc)}") from None


def from_rows(cls: type[R], rows: Iterable[Mapping[str, Any]], *, source: str) -> Iterator[R]:
    """Decode stored rows (``datasets`` layout) into records; a bad row names ``source``, the row and the field."""
    for index, row in enumerate(rows):
        try:
            yield cls.from_row(row)
        except ValidationError as exc:
            raise InputError(f"{source} row {index}: {_describe_error(exc)}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{source} row {index}: cannot decode stored value ({exc})") from None


def to_dataset(cls: type[Record], records: Iterable[Record]) -> Any:
    """Build a ``datasets.Dataset`` with ``cls.features()`` from records (an empty list gives an empty split)."""
    import datasets

    rows = [r.to_row() for r in records]
    features = cls.features()
    if not rows:
        return datasets.Dataset.from_dict({name: [] for name in features}, features=features)
    return datasets.Dataset.from_list(rows, features=features)


def require_columns(column_names: Iterable[str], cls: type[Record], *, source: str) -> None:
    """Fail with one line when a dataset lacks a column that ``cls`` requires."""
    present = set(column_names)
    required = [name for name, f in cls.model_fields.items() if f.is_required()]
    missing = [name for name in required if name not in present]
    if missing:
        raise InputError(f"{source}: missing column(s) {', '.join(missing)} required for {cls.__name__} rows")
