"""Lineage of an artifact: what built it, from what, with which config, when (``lineage.json`` + card).

Every artifact finr1 writes (a local directory or a Hub repo revision) carries ``lineage.json`` and a
``README.md`` card rendered from the same :class:`Lineage`. The config stored there goes through
:func:`redact` first, so keys, tokens and passwords never reach either file.

Example:
    >>> lin = Lineage.start("finr1-distill", "0.1.0", config={"teacher": {"api_key_env": "OPENAI_API_KEY"}})
    >>> lin.config["teacher"]["api_key_env"]
    'OPENAI_API_KEY'
"""

from __future__ import annotations

import json
import os
import platform
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

LINEAGE_FILENAME = "lineage.json"
CARD_FILENAME = "README.md"
REDACTED = "<redacted>"
SCHEMA_VERSION = 1

# --- redaction ---------------------------------------------------------------------------------

# A key is secret when its last word is one of these ("hf_token", "api_key", "x-api-key") ...
_SECRET_LAST_WORDS = {"key", "keys", "apikey", "token", "auth", "secret", "secrets", "password", "passwd"}
# "pwd" is not on the list: the shell's PWD/OLDPWD hold the working directory, and redacting it would
# mangle every path in every log line.
# ... or when any word is one of these ("client_secret_value", "authorization_header").
_SECRET_ANY_WORDS = {
    "secret", "secrets", "password", "passwd", "passphrase", "authorization", "apikey", "credential",
    "credentials", "cookie", "cookies", "bearer", "private_key",
}  # fmt: skip
# Tokenizer settings that end in "token" but hold a vocabulary entry, not a credential.
_TOKENIZER_KEYS = re.compile(r"^(pad|eos|bos|unk|sep|cls|mask|additional_special|special)_tokens?(_id)?$")

# Well-known credential shapes, replaced wherever they occur inside a string.
_TOKEN_PATTERNS = [
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),  # Hugging Face
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),  # OpenAI, DeepSeek and most OpenAI-compatible providers
    re.compile(r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,}"),
    re.compile(r"\b(?:gsk|xai|nvapi)[-_][A-Za-z0-9_\-]{20,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"),
    re.compile(r"\beyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]+"),  # JWT
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=\-]{8,}"),
]
# user:password@ in URLs and secret-named query parameters.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/@\s:]+):([^/@\s]+)@")
_SECRET_QUERY = re.compile(
    r"(?i)([?&](?:api[_-]?key|key|token|access[_-]?token|auth|password|secret|sig|signature)=)[^&#\s]+"
)
_HEX_DIGEST = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")  # commit and content shas are provenance, not secrets
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_MIN_ENV_SECRET_LEN = 8


