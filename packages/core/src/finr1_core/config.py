"""Configuration: defaults < YAML ``--config`` < explicit flags, implemented once for every tool.

Each tool describes its configuration as a pydantic model with ``extra="forbid"``; :func:`load_config`
merges the YAML file and the flag overrides into it. Unknown keys and wrong types are
:class:`~finr1_core.errors.ConfigError` with one line naming the file (or ``command line``), the
dotted key and the expected type. Secrets never live in configs: fields hold the *name* of an
environment variable (``api_key_env``), and :func:`redact_config` strips anything secret-looking
before a config is logged or written into lineage.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from finr1_core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for config models: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file, bad YAML or a non-mapping is a one-line ConfigError."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found (check the --config path)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}:{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level, got {type(data).__name__}")
    return data


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    node = target
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _describe(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "a mapping"
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    if annotation in names:
        return names[annotation]
    if origin in (list, tuple, set):
        return "a list"
    if origin is dict:
        return "a mapping"
    return getattr(annotation, "__name__", str(annotation))


def _annotation_at(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[Any, type[BaseModel] | None]:
    """Walk ``loc`` through nested models; return the field annotation and its enclosing model."""
    current: Any = model
    annotation: Any = None
    parent: type[BaseModel] | None = None
    for part in loc:
        candidates = [current]
        if typing.get_origin(current) in (typing.Union, types.UnionType):
            candidates = list(typing.get_args(current))
        nxt = None
        for cand in candidates:
            if isinstance(cand, type) and issubclass(cand, BaseModel) and isinstance(part, str):
                field = cand.model_fields.get(part)
                parent = cand
                if field is not None:
                    nxt = field.annotation
                break
            if typing.get_origin(cand) in (list, dict) and typing.get_args(cand):
                nxt = typing.get_args(cand)[-1]
                break
        if nxt is None:
            return None, parent
        current = annotation = nxt
    return annotation, parent


def _format_error(model: type[BaseModel], exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    key = ".".join(str(p) for p in loc) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden":
        container: Any = _annotation_at(model, loc[:-1])[0] if len(loc) > 1 else model
        if typing.get_origin(container) in (typing.Union, types.UnionType):
            container = next((a for a in typing.get_args(container) if isinstance(a, type)), None)
        is_model = isinstance(container, type) and issubclass(container, BaseModel)
        allowed = ", ".join(sorted(container.model_fields)) if is_model else ""
        hint = f" (allowed here: {allowed})" if allowed else ""
        return f"{source}: unknown key '{key}'{hint}"
    if kind == "missing":
        return f"{source}: missing required key '{key}'"
    annotation, _ = _annotation_at(model, loc)
    expected = _describe(annotation) if annotation is not None else err["msg"]
    got = err.get("input")
    got_text = repr(got) if not isinstance(got, dict) else "a mapping"
    if len(got_text) > 60:
        got_text = got_text[:57] + "..."
    return f"{source}: key '{key}': expected {expected}, got {got_text} ({err['msg']})"


def load_config(model_cls: type[M], path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> M:
    """Build ``model_cls`` from its defaults, then the YAML file at ``path``, then ``overrides``.

    Args:
        model_cls: a pydantic model (use :class:`StrictModel` so unknown keys are rejected).
        path: optional YAML file; its keys are validated against ``model_cls``.
        overrides: flag values by dotted key (``"teacher.base_url"``); ``None`` values are ignored, so
            Click options can default to ``None`` and only explicit flags win.

    Raises:
        ConfigError: one line naming the file (or ``command line``), the key and the expected type.
    """
    data: dict[str, Any] = read_yaml(path) if path is not None else {}
    source = str(path) if path is not None else "config"
    try:
        model_cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(model_cls, exc, source)) from None
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, key, value)
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(model_cls, exc, "command line")) from None


def redact_config(value: Any) -> Any:
    """Return a JSON-ready copy of a config with secret-looking keys and values removed.

    One implementation for logs, cards and lineage: :func:`finr1_core.lineage.redact` (``*_env`` keys,
    which only name a variable, are kept).
    """
    from finr1_core.lineage import redact

    return redact(value)
