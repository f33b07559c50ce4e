"""Configuration: defaults < YAML ``--config`` < explicit flags, implemented once for every tool.

Each tool describes its configuration as a pydantic model with ``extra="forbid"``; :func:`load_config`
merges the YAML file and the flag overrides into it. Unknown keys and wrong types are
:class:`~finr1_core.errors.ConfigError` with one line naming the file (or ``command line``), the
dotted key and the expected type. Secrets never live in configs: fields hold the *name* of an
environment variable (``api_key_env``), and :func:`redact_config` strips anything secret-looking
before a config is logged or written into lineage.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from finr1_core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

_LIST_INDEX = re.compile(r"[.](\d+)(?=[.]|$)")  # "extra_judges.0.model" is shown as "extra_judges[0].model"


class StrictModel(BaseModel):
    """Base for config models: unknown keys are errors, values are validated on assignment.

    A subclass may list keys it renamed in ``renamed_keys`` (a ``ClassVar``, old -> new): an old key
    in a file is then reported as "renamed to 'new'".

    A model built by :func:`load_config` also knows how the user names each of its settings
    (:meth:`setting_name`): the flag they typed (``--model``), the key in their file
    (``teacher.model in fin-r1.yaml``), or the dotted key. Errors raised later (an endpoint that
    does not serve the model) use it, so they name what the user can change.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    _setting_names: dict[str, str] = PrivateAttr(default_factory=dict)

    def setting_name(self, field: str) -> str:
        """How the user sets ``field`` of this model: ``--flag``, ``key in FILE``, or the dotted key."""
        return self._setting_names.get(field) or self._default_setting_name(field)

    def _default_setting_name(self, field: str) -> str:
        return field

    def with_setting_names(self, names: Mapping[str, str]) -> Self:
        """Set the user-facing names of this model's fields (``{"model": "--model"}``); returns self."""
        self._setting_names = dict(names)
        return self

    def setting_names(self) -> dict[str, str]:
        """The user-facing names of the fields that have one (for copies of this model)."""
        return dict(self._setting_names)


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


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _clean_loc(err: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))


