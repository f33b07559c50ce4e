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
import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The redaction policy lives in finr1_core.redaction (one rule set for logs, errors, cards and lineage);
# these names stay importable from here.
from finr1_core.redaction import REDACTED as REDACTED
from finr1_core.redaction import is_secret_key as is_secret_key
from finr1_core.redaction import looks_like_token as looks_like_token
from finr1_core.redaction import redact
from finr1_core.redaction import redact_text as redact_text

LINEAGE_FILENAME = "lineage.json"
CARD_FILENAME = "README.md"
SCHEMA_VERSION = 1

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
    # The config is redacted already; the tool's body and the refs are free text, so the whole card goes through
    # the one redaction policy too (an error text or a URL with credentials quoted in a summary).
    return redact_text("\n".join(lines) + "\n")


def read_lineage(ref: Any) -> Lineage | None:
    """Same as :func:`finr1_core.refs.read_lineage` (kept here so either import works)."""
    from finr1_core.refs import read_lineage as _read

    return _read(ref)