def _words(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a secret (``api_key``, ``HF_TOKEN``, ``Authorization``, ``password``).

    Keys ending in ``_env`` name an environment variable (finr1's way to reference a secret) and are
    kept; ``max_tokens``, ``tokenizer`` and ``pad_token`` are not secrets either.
    """
    words = _words(str(key))
    if not words or words[-1] == "env" or _TOKENIZER_KEYS.match("_".join(words)):
        return False
    joined = "_".join(words)
    if any(w in _SECRET_ANY_WORDS for w in words) or "private_key" in joined or "api_key" in joined:
        return True
    return words[-1] in _SECRET_LAST_WORDS


def looks_like_token(value: str) -> bool:
    """Whether a whole string value looks like a credential (known prefixes, JWTs, long random strings)."""
    s = value.strip()
    if any(p.fullmatch(s) for p in _TOKEN_PATTERNS):
        return True
    if len(s) < 32 or re.search(r"\s", s) or _HEX_DIGEST.match(s) or _UUID.match(s):
        return False
    if "/" in s or "." in s or not re.fullmatch(r"[A-Za-z0-9_\-+=]+", s):
        return False  # paths, file names, URLs, versions
    run = max(re.findall(r"[A-Za-z0-9]+", s), key=len, default="")
    digits = sum(c.isdigit() for c in run)
    return len(run) >= 20 and digits >= 3 and len(run) - digits >= 3


def _env_secret_values() -> list[str]:
    values = {
        v for k, v in os.environ.items() if is_secret_key(k) and len(v) >= _MIN_ENV_SECRET_LEN and not v.isdigit()
    }
    return sorted(values, key=len, reverse=True)  # a secret containing another is replaced whole


def redact_text(text: str) -> str:
    """Replace credentials inside a string: values of secret env vars, known token shapes, URL passwords."""
    for secret in _env_secret_values():
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(REDACTED, text)
    text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{m.group(2)}:{REDACTED}@", text)
    return _SECRET_QUERY.sub(lambda m: m.group(1) + REDACTED, text)


def redact(value: Any) -> Any:
    """Return a JSON-ready copy of ``value`` with secrets removed.

    Mapping keys that name secrets (:func:`is_secret_key`) are dropped with their values; strings that
    look like credentials (:func:`looks_like_token`) become ``"<redacted>"``; credentials inside longer
    strings are replaced in place (:func:`redact_text`). pydantic models, dataclasses, paths, enums and
    datetimes are converted to plain JSON values on the way.

    Args:
        value: A config (mapping, pydantic model, list, scalar).

    Returns:
        The redacted copy (the input is not modified).
    """
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        import dataclasses

        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {str(k): redact(v) for k, v in value.items() if not is_secret_key(str(k))}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [redact(v) for v in items]
    if isinstance(value, str):
        return REDACTED if looks_like_token(value) else redact_text(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, Enum):
        return redact(value.value)
    if isinstance(value, PurePath):
        return redact(str(value))
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


# --- records -----------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


class InputRecord(BaseModel):
    """One input of a run: the reference as given and the revision actually read.

    ``revision_sha`` is the Hub commit sha for ``hf://`` refs; for a local directory it is the sha1
    of its ``lineage.json`` (unique per write) or, for a directory finr1 did not write, a sha1 over
    its files' contents.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    ref: str
    revision_sha: str | None = None

    @property
    def pinned(self) -> str:
        """The ref pinned to the revision read (``hf://…@sha``), to re-read exactly the same data."""
        if self.ref.startswith("hf://") and self.revision_sha:
            return self.ref.split("@", 1)[0] + "@" + self.revision_sha
        return self.ref


class OutputRecord(BaseModel):
    """What a write produced: the ref, the revision created and where it lives."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ref: str
    revision_sha: str | None = None
    location: str = Field(description="Absolute local path, or the Hub URL of the commit.")
    counts: dict[str, int] = Field(default_factory=dict)

    def as_input(self) -> InputRecord:
        """The record a later stage reading this output would make."""
        return InputRecord(ref=self.ref, revision_sha=self.revision_sha)


class Lineage(BaseModel):
    """Provenance written next to every artifact as ``lineage.json`` and summarised in its card.

    ``config`` is redacted on assignment (:func:`redact`), whatever the caller passes.
    """

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    schema_version: int = SCHEMA_VERSION
    tool: str
    tool_version: str
    config: dict[str, Any] = Field(default_factory=dict)
    inputs: list[InputRecord] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    started_at: datetime = Field(default_factory=_utcnow)
    finished_at: datetime | None = None
    output: str | None = None
    environment: dict[str, str] = Field(default_factory=dict)

    @field_validator("config", mode="before")
    @classmethod
    def _redact_config(cls, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        redacted = redact(value)
        if not isinstance(redacted, dict):
            raise ValueError("config must be a mapping or a pydantic model")
        return redacted

    @classmethod
    def start(
        cls,
        tool: str,
        tool_version: str,
        config: Any = None,
        inputs: list[InputRecord] | tuple[InputRecord, ...] = (),
    ) -> Lineage:
        """Lineage for a run starting now (``started_at`` = now, UTC)."""
        return cls(tool=tool, tool_version=tool_version, config=config or {}, inputs=list(inputs))

    def finish(self, counts: Mapping[str, int] | None = None, output: str | None = None) -> Lineage:
        """A copy with ``finished_at`` (if unset), counts, output and library versions filled in."""
        update: dict[str, Any] = {"finished_at": self.finished_at or _utcnow()}
        if counts is not None:
            update["counts"] = {str(k): int(v) for k, v in counts.items()}
        if output is not None:
            update["output"] = output
        if not self.environment:
            update["environment"] = environment_versions()
        return self.model_copy(update=update)

    def to_json(self) -> str:
        """``lineage.json`` content (UTF-8 text, trailing newline)."""
        return json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Lineage:
        """Parse ``lineage.json`` content."""
        return cls.model_validate_json(text)


def environment_versions() -> dict[str, str]:
    """Python and library versions worth recording (only those installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("finr1-core", "datasets", "huggingface-hub", "transformers", "torch", "trl"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


# --- cards -------------------------------------------------------------------------------------


def _front_matter(data: Mapping[str, Any]) -> str:
    import yaml

    return "---\n" + yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, width=1000) + "---\n"


def render_card(
    lineage: Lineage,
    *,
    kind: Literal["dataset", "model"],
    title: str,
    metadata: Mapping[str, Any] | None = None,
    body: str = "",
) -> str:
    """Render ``README.md``: YAML front matter, the caller's body, then a provenance section.

    Args:
        lineage: The finished lineage (its config is already redacted).
        kind: ``dataset`` or ``model`` (only changes the wording).
        title: Heading (the repo or directory name).
        metadata: Front-matter fields (``configs``/``dataset_info`` for datasets, ``library_name`` for
            models); ``tags`` get ``finr1`` and the tool name added.
        body: Free Markdown from the tool (what the artifact is, how to use it).

    Returns:
        The card text.
    """
    import yaml

    meta = dict(metadata or {})
    tags = list(meta.pop("tags", []))
    for tag in ("finr1", lineage.tool):
        if tag not in tags:
            tags.append(tag)
    meta["tags"] = tags
    lines = [_front_matter(meta), f"# {title}", ""]
    if body.strip():
        lines += [body.strip(), ""]
    lines += ["## Provenance", ""]
    finished = lineage.finished_at.isoformat() if lineage.finished_at else "unfinished"
    lines.append(
        f"This {kind} was written by `{lineage.tool}` {lineage.tool_version} (finr1), "
        f"started {lineage.started_at.isoformat()}, finished {finished}."
    )
    lines.append("")
    if lineage.inputs:
        lines.append("Inputs (each with the revision read):")
        lines.append("")
        for record in lineage.inputs:
            lines.append(f"- `{record.ref}` at `{record.revision_sha or 'unknown'}`")
        lines.append("")
    if lineage.counts:
        lines += ["| split | rows |" if kind == "dataset" else "| count | value |", "|---|---:|"]
        lines += [f"| {name} | {value:,} |" for name, value in lineage.counts.items()]
        lines.append("")
    if lineage.config:
        config_yaml = yaml.safe_dump(lineage.config, sort_keys=False, allow_unicode=True, width=1000)
        lines += ["Effective configuration (secrets removed):", "", "```yaml", config_yaml.rstrip(), "```", ""]
    lines.append(f"The same record, machine-readable, is in `{LINEAGE_FILENAME}`.")
    return "\n".join(lines) + "\n"