def _container(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that holds the key at ``loc``."""
    container: Any = _annotation_at(model, loc[:-1])[0] if len(loc) > 1 else model
    if typing.get_origin(container) in (typing.Union, types.UnionType):
        container = next((a for a in typing.get_args(container) if isinstance(a, type)), None)
    if typing.get_origin(container) in (list, dict) and typing.get_args(container):
        container = typing.get_args(container)[-1]  # extra_judges[0].nmae: the list's item model
    if isinstance(container, type) and issubclass(container, BaseModel):
        return container
    return None


def _unknown_key_message(
    model: type[BaseModel], errors: Sequence[Mapping[str, Any]], source: str, path: Path | None
) -> str:
    import difflib

    parts = []
    first_line = None
    for err in errors:
        loc = _clean_loc(err)
        container = _container(model, loc)
        allowed = sorted(container.model_fields) if container is not None else []
        name = str(loc[-1]) if loc else ""
        renamed = getattr(container, "renamed_keys", {}).get(name)
        close = [renamed] if renamed else difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
        hint = (f"renamed to '{renamed}'" if renamed else f"did you mean '{close[0]}'?") if close else ""
        parts.append((_dotted(loc), hint, allowed))
        if first_line is None and path is not None:
            first_line = _yaml_line(path, loc)
    where = f"{source}:{first_line}" if first_line else source
    keys = ", ".join(f"'{key}'" + (f" ({hint})" if hint else "") for key, hint, _ in parts)
    allowed = parts[0][2]
    allowed_text = f"; allowed here: {', '.join(allowed)}" if allowed and len(parts) == 1 else ""
    if len(parts) == 1:
        return f"{where}: unknown key {keys}{allowed_text}; rename or remove it"
    return f"{where}: unknown keys {keys}; rename or remove them"


def _yaml_line(path: Path, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the key at ``loc`` in the YAML file (``None`` when it cannot be found)."""
    import yaml

    try:
        node = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                return line
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _format_error(
    model: type[BaseModel],
    exc: ValidationError,
    source: str,
    *,
    path: Path | None = None,
    flags: Mapping[str, str] | None = None,
) -> str:
    errors = exc.errors()
    # Unknown keys first: a misspelt key also makes the real one "missing", and the typo is the fix.
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    if unknown:
        return _unknown_key_message(model, unknown, source, path)
    err = errors[0]
    loc = _clean_loc(err)
    key = _dotted(loc)
    dotted = ".".join(str(p) for p in loc)
    flag = (flags or {}).get(dotted)
    if err["type"] == "missing":
        return f"{source}: missing required key '{key}'"
    annotation, _ = _annotation_at(model, loc)
    expected = _describe(annotation) if annotation is not None else err["msg"]
    got = err.get("input")
    got_text = repr(got) if not isinstance(got, dict) else "a mapping"
    if len(got_text) > 60:
        got_text = got_text[:57] + "..."
    what = flag if flag else f"{source}: key '{key}'"
    if path is not None and not flag:
        line = _yaml_line(path, loc)
        if line:
            what = f"{source}:{line}: key '{key}'"
    return f"{what}: expected {expected}, got {got_text} ({err['msg']})"


def load_config(
    model_cls: type[M],
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    flags: Mapping[str, str] | None = None,
) -> M:
    """Build ``model_cls`` from its defaults, then the YAML file at ``path``, then ``overrides``.

    Args:
        model_cls: a pydantic model (use :class:`StrictModel` so unknown keys are rejected).
        path: optional YAML file; its keys are validated against ``model_cls``.
        overrides: flag values by dotted key (``"teacher.base_url"``); ``None`` values are ignored, so
            Click options can default to ``None`` and only explicit flags win.
        flags: the option each dotted key is set by on the command line (``{"teacher.model": "--model"}``,
            see :func:`finr1_core.cli.flag_overrides`). Errors about a flag's value name the flag, and
            every nested :class:`StrictModel` of the result learns how the user names its fields
            (:meth:`StrictModel.setting_name`).

    Raises:
        ConfigError: one line naming the file and line (or the flag), the key and the expected type; unknown
            keys are named first, with the closest known key.
    """
    data: dict[str, Any] = read_yaml(path) if path is not None else {}
    file_path = Path(path) if path is not None else None
    source = str(path) if path is not None else "config"
    try:
        model_cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(model_cls, exc, source, path=file_path)) from None
    from_file = set(_leaf_keys(data))
    given = {key for key, value in (overrides or {}).items() if value is not None}
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, key, value)
    try:
        config = model_cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(model_cls, exc, "command line", flags=flags)) from None

    def name(dotted: str) -> str | None:
        flag = (flags or {}).get(dotted)
        if dotted in given and flag:
            return flag
        if dotted in from_file:
            shown = _LIST_INDEX.sub(r"[\1]", dotted)
            return f"{shown} in {path}"
        return flag  # a default: the flag is how to change it (None: the dotted key is shown)

    _name_settings(config, "", name)
    return config


def _leaf_keys(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        keys.append(dotted)
        if isinstance(value, Mapping):
            keys += _leaf_keys(value, dotted + ".")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    keys += _leaf_keys(item, f"{dotted}.{i}.")
    return keys


def _name_settings(model: BaseModel, prefix: str, name: Any) -> None:
    """Give every nested StrictModel the user-facing names of its fields (flag, file key or dotted key)."""
    if isinstance(model, StrictModel):
        names = {}
        for field in type(model).model_fields:
            names[field] = name(prefix + field) or prefix + field
        model.with_setting_names(names)
    for field in type(model).model_fields:
        value = getattr(model, field, None)
        if isinstance(value, BaseModel):
            _name_settings(value, f"{prefix}{field}.", name)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    _name_settings(item, f"{prefix}{field}.{i}.", name)


def validate_config(model_cls: type[M], data: Mapping[str, Any], source: str, *, path: str | Path | None = None) -> M:
    """Validate an already-read mapping (a benchmark spec, a pipeline step) with :func:`load_config`'s messages.

    Raises:
        ConfigError: as :func:`load_config`, naming ``source`` (and the line in ``path`` when given).
    """
    try:
        return model_cls.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(
            _format_error(model_cls, exc, source, path=Path(path) if path is not None else None)
        ) from None


def redact_config(value: Any) -> Any:
    """Return a JSON-ready copy of a config with secret-looking keys and values removed.

    One implementation for logs, cards and lineage: :func:`finr1_core.lineage.redact` (``*_env`` keys,
    which only name a variable, are kept).
    """
    from finr1_core.lineage import redact

    return redact(value)
