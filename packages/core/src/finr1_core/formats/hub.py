"""Reading dataset files from the Hugging Face Hub (or any Hub-compatible server set by ``HF_ENDPOINT``).

Two ways, both wrapped so that failures are one line naming the repository and the fix:

* :func:`hub_snapshot` downloads the original files (``huggingface_hub.snapshot_download``), which the format
  readers then parse exactly like local files;
* :func:`hub_rows` loads a split with ``datasets.load_dataset`` for sets published as plain tables.

A repository id may carry a revision: ``org/name@rev``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from finr1_core.errors import InputError

logger = logging.getLogger(__name__)


def split_revision(repo_id: str) -> tuple[str, str | None]:
    """``org/name@rev`` → (``org/name``, ``rev``); a plain id has no revision."""
    repo_id = repo_id.removeprefix("hf://").removeprefix("datasets/")
    name, _, revision = repo_id.partition("@")
    if name.count("/") != 1 or not all(name.split("/")):
        raise InputError(f"'{repo_id}' is not a Hub dataset id (expected ORG/NAME[@REVISION])")
    return name, revision or None


def folder_holding(folder: Path, names: Sequence[str]) -> Path:
    """The folder (under a downloaded snapshot) that holds the first of ``names`` found; one-line error if none."""
    for name in names:
        hits = sorted(Path(folder).rglob(name))
        if hits:
            return hits[0].parent
    raise InputError(f"{folder}: none of {', '.join(names)} in the downloaded files")


def _fail(repo_id: str, exc: Exception) -> InputError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InputError(
        f"hf://datasets/{repo_id}: cannot read from the Hub ({type(exc).__name__}: {detail[:200]}); "
        "check the id and HF_ENDPOINT/HF_TOKEN, or pass --data PATH to read local files"
    )


def hub_snapshot(repo_id: str, allow_patterns: Sequence[str] | None = None) -> Path:
    """Download (or reuse from the cache) the files of a dataset repo that match ``allow_patterns``."""
    from huggingface_hub import snapshot_download

    name, revision = split_revision(repo_id)
    try:
        folder = snapshot_download(
            repo_id=name,
            repo_type="dataset",
            revision=revision,
            allow_patterns=list(allow_patterns) if allow_patterns else None,
        )
    except Exception as exc:  # huggingface_hub raises many types (HTTP, offline, not found)
        raise _fail(repo_id, exc) from None
    logger.info("hf://datasets/%s: files in %s", repo_id, folder)
    return Path(folder)


def hub_rows(repo_id: str, split: str, **kwargs: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(location, row)`` for a split loaded with ``datasets.load_dataset``."""
    import datasets

    name, revision = split_revision(repo_id)
    try:
        ds = datasets.load_dataset(name, split=split, revision=revision, **kwargs)
    except Exception as exc:  # DatasetNotFoundError, unknown split (ValueError), connection errors
        raise _fail(repo_id, exc) from None
    for i, row in enumerate(ds):
        yield f"hf://datasets/{repo_id} split {split} row {i}", row
