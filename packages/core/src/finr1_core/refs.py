"""Artifact references: parse, read and write datasets and model folders, locally or on a Hub.

A reference is one string:

- ``hf://datasets/ORG/NAME[@REV]`` — a dataset repo on the Hub at ``HF_ENDPOINT`` (any Hub-compatible
  server), read at ``REV`` (branch, tag or commit sha; ``main`` when absent) or written to branch ``REV``
  (created from ``main`` when missing; a fresh commit on ``main`` when absent);
- ``hf://ORG/NAME[@REV]`` (or ``hf://models/ORG/NAME[@REV]``) — a model repo, same rules;
- anything else — a local directory (``file://`` prefix allowed).

A local directory holds exactly the files the Hub repo would hold — ``data/<split>-0000i-of-0000N.parquet``,
``README.md`` (card whose YAML ``configs`` lets ``datasets.load_dataset(DIR)`` and the Hub viewer find the
splits, see :func:`dataset_layout`) and ``lineage.json`` — so ``huggingface_hub.upload_folder`` publishes it
as is. Both kinds sit behind one small :class:`Store` (``list`` / ``read`` / ``commit``, :func:`open_store`):
a local folder or a Hub branch. Writes are atomic: a whole local output is assembled in a hidden sibling
and renamed into place, a Hub output is one commit on the parent it was planned against; a half-written
output never has a ``lineage.json``, which is what :func:`read_lineage` checks. Hub calls are retried on
transient errors (5xx, 429, dropped connections, :data:`HUB_RETRY`); what still fails is one line.

Readers record the revision they read (:class:`~finr1_core.lineage.InputRecord`). ``HF_TOKEN`` is picked
up by ``huggingface_hub`` itself and never logged or written.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import random
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from finr1_core.errors import ArtifactError, ConfigError
from finr1_core.lineage import (
    CARD_FILENAME,
    LINEAGE_FILENAME,
    InputRecord,
    Lineage,
    OutputRecord,
    render_card,
)

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict, Features

logger = logging.getLogger(__name__)

RepoType = Literal["dataset", "model"]
T = TypeVar("T")

#: Hidden folder inside a local output that holds resume state until the final write.
WORK_DIRNAME = ".finr1-work"
#: Folder of the per-shard records of a sharded output (``shards/shard-0000I-of-0000N.json``).
SHARDS_DIRNAME = "shards"
#: Data shards are cut at about this size, like ``push_to_hub``.
MAX_SHARD_BYTES = 500 * 1024 * 1024

_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$")
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_SPLIT_RE = re.compile(r"^\w+(\.\w+)*$")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_RECORD_RE = re.compile(rf"^{SHARDS_DIRNAME}/shard-(?P<index>\d{{5}})-of-(?P<count>\d{{5}})\.json$")
_TEMP_RE = re.compile(r"^\..+\.(tmp|old)-[0-9a-f]{8}$")  # finr1's own staging names (see _atomic_place)
_FORMS = "hf://datasets/ORG/NAME[@REV], hf://ORG/NAME[@REV] (models) or a local directory"
_LOCAL_FILE_BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv", ".arrow": "arrow"}


# --- parsing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """A parsed artifact reference.

    Attributes:
        text: Canonical text (``hf://datasets/ORG/NAME@REV``, or the local path as given).
        repo_type: ``dataset`` or ``model``.
        repo_id: ``ORG/NAME`` for Hub refs, else None.
        revision: Branch, tag or sha after ``@`` for Hub refs, else None.
        path: The directory for local refs, else None.
    """

    text: str
    repo_type: RepoType
    repo_id: str | None = None
    revision: str | None = None
    path: Path | None = None

    @property
    def is_hub(self) -> bool:
        """True for ``hf://`` refs."""
        return self.repo_id is not None

    @property
    def is_local(self) -> bool:
        """True for local directories."""
        return self.path is not None

    def with_revision(self, revision: str | None) -> Ref:
        """The same Hub repo at another revision."""
        if not self.is_hub:
            raise ValueError(f"{self.text} is not a Hub ref")
        return replace(self, revision=revision, text=_hub_text(self.repo_type, self.repo_id or "", revision))

    def __str__(self) -> str:
        return self.text


def _hub_text(repo_type: RepoType, repo_id: str, revision: str | None) -> str:
    prefix = "hf://datasets/" if repo_type == "dataset" else "hf://"
    return prefix + repo_id + (f"@{revision}" if revision else "")


def _check_revision(text: str, revision: str) -> None:
    bad = (
        not revision
        or re.search(r"[\s~^:?*\[\\]", revision)
        or ".." in revision
        or "//" in revision
        or revision.startswith(("/", "-", "."))
        or revision.endswith(("/", ".", ".lock"))
        or "@{" in revision
    )
    if bad:
        raise ConfigError(
            f"artifact ref {text!r}: revision {revision!r} is not a valid branch, tag or commit sha "
            "(no spaces, '..', '~^:?*[\\' or leading/trailing '/')"
        )


def parse_ref(text: str | os.PathLike[str] | Ref, repo_type: RepoType = "dataset") -> Ref:
    """Parse an artifact reference.

    Args:
        text: ``hf://datasets/ORG/NAME[@REV]``, ``hf://ORG/NAME[@REV]``, ``hf://models/ORG/NAME[@REV]``,
            ``file://PATH`` or a local path. A :class:`Ref` is checked and returned.
        repo_type: What the caller expects: ``dataset`` or ``model``. A Hub ref of the other kind is an
            error (a dataset is always ``hf://datasets/…``).

    Returns:
        The parsed :class:`Ref`.

    Raises:
        ConfigError: the text is empty, malformed, of another scheme or names the other kind of repo.
    """
    if repo_type not in ("dataset", "model"):
        raise ValueError(f"repo_type must be 'dataset' or 'model', not {repo_type!r}")
    if isinstance(text, Ref):
        if text.repo_type != repo_type and text.is_hub:
            raise ConfigError(f"artifact ref {text.text!r} names a {text.repo_type} repo, expected a {repo_type}")
        return text if text.repo_type == repo_type else replace(text, repo_type=repo_type)
    if isinstance(text, os.PathLike):
        return Ref(text=os.fspath(text), repo_type=repo_type, path=Path(text).expanduser())
    if not isinstance(text, str):
        raise ConfigError(f"artifact ref must be a string, got {type(text).__name__}; expected {_FORMS}")
    raw = text.strip()
    if not raw:
        raise ConfigError(f"artifact ref is empty; expected {_FORMS}")
    if raw.startswith("hf://"):
        return _parse_hub(raw, repo_type)
    scheme = _SCHEME_RE.match(raw)
    if scheme and raw.startswith("file://"):
        raw = raw[len("file://") :]
        if not raw:
            raise ConfigError(f"artifact ref {text!r}: empty path after file://")
    elif scheme and (raw[len(scheme.group(0)) :].startswith("//") or scheme.group(1).lower() in ("hf", "hf-hub")):
        hint = " (did you mean hf://…?)" if scheme.group(1).lower().startswith("hf") else ""
        raise ConfigError(f"artifact ref {text!r}: unsupported scheme '{scheme.group(1)}:'{hint}; expected {_FORMS}")
    return Ref(text=raw, repo_type=repo_type, path=Path(raw).expanduser())


def _parse_hub(text: str, expected: RepoType) -> Ref:
    body = text[len("hf://") :]
    repo_part, sep, revision = body.partition("@")
    if sep:
        _check_revision(text, revision)
    parts = repo_part.split("/")
    kind: RepoType = "model"
    if parts[0] == "datasets":
        kind, parts = "dataset", parts[1:]
    elif parts[0] == "models":
        parts = parts[1:]
    elif parts[0] in ("spaces", "buckets", "kernels"):
        raise ConfigError(f"artifact ref {text!r}: {parts[0]} are not artifacts; expected {_FORMS}")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(
            f"artifact ref {text!r}: expected ORG/NAME after hf://{'datasets/' if kind == 'dataset' else ''}"
            f" ({_FORMS})"
        )
    for part in parts:
        if not _NAME_RE.match(part) or "--" in part or ".." in part or part.endswith(".git"):
            raise ConfigError(
                f"artifact ref {text!r}: {part!r} is not a valid Hub name "
                "(letters, digits, '-', '_', '.', at most 96, no '--' or '..')"
            )
    repo_id = "/".join(parts)
    if kind != expected:
        fix = f"hf://datasets/{repo_id}" if expected == "dataset" else f"hf://{repo_id}"
        raise ConfigError(f"artifact ref {text!r} names a {kind} repo but a {expected} is expected; write {fix}")
    return Ref(
        text=_hub_text(kind, repo_id, revision or None), repo_type=kind, repo_id=repo_id, revision=revision or None
    )


def _as_ref(ref: str | os.PathLike[str] | Ref, repo_type: RepoType) -> Ref:
    return parse_ref(ref, repo_type)


def _infer_ref(ref: str | os.PathLike[str] | Ref, repo_type: RepoType | None) -> Ref:
    """Parse a ref whose kind follows its form unless forced: ``hf://datasets/…`` dataset, other ``hf://`` model."""
    if isinstance(ref, Ref):
        return ref if repo_type is None else parse_ref(ref, repo_type)
    if repo_type is None:
        text = ref.strip() if isinstance(ref, str) else ""
        is_model = text.startswith("hf://") and not text.startswith("hf://datasets/")
        repo_type = "model" if is_model else "dataset"
    return parse_ref(ref, repo_type)


# --- Hugging Face plumbing ---------------------------------------------------------------------


def hub_endpoint() -> str:
    """The Hub endpoint in use: ``HF_ENDPOINT`` if set, else huggingface_hub's default."""
    env = os.environ.get("HF_ENDPOINT")
    if env:
        return env.rstrip("/")
    from huggingface_hub import constants

    return constants.ENDPOINT


def sync_hf_endpoint() -> list[str]:
    """Make already-imported ``huggingface_hub`` / ``datasets`` follow the current ``HF_ENDPOINT``.

    Both libraries copy ``HF_ENDPOINT`` into module constants at import time; finr1 honours the
    variable at call time instead, so a process that sets it after importing them (a test, a
    pipeline step) still talks to the right server. Returns the constants changed.
    """
    endpoint = os.environ.get("HF_ENDPOINT")
    if not endpoint:
        return []
    endpoint = endpoint.rstrip("/")
    changed = []
    hub_constants: Any = sys.modules.get("huggingface_hub.constants")
    if hub_constants is not None and hub_constants.ENDPOINT != endpoint:
        hub_constants.ENDPOINT = endpoint
        hub_constants.HUGGINGFACE_CO_URL_TEMPLATE = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        changed.append("huggingface_hub.constants.ENDPOINT")
    ds_config: Any = sys.modules.get("datasets.config")
    if ds_config is not None and ds_config.HF_ENDPOINT != endpoint:
        ds_config.HF_ENDPOINT = endpoint
        ds_config.HUB_DATASETS_URL = endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}"
        changed.append("datasets.config.HF_ENDPOINT")
    if changed:
        logger.debug("HF_ENDPOINT changed after import; now using %s", endpoint)
    return changed


def _api() -> Any:
    sync_hf_endpoint()
    from huggingface_hub import HfApi

    # token=None: huggingface_hub reads HF_TOKEN (or its token file) itself; finr1 never handles it.
    return HfApi(endpoint=hub_endpoint(), library_name="finr1", library_version=_core_version())


def _core_version() -> str:
    from finr1_core import __version__

    return __version__


def _one_line(text: object, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --- retries -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How Hub calls are retried on transient errors (5xx, 408, 429, dropped or refused connections).

    Attributes:
        retries: Extra tries after the first one.
        initial_s: Wait before the first retry; it doubles each time (with jitter) up to ``max_s``.
        max_s: Longest wait between tries.
        max_retry_after_s: Longest ``Retry-After`` honoured; a server asking for more fails now.
    """

    retries: int = 5
    initial_s: float = 1.0
    max_s: float = 8.0
    max_retry_after_s: float = 120.0


#: huggingface_hub's own ``http_backoff`` defaults (5 retries, 1 s doubling to 8 s): it applies them to LFS
#: uploads and a few downloads, not to commits, repo creation or listings, which finr1 retries with the same.
HUB_RETRY = RetryPolicy()

_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class StaleRevision(ArtifactError):
    """The branch moved since it was read (HTTP 412 on ``parentCommit``): read it again and re-plan."""


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _root_cause(exc: BaseException) -> BaseException:
    """hf_hub_download reports a failed HEAD as LocalEntryNotFoundError; the network error is its cause."""
    from huggingface_hub import errors as hf_errors

    if isinstance(exc, hf_errors.LocalEntryNotFoundError) and exc.__cause__ is not None:
        return exc.__cause__
    return exc


def _transient(exc: BaseException) -> bool:
    import httpx
    from huggingface_hub import errors as hf_errors

    exc = _root_cause(exc)
    if isinstance(exc, hf_errors.OfflineModeIsEnabled):
        return False
    if isinstance(exc, hf_errors.HfHubHTTPError):
        return _status(exc) in _TRANSIENT_STATUS
    return isinstance(exc, httpx.TransportError | ConnectionError | TimeoutError)


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(_root_cause(exc), "response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP-date: fall back to the backoff


def _describe(exc: BaseException) -> str:
    exc = _root_cause(exc)
    status = _status(exc)
    return f"HTTP {status}" if status else type(exc).__name__


def _with_retries(fn: Callable[[], T], what: str, policy: RetryPolicy | None = None) -> T:
    """Call ``fn``, retrying transient Hub errors with exponential backoff and jitter (``Retry-After`` honoured).

    The last error is re-raised with ``finr1_tries`` set, for :func:`_hub_errors` to say how often it tried.
    """
    policy = policy or HUB_RETRY
    for attempt in range(policy.retries + 1):
        try:
            return fn()
        except Exception as exc:
            if not _transient(exc) or attempt == policy.retries:
                if attempt:
                    exc.finr1_tries = attempt + 1  # type: ignore[attr-defined]
                raise
            wait = min(policy.max_s, policy.initial_s * 2**attempt) * (0.5 + random.random() / 2)
            asked = _retry_after(exc)
            if asked is not None:  # the server says when: wait that long, as the runner does for endpoints
                if asked > policy.max_retry_after_s:
                    raise
                wait = asked
            logger.warning(
                "%s: %s; retrying in %.1f s (%d/%d)", what, _describe(exc), wait, attempt + 1, policy.retries
            )
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def _hub_errors(ref: Ref, action: str) -> Iterator[None]:
    """Turn huggingface_hub / datasets / network failures into one-line ArtifactErrors."""
    import httpx
    from huggingface_hub import errors as hf_errors

    endpoint = hub_endpoint()
    try:
        yield
    except ArtifactError:
        raise
    except hf_errors.GatedRepoError:
        raise ArtifactError(
            f"{ref}: {action} failed: the repo is gated on {endpoint}; accept its terms and set HF_TOKEN"
        ) from None
    except hf_errors.RepositoryNotFoundError:
        raise ArtifactError(
            f"{ref}: {action} failed: no such {ref.repo_type} repo on {endpoint} "
            "(check the name; private repos need HF_TOKEN)"
        ) from None
    except hf_errors.RevisionNotFoundError:
        raise ArtifactError(
            f"{ref}: {action} failed: revision {ref.revision!r} does not exist on {endpoint}"
        ) from None
    except hf_errors.OfflineModeIsEnabled:
        raise ArtifactError(f"{ref}: {action} failed: HF_HUB_OFFLINE is set; unset it to reach {endpoint}") from None
    except hf_errors.LocalEntryNotFoundError as exc:  # before EntryNotFoundError: it is a subclass of it
        raise ArtifactError(_failure_line(ref, action, exc, endpoint)) from None
    except hf_errors.EntryNotFoundError as exc:
        raise ArtifactError(f"{ref}: {action} failed: a file is missing ({_one_line(exc, 160)})") from None
    except (hf_errors.HfHubHTTPError, httpx.TransportError, ConnectionError) as exc:
        raise ArtifactError(_failure_line(ref, action, exc, endpoint)) from None


def _failure_line(ref: Ref, action: str, exc: BaseException, endpoint: str) -> str:
    tries = getattr(exc, "finr1_tries", None)
    after = f" after {tries} tries" if tries else ""
    cause = _root_cause(exc)
    status = _status(cause)
    if status in (401, 403):
        return f"{ref}: {action} failed: HTTP {status} from {endpoint}; HF_TOKEN is missing, invalid or lacks write access"
    if status in _TRANSIENT_STATUS:
        return (
            f"{ref}: {action} failed{after}: HTTP {status} from {endpoint} (the Hub is busy or down); run the same "
            "command again later, finished work is kept"
        )
    if status is not None:
        return f"{ref}: {action} failed: HTTP {status} from {endpoint}: {_one_line(cause, 200)}"
    return (
        f"{ref}: {action} failed{after}: cannot reach {endpoint} ({type(cause).__name__}); check HF_ENDPOINT and the "
        "network, then run the same command again (finished work is kept)"
    )


def _hub_call(ref: Ref, action: str, fn: Callable[[], T]) -> T:
    """One Hub call: retried on transient errors, a one-line ArtifactError when it still fails."""
    with _hub_errors(ref, action):
        return _with_retries(fn, f"{ref}: {action}")


# --- local fingerprints ------------------------------------------------------------------------


def local_revision(path: str | os.PathLike[str]) -> str:
    """Fingerprint of a local file or folder: the revision a reader records for it.

    sha1 of ``lineage.json`` for a folder finr1 wrote (unique per write, cheap for big outputs), else sha1
    over every non-hidden file's relative path and content (a source data folder, a downloaded model).
    """
    root = Path(path)
    lineage = root / LINEAGE_FILENAME
    if root.is_dir() and lineage.is_file():
        return hashlib.sha1(lineage.read_bytes()).hexdigest()
    digest = hashlib.sha1()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and not _hidden(p, root))
    for file in files:
        digest.update((file.name if file == root else file.relative_to(root).as_posix()).encode())
        digest.update(b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def resolve_revision(ref: str | os.PathLike[str] | Ref, repo_type: RepoType | None = None) -> InputRecord:
    """The revision a read of ``ref`` would record, without reading the data (a commit sha or local fingerprint).

    Raises:
        ArtifactError: the repo, revision or path does not exist.
    """
    parsed = _infer_ref(ref, repo_type)
    if parsed.is_local:
        assert parsed.path is not None
        if not parsed.path.exists():
            raise ArtifactError(f"{parsed.repo_type} {parsed}: no such directory (expected {_FORMS})")
        return InputRecord(ref=parsed.text, revision_sha=local_revision(parsed.path))
    api = _api()
    info = _hub_call(
        parsed,
        "resolving the revision",
        lambda: api.repo_info(parsed.repo_id, repo_type=parsed.repo_type, revision=parsed.revision or "main"),
    )
    if not info.sha:
        raise ArtifactError(f"{parsed}: the Hub did not report a commit sha for {parsed.revision or 'main'!r}")
    return InputRecord(ref=parsed.text, revision_sha=info.sha)


# --- stores: one local folder or one Hub branch --------------------------------------------------


def is_shard_record(path: str) -> bool:
    """Whether ``path`` (relative, posix) is a shard record ``shards/shard-0000I-of-0000N.json``."""
    return _RECORD_RE.match(path) is not None


def shard_record_ids(paths: Collection[str]) -> set[tuple[int, int]]:
    """``(index, count)`` of every shard record among ``paths``."""
    out = set()
    for path in paths:
        match = _RECORD_RE.match(path)
        if match:
            out.add((int(match.group("index")), int(match.group("count"))))
    return out


@dataclass(frozen=True)
class Listing:
    """The files of an output at one moment: a local folder or a Hub branch head.

    Attributes:
        ref: The output.
        files: Relative posix paths (no ``.gitattributes``, no resume state or finr1 staging files).
        revision: The commit sha the listing was taken at (Hub); None for local folders.
        exists: Whether the folder, or the repo and branch, exist.
        fresh: The branch was just created by this write: what it holds was inherited from ``main``,
            it is not an output of its own.
    """

    ref: Ref
    files: frozenset[str] = frozenset()
    revision: str | None = None
    exists: bool = True
    fresh: bool = False

    @property
    def complete(self) -> bool:
        """Whether the output has its ``lineage.json`` (finished)."""
        return LINEAGE_FILENAME in self.files

    @property
    def shard_records(self) -> list[str]:
        """Paths of the shard records, sorted."""
        return sorted(p for p in self.files if is_shard_record(p))

    @property
    def written_by_finr1(self) -> bool:
        """Empty, or holding a ``lineage.json`` or shard records: finr1 may write here."""
        return self.fresh or not self.files or self.complete or bool(self.shard_records)


def check_writable(listing: Listing) -> None:
    """Refuse to write into a folder or branch that holds files finr1 did not write.

    The one rule for every writer (whole outputs, shards, models): an output may replace only what finr1 wrote
    (a ``lineage.json`` or shard records), an empty folder or a branch this run created.

    Raises:
        ArtifactError: one line naming the output and the fix.
    """
    if listing.written_by_finr1:
        return
    ref = listing.ref
    if ref.is_hub:
        raise ArtifactError(
            f"{ref}: refusing to overwrite branch {ref.revision or 'main'!r}, which holds files finr1 did not write "
            f"(no {LINEAGE_FILENAME}); write to a new branch with @NAME or another repo"
        )
    raise ArtifactError(
        f"{ref}: a non-empty folder that finr1 did not write (no {LINEAGE_FILENAME}); choose another output or "
        "remove it"
    )


@dataclass(frozen=True)
class Change:
    """What one commit does to an output.

    Attributes:
        add: Relative path → source file or bytes.
        delete: Relative paths to remove.
        replace: The output holds exactly ``add`` afterwards (everything else goes).
        move: Local folders: move source files instead of copying them (big, disposable staging files).
    """

    add: Mapping[str, Path | bytes] = field(default_factory=dict)
    delete: Collection[str] = ()
    replace: bool = False
    move: bool = False


@dataclass(frozen=True)
class Commit:
    """What a commit produced: the new revision (Hub sha, or local fingerprint once complete) and where."""

    revision: str | None
    location: str


class Store:
    """One output's files, on a Hub branch or in a local folder: ``list`` / ``read`` / ``commit``.

    Every finr1 writer goes through :meth:`update`: read the listing, plan a :class:`Change` from it, commit it
    on that listing (a Hub commit names its parent, so a concurrent writer makes it fail with HTTP 412 and the
    plan is made again from a fresh listing).
    """

    ref: Ref

    def list(self) -> Listing:
        """The output's files now."""
        raise NotImplementedError

    def read(self, path: str, listing: Listing | None = None) -> bytes | None:
        """Content of one file (at ``listing``'s revision when given), or None when it does not exist."""
        raise NotImplementedError

    def fetch(self, path: str, listing: Listing | None = None) -> Path:
        """A local path holding the file (downloaded into the Hugging Face cache for Hub outputs)."""
        raise NotImplementedError

    @property
    def location(self) -> str:
        """Where the output lives: the absolute folder, or the ref for a Hub branch."""
        return self.ref.text

    def revision(self, listing: Listing) -> str | None:
        """The revision a reader of ``listing`` records: its commit sha (Hub) or the local fingerprint."""
        return listing.revision

    def read_lineage(self, listing: Listing | None = None) -> Lineage | None:
        """The output's ``lineage.json`` (at ``listing``'s revision when given), or None when there is none.

        Raises:
            ArtifactError: it exists but is not a finr1 lineage.
        """
        raw = self.read(LINEAGE_FILENAME, listing)
        return _parse_lineage(self.ref, raw) if raw is not None else None

    def commit(self, change: Change, *, message: str, parent: Listing | None = None) -> Commit:
        """Apply ``change`` in one step.

        Raises:
            StaleRevision: the Hub branch moved since ``parent`` was listed.
            ArtifactError: the write failed (one line).
        """
        raise NotImplementedError

    def _create(self) -> bool:
        """Create the folder, or repo and branch; True when this call created the branch."""
        raise NotImplementedError

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh folder to assemble files in (same filesystem as a local output), removed afterwards."""
        staging = Path(tempfile.mkdtemp(prefix="finr1-stage-"))
        try:
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def update(self, plan: Callable[[Listing], Change | None], *, message: str, attempts: int = 4) -> Commit | None:
        """List, plan, commit; on a stale parent (a concurrent writer), list again and re-plan.

        Args:
            plan: Listing → the change to make (None: nothing to do). It runs again on every retry, so it
                must decide from the listing alone (and may raise to refuse).
            message: Commit message.
            attempts: Plans tried before a moving branch is an error.

        Returns:
            The commit, or None when the plan had nothing to do.
        """
        for attempt in range(1, attempts + 1):
            listing = self.list()
            if not listing.exists:
                fresh = self._create()
                listing = replace(self.list(), fresh=fresh)
            change = plan(listing)
            if change is None:
                return None
            try:
                return self.commit(change, message=message, parent=listing)
            except StaleRevision:
                if attempt == attempts:
                    raise ArtifactError(
                        f"{self.ref}: the branch kept moving while writing ({attempts} tries); another writer is "
                        "committing to it — give each run its own branch (@NAME)"
                    ) from None
                logger.info(
                    "%s: the branch moved while writing; reading it again (%d/%d)", self.ref, attempt, attempts
                )
        raise AssertionError("unreachable")  # pragma: no cover


class LocalStore(Store):
    """A local output folder."""

    def __init__(self, ref: Ref) -> None:
        assert ref.path is not None
        self.ref = ref
        self.root = ref.path.absolute()

    def list(self) -> Listing:
        if not self.root.exists():
            return Listing(self.ref, exists=False)
        if not self.root.is_dir():
            raise ArtifactError(f"{self.ref}: exists and is not a directory; choose another output")
        files = set()
        for path in self.root.rglob("*"):
            rel = path.relative_to(self.root)
            if rel.parts[0] == WORK_DIRNAME or _TEMP_RE.match(path.name) or not path.is_file():
                continue
            files.add(rel.as_posix())
        # Hidden top-level entries other than finr1's (a .git folder) are content too: they are not ours to drop.
        return Listing(self.ref, frozenset(files))

    @property
    def location(self) -> str:
        return str(self.root)

    def revision(self, listing: Listing) -> str | None:
        return local_revision(self.root) if listing.complete else None

    def read(self, path: str, listing: Listing | None = None) -> bytes | None:
        file = self.root / path
        return file.read_bytes() if file.is_file() else None

    def fetch(self, path: str, listing: Listing | None = None) -> Path:
        file = self.root / path
        if not file.is_file():
            raise ArtifactError(f"{self.ref}: {path} is missing")
        return file

    def _create(self) -> bool:
        self.root.mkdir(parents=True, exist_ok=True)
        return False  # a folder has no inherited content: an empty one is simply empty

    @contextmanager
    def staging(self) -> Iterator[Path]:
        self.root.parent.mkdir(parents=True, exist_ok=True)
        staging = self.root.parent / f".{self.root.name}.tmp-{uuid.uuid4().hex[:8]}"
        staging.mkdir()  # mkdir (not mkdtemp) so the published folder gets normal permissions
        try:
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def commit(self, change: Change, *, message: str, parent: Listing | None = None) -> Commit:
        try:
            if change.replace:
                self._swap_in(change)
            else:
                # Deletes first (a lineage.json going makes the output incomplete before its data changes), then
                # the files, lineage.json last: a reader never sees a lineage.json over data it does not describe.
                for rel in change.delete:
                    if rel not in change.add:
                        (self.root / rel).unlink(missing_ok=True)
                        _prune_empty(self.root / rel, self.root)
                for rel in sorted(change.add, key=lambda p: p == LINEAGE_FILENAME):
                    _atomic_place(change.add[rel], self.root / rel, move=change.move)
        except OSError as exc:
            raise ArtifactError(f"{self.ref}: cannot write ({exc.strerror or exc}: {exc.filename or ''})") from None
        complete = (self.root / LINEAGE_FILENAME).is_file()
        return Commit(revision=local_revision(self.root) if complete else None, location=str(self.root))

    def _swap_in(self, change: Change) -> None:
        """Assemble the new folder in a hidden sibling, then swap it in with renames (old-complete or new-complete)."""
        with self.staging() as staging:
            for rel, src in change.add.items():
                dest = staging / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(src, bytes):
                    dest.write_bytes(src)
                elif change.move:
                    shutil.move(src, dest)
                else:
                    shutil.copy2(src, dest)
            if self.root.exists():
                old = self.root.parent / f".{self.root.name}.old-{uuid.uuid4().hex[:8]}"
                os.rename(self.root, old)
                os.rename(staging, self.root)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(staging, self.root)


def write_atomic(dest: Path, data: bytes | str) -> None:
    """Write a local file with a rename, so a reader (or a kill -9) sees the old or the new file, never half."""
    _atomic_place(data.encode("utf-8") if isinstance(data, str) else data, dest)


def _atomic_place(src: Path | bytes, dest: Path, *, move: bool = False) -> None:
    """Put one file in place with a rename, so a reader sees the old or the new file, never half of one."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}"
    if isinstance(src, bytes):
        tmp.write_bytes(src)
    elif move:
        shutil.move(src, tmp)
    else:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def _prune_empty(path: Path, root: Path) -> None:
    parent = path.parent
    while parent != root and parent.is_relative_to(root) and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


class HubStore(Store):
    """One branch of a Hub repo (``main`` when the ref names none)."""

    def __init__(self, ref: Ref) -> None:
        self.ref = ref
        self.repo_id = ref.repo_id or ""
        self.branch = ref.revision or "main"

    def list(self) -> Listing:
        from huggingface_hub import errors as hf_errors

        api = _api()
        with _hub_errors(self.ref, "listing files"):
            try:
                info = _with_retries(
                    lambda: api.repo_info(self.repo_id, repo_type=self.ref.repo_type, revision=self.branch),
                    f"{self.ref}: listing files",
                )
            except (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError):
                return Listing(self.ref, exists=False)
        files = frozenset(s.rfilename for s in info.siblings or []) - {".gitattributes"}
        return Listing(self.ref, files, revision=info.sha)

    def _download(self, path: str, listing: Listing | None) -> Path | None:
        from huggingface_hub import errors as hf_errors

        api = _api()
        revision = (listing.revision if listing is not None else None) or self.branch
        with _hub_errors(self.ref, f"reading {path}"):
            try:
                return Path(
                    _with_retries(
                        lambda: api.hf_hub_download(
                            self.repo_id, path, repo_type=self.ref.repo_type, revision=revision
                        ),
                        f"{self.ref}: reading {path}",
                    )
                )
            except (
                hf_errors.RemoteEntryNotFoundError,
                hf_errors.RevisionNotFoundError,
                hf_errors.RepositoryNotFoundError,
            ):
                # Not LocalEntryNotFoundError: that one means the Hub could not be reached, not that the file is absent.
                return None

    def read(self, path: str, listing: Listing | None = None) -> bytes | None:
        local = self._download(path, listing)
        return local.read_bytes() if local is not None else None

    def fetch(self, path: str, listing: Listing | None = None) -> Path:
        local = self._download(path, listing)
        if local is None:
            raise ArtifactError(f"{self.ref}: {path} is missing")
        return local

    def _create(self) -> bool:
        from huggingface_hub import errors as hf_errors

        if _SHA_RE.match(self.branch):
            raise ArtifactError(f"{self.ref}: cannot write to a commit sha; name a branch after '@' (e.g. @run-1)")
        api = _api()
        kind = self.ref.repo_type
        _hub_call(self.ref, "creating the repo", lambda: api.create_repo(self.repo_id, repo_type=kind, exist_ok=True))
        if self.branch == "main":
            return False
        with _hub_errors(self.ref, "creating the branch"):
            try:
                _with_retries(
                    lambda: api.create_branch(self.repo_id, branch=self.branch, repo_type=kind),
                    f"{self.ref}: creating the branch",
                )
            except hf_errors.HfHubHTTPError as exc:
                if _status(exc) != 409:  # 409: it exists (another writer, or a retry after a lost answer)
                    raise
                return False
        return True

    def commit(self, change: Change, *, message: str, parent: Listing | None = None) -> Commit:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete
        from huggingface_hub import errors as hf_errors

        if _SHA_RE.match(self.branch):
            raise ArtifactError(f"{self.ref}: cannot write to a commit sha; name a branch after '@' (e.g. @run-1)")
        api = _api()
        deletes = set(change.delete)
        if change.replace:
            deletes |= set(parent.files if parent is not None else self.list().files)
        deletes -= set(change.add)

        def attempt() -> Any:
            # Fresh operation objects per try: a failed try may have half-uploaded them.
            operations: list[Any] = [
                CommitOperationAdd(path_in_repo=path, path_or_fileobj=src if isinstance(src, bytes) else str(src))
                for path, src in change.add.items()
            ]
            operations += [CommitOperationDelete(path_in_repo=path) for path in sorted(deletes)]
            try:
                return api.create_commit(
                    self.repo_id,
                    operations=operations,
                    commit_message=message,
                    repo_type=self.ref.repo_type,
                    revision=self.branch,
                    parent_commit=parent.revision if parent is not None and parent.exists else None,
                )
            except hf_errors.HfHubHTTPError as exc:
                if _status(exc) == 412:
                    raise StaleRevision(f"{self.ref}: the branch moved since it was read") from None
                raise

        info = _hub_call(self.ref, "writing", attempt)
        return Commit(revision=info.oid, location=info.commit_url)


def open_store(ref: str | os.PathLike[str] | Ref, repo_type: RepoType | None = None) -> Store:
    """The :class:`Store` of an output: a Hub branch for ``hf://`` refs, else a local folder.

    Args:
        ref: The output ref.
        repo_type: Force the kind; by default it follows the ref's form (``hf://datasets/…`` is a dataset).
    """
    parsed = _infer_ref(ref, repo_type)
    return HubStore(parsed) if parsed.is_hub else LocalStore(parsed)


def check_output(ref: str | os.PathLike[str] | Ref, repo_type: RepoType | None = None) -> None:
    """Fail early, before any work, when ``ref`` could not be written (malformed, or holding foreign files).

    Raises:
        ConfigError: the ref is malformed.
        ArtifactError: the output holds files finr1 did not write, or the Hub cannot be reached.
    """
    check_writable(open_store(ref, repo_type).list())


# --- work directories --------------------------------------------------------------------------


def cache_dir() -> Path:
    """finr1's cache root: ``FINR1_CACHE``, else ``$XDG_CACHE_HOME/finr1``, else ``~/.cache/finr1``.

    The same root :mod:`finr1_core.models` uses; Hub outputs keep their resume state under ``work/``.
    """
    env = os.environ.get("FINR1_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "finr1"


def _work_path(ref: Ref) -> Path:
    if ref.is_local:
        assert ref.path is not None
        return ref.path / WORK_DIRNAME
    key = hashlib.sha1(f"{hub_endpoint()}\0{ref.text}".encode()).hexdigest()[:10]
    org, name = (ref.repo_id or "").split("/", 1)
    revision = re.sub(r"[^A-Za-z0-9._-]+", "_", ref.revision or "main")
    return cache_dir() / "work" / f"{ref.repo_type}s--{org}--{name}--{revision}--{key}"


def work_dir(ref: str | os.PathLike[str] | Ref, repo_type: RepoType | None = None, *, create: bool = True) -> Path:
    """Hidden folder for a stage's resume state while it writes ``ref`` (created if missing, unless not ``create``).

    ``<dir>/.finr1-work/`` for a local output (the output directory itself then exists but has no
    ``lineage.json``, so it reads as incomplete); a folder under :func:`cache_dir` keyed by the
    endpoint and the ref for a Hub output. It is removed after the final write succeeds.

    Args:
        ref: The output reference.
        repo_type: Force the kind; by default it follows the ref's form (``hf://datasets/…`` is a dataset).

    Returns:
        The folder (exists on return).
    """
    path = _work_path(_infer_ref(ref, repo_type))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def clear_work(ref: str | os.PathLike[str] | Ref, repo_type: RepoType | None = None) -> None:
    """Remove the resume state of ``ref`` (call only once the output's data is durable)."""
    path = _work_path(_infer_ref(ref, repo_type))
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)


# --- dataset layout ------------------------------------------------------------------------------


def check_split_name(ref: Ref | str, split: str) -> None:
    """Split names are what ``datasets`` accepts: letters, digits and ``_`` (dots between words).

    Raises:
        ArtifactError: one line naming the split.
    """
    if not _SPLIT_RE.match(split):
        raise ArtifactError(f"dataset {ref}: split name {split!r} must be letters, digits and '_' only")


def dataset_layout(features: Mapping[str, Features], counts: Mapping[str, int]) -> dict[str, list[str]]:
    """Which config of the card holds which split: ``default`` holds all it can, the others one each.

    ``datasets`` gives a config one schema and cannot build a split without rows (it raises "Instruction
    'rl' corresponds to no data", huggingface/datasets#8401), so ``default`` holds the first split with rows
    and every other split with rows and the same columns: ``load_dataset(DIR, split=S)`` reads each of them.
    A split with other columns (judge's ``rl`` next to ``sft``) or without rows gets a config of its own,
    named after it (``load_dataset(DIR, "rl", split="rl")``), so the card declares every split and
    ``load_dataset(DIR)`` still loads.

    Args:
        features: Split → its ``datasets.Features``, in output order.
        counts: Split → rows.

    Returns:
        Config name → its splits (``default`` first).
    """
    names = list(features)
    with_rows = [s for s in names if counts.get(s)]
    first = with_rows[0] if with_rows else names[0]
    default = [s for s in with_rows if features[s] == features[first]] or [first]
    layout = {"default": default}
    for split in names:
        if split in default:
            continue
        if split == "default":
            raise ArtifactError(
                "a split named 'default' must have rows and the columns of the first split (it would clash with "
                "the card's default config)"
            )
        layout[split] = [split]
    return layout


def dataset_card_metadata(
    features: Mapping[str, Features], counts: Mapping[str, int], nbytes: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """Card front matter (``configs`` and ``dataset_info``) for splits stored as ``data/<split>-*.parquet``.

    The layout is :func:`dataset_layout`: every split is declared, empty ones included.
    """
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    infos, configs = {}, {}
    for config, splits in dataset_layout(features, counts).items():
        split_dict = SplitDict()
        for split in splits:
            split_dict.add(
                SplitInfo(name=split, num_bytes=(nbytes or {}).get(split, 0), num_examples=counts.get(split, 0))
            )
        infos[config] = DatasetInfo(features=features[splits[0]], splits=split_dict)
        configs[config] = {"data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits]}
    card_data = DatasetCardData()
    DatasetInfosDict(infos).to_dataset_card_data(card_data)
    MetadataConfigs(configs).to_dataset_card_data(card_data)
    return card_data.to_dict()


def write_split_files(name: str, ds: Dataset, folder: Path, label: str | None = None) -> list[str]:
    """Write one split as parquet under ``folder/data``; returns the relative paths written.

    Args:
        name: The split.
        ds: Its rows (an empty one keeps its schema in one file).
        folder: Where ``data/`` goes.
        label: ``0000I-of-0000N`` to write one shard's file; by default the split is cut at
            :data:`MAX_SHARD_BYTES` like ``push_to_hub``.
    """
    (folder / "data").mkdir(parents=True, exist_ok=True)
    if label is not None:
        rel = f"data/{name}-{label}.parquet"
        ds.to_parquet(str(folder / rel))
        return [rel]
    nbytes = ds.data.nbytes if len(ds) else 0
    num_shards = max(1, min(len(ds), math.ceil(nbytes / MAX_SHARD_BYTES))) if len(ds) else 1
    written = []
    for index in range(num_shards):
        shard = ds.shard(num_shards=num_shards, index=index, contiguous=True) if num_shards > 1 else ds
        rel = f"data/{name}-{index:05d}-of-{num_shards:05d}.parquet"
        shard.to_parquet(str(folder / rel))
        written.append(rel)
    return written


# --- datasets: read ----------------------------------------------------------------------------


def check_shards_complete(listing: Listing) -> None:
    """A sharded output without ``lineage.json`` is still being written: reading it would lose rows.

    Raises:
        ArtifactError: names how many shards are in and the fix.
    """
    if listing.complete:
        return
    ids = shard_record_ids(listing.files)
    if not ids:
        return
    total = max(count for _, count in ids)
    done = sorted(index for index, count in ids if count == total)
    missing = [str(i) for i in range(total) if i not in done]
    raise ArtifactError(
        f"dataset {listing.ref}: only {len(done)} of {total} shards are written (no {LINEAGE_FILENAME} yet; missing "
        f"{', '.join(f'{i}/{total}' for i in missing[:5])}{'…' if len(missing) > 5 else ''}); run the missing "
        "--shard I/N parts first"
    )


def load_dataset_ref(
    ref: str | os.PathLike[str] | Ref, split: str | None = None
) -> tuple[DatasetDict | Dataset, InputRecord]:
    """Read a dataset artifact and record the revision read.

    A finr1 output is read whole or not at all: a sharded output with shards missing, or one whose files hold
    other row counts than its ``lineage.json``, is refused (for local folders and Hub refs alike).

    Args:
        ref: ``hf://datasets/ORG/NAME[@REV]`` or a local directory (a finr1 output, any folder
            ``datasets.load_dataset`` understands, or a single .parquet/.jsonl/.json/.csv file).
        split: Return only this split as a ``Dataset``; None returns the whole ``DatasetDict``.

    Returns:
        The data and an :class:`InputRecord` with the commit sha (Hub) or local fingerprint.

    Raises:
        ArtifactError: the repo, revision, directory or split does not exist or cannot be read, or the
            output is incomplete.
    """
    parsed = _as_ref(ref, "dataset")
    if parsed.is_local:
        assert parsed.path is not None
        path = parsed.path
        if not path.exists():
            raise ArtifactError(f"dataset {parsed}: no such directory (expected {_FORMS})")
        if path.is_file():
            builder = _LOCAL_FILE_BUILDERS.get(path.suffix.lower())
            if builder is None:
                raise ArtifactError(
                    f"dataset {parsed}: unsupported file type {path.suffix!r} "
                    f"(use a directory or one of {', '.join(_LOCAL_FILE_BUILDERS)})"
                )
            data = _call_datasets(parsed, lambda: _load(builder, data_files={"train": str(path)}))
            record = InputRecord(ref=parsed.text, revision_sha=local_revision(path))
            return _pick(parsed, data, split, record)
        if not any(p for p in path.iterdir() if not p.name.startswith(".")):
            raise ArtifactError(
                f"dataset {parsed}: the directory is empty (an unfinished run leaves only {WORK_DIRNAME})"
            )
    store = open_store(parsed)
    listing = store.list()
    if not listing.exists:
        resolve_revision(parsed)  # raises the one line that says whether the repo or the revision is missing
    check_shards_complete(listing)
    lineage = store.read_lineage(listing) if listing.complete else None
    with _hub_errors(parsed, "reading the dataset"):
        if lineage is None and parsed.is_hub:
            # Not a finr1 output: any layout the Hub serves, read by datasets itself at the listed sha.
            data = _load_dataset_configs(parsed, parsed.repo_id or "", revision=listing.revision)
        else:
            root = _local_root(store, listing)
            data = _read_dataset(parsed, root, lineage)
    revision = listing.revision if parsed.is_hub else local_revision(store.root)  # type: ignore[attr-defined]
    record = InputRecord(ref=parsed.text, revision_sha=revision)
    logger.info("read %s%s (%s)", parsed, f" at {revision[:12]}" if parsed.is_hub and revision else "", _counts(data))
    return _pick(parsed, data, split, record)


def _local_root(store: Store, listing: Listing) -> Path:
    """A local folder holding the output's files: itself, or the Hub snapshot of the listed commit."""
    if isinstance(store, LocalStore):
        return store.root
    # Downloading by sha (not branch name) pins the read; datasets then reads local files like any folder.
    wanted = [p for p in sorted(listing.files) if p.startswith("data/") or p in (CARD_FILENAME, LINEAGE_FILENAME)]
    if not wanted:
        raise ArtifactError(f"dataset {listing.ref}: the revision holds no data files")
    root: Path | None = None
    for rel in wanted:
        local = store.fetch(rel, listing)
        root = local.parents[len(Path(rel).parts) - 1]
    assert root is not None
    return root


def _pick(ref: Ref, data: Any, split: str | None, record: InputRecord) -> tuple[Any, InputRecord]:
    if split is None:
        return data, record
    if split not in data:
        raise ArtifactError(f"dataset {ref}: no split {split!r} (splits: {', '.join(map(str, data)) or 'none'})")
    return data[split], record


def _read_dataset(ref: Ref, root: Path, lineage: Lineage | None) -> DatasetDict:
    """Load every split; for finr1 outputs, by the card's configs, with the row counts checked against lineage.

    ``datasets`` cannot build a split without rows, so a finr1 output's empty splits come from their schema
    file ``data/<split>-00000-of-00001.parquet``.
    """
    import datasets

    counts = lineage.counts if lineage is not None else {}
    configs = _card_configs(root) if counts else {}
    if not configs:
        return _load_dataset_configs(ref, str(root))
    out: dict[str, Any] = {}
    for config, splits in configs.items():
        for split in splits:
            if counts.get(split):
                out[split] = _call_datasets(ref, lambda c=config, s=split: _load(str(root), c, split=s))
    for split, count in counts.items():
        if split in out:
            if len(out[split]) != count:
                raise ArtifactError(
                    f"dataset {ref}: split {split!r} has {len(out[split])} rows but {LINEAGE_FILENAME} records "
                    f"{count}; a data file is missing or was changed — write the output again"
                )
        elif count == 0:
            out[split] = _empty_split(ref, root, split)
        else:
            raise ArtifactError(f"dataset {ref}: split {split!r} ({count} rows in {LINEAGE_FILENAME}) is missing")
    return datasets.DatasetDict(out.items())


def _card_configs(root: Path) -> dict[str, list[str]]:
    """Config → splits, from the card's ``configs`` front matter (finr1 outputs always have one)."""
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    card = root / CARD_FILENAME
    if not card.is_file():
        return {}
    card_data: Any = DatasetCard.load(card).data  # a DatasetCardData (typed as its class attribute)
    meta = MetadataConfigs.from_dataset_card_data(card_data)
    out: dict[str, list[str]] = {}
    for name, config in meta.items():
        files = config.get("data_files") or []
        out[name] = [entry["split"] for entry in files if isinstance(entry, dict) and "split" in entry]
    return out


def _empty_split(ref: Ref, root: Path, split: str) -> Dataset:
    import datasets
    import pyarrow.parquet as pq

    files = sorted((root / "data").glob(f"{split}-*.parquet"))
    if not files:
        raise ArtifactError(f"dataset {ref}: split {split!r} has no schema file data/{split}-00000-of-00001.parquet")
    features = datasets.Features.from_arrow_schema(pq.read_schema(files[0]))
    return datasets.Dataset.from_dict({name: [] for name in features}, features=features)


def _counts(data: Any) -> str:
    return ", ".join(f"{name}: {len(ds)} rows" for name, ds in data.items())


def _load(path: str, name: str | None = None, **kwargs: Any) -> Any:
    import datasets

    return datasets.load_dataset(path, name, **kwargs)


def _call_datasets(ref: Ref, fn: Callable[[], Any]) -> Any:
    """Run a datasets call, turning its "not found / cannot read" errors into one-line ArtifactErrors."""
    from datasets.exceptions import (
        DataFilesNotFoundError,
        DatasetBuildError,
        DatasetNotFoundError,
        SplitsVerificationError,
    )

    try:
        return fn()
    except SplitsVerificationError:
        # The card's dataset_info counts rows per split; the files hold others.
        raise ArtifactError(
            f"dataset {ref}: its files hold other row counts than its card records; a data file is missing or was "
            "changed — write the output again"
        ) from None
    except (DatasetNotFoundError, DataFilesNotFoundError, DatasetBuildError, FileNotFoundError) as exc:
        raise ArtifactError(f"dataset {ref}: cannot be read: {_one_line(exc, 200)}") from None
    except ValueError as exc:
        # datasets raises ValueError for mismatched splits/columns and unknown configs.
        raise ArtifactError(f"dataset {ref}: cannot be read: {_one_line(exc, 200)}") from None


def _load_dataset_configs(ref: Ref, path: str, revision: str | None = None) -> DatasetDict:
    """Load every split of a dataset finr1 did not write: one config, or several holding distinct splits."""
    import datasets

    kwargs: dict[str, Any] = {"revision": revision} if revision else {}
    names = _call_datasets(ref, lambda: datasets.get_dataset_config_names(path, **kwargs))
    if len(names) <= 1:
        return _call_datasets(ref, lambda: _load(path, names[0] if names else None, **kwargs))
    merged: dict[str, Any] = {}
    for name in names:
        part = _call_datasets(ref, lambda n=name: _load(path, n, **kwargs))
        for split, ds in part.items():
            if split in merged:
                raise ArtifactError(
                    f"dataset {ref}: configs {', '.join(names)} repeat split {split!r}; finr1 reads datasets whose "
                    "configs hold distinct splits"
                )
            merged[split] = ds
    return datasets.DatasetDict(merged.items())


# --- datasets: write ---------------------------------------------------------------------------


def _as_splits(data: Any) -> dict[str, Dataset]:
    import datasets

    if isinstance(data, datasets.Dataset):
        return {"train": data}
    if isinstance(data, Mapping) and all(isinstance(v, datasets.Dataset) for v in data.values()):
        return {str(split): ds for split, ds in data.items()}
    raise TypeError(f"expected a DatasetDict, a Dataset or a mapping of Datasets, got {type(data).__name__}")


def _title(ref: Ref, default: str) -> str:
    name = ref.repo_id.split("/")[-1] if ref.is_hub and ref.repo_id else Path(ref.text).name
    return name or default


def save_dataset_ref(
    dsdict: DatasetDict | Dataset | Mapping[str, Dataset],
    ref: str | os.PathLike[str] | Ref,
    lineage: Lineage,
    card_body: str = "",
) -> OutputRecord:
    """Write a dataset artifact with its card and ``lineage.json``, atomically.

    Args:
        dsdict: The splits to write (a lone ``Dataset`` becomes split ``train``).
        ref: Output: ``hf://datasets/ORG/NAME[@BRANCH]`` (repo and branch created when missing; without
            ``@BRANCH`` a fresh commit on ``main``) or a local directory (replaced as a whole).
        lineage: Run lineage; counts per split, ``finished_at`` and ``output`` are filled in here.
        card_body: Markdown placed in the card above the provenance section.

    Returns:
        The :class:`OutputRecord` (commit sha for the Hub, local fingerprint for directories).

    Raises:
        ArtifactError: the output cannot be written (bad split names, foreign directory, Hub refusal).
    """
    parsed = _as_ref(ref, "dataset")
    data = _as_splits(dsdict)
    if not data:
        raise ArtifactError(f"dataset {parsed}: nothing to write (no splits)")
    for split in data:
        check_split_name(parsed, split)
    counts = {split: len(ds) for split, ds in data.items()}
    final = lineage.finish(counts=counts, output=parsed.text)
    store = open_store(parsed)
    with store.staging() as staging:
        for split, ds in data.items():
            write_split_files(split, ds, staging)
        nbytes = {split: ds.data.nbytes if len(ds) else 0 for split, ds in data.items()}
        metadata = dataset_card_metadata({s: ds.features for s, ds in data.items()}, counts, nbytes)
        card = render_card(final, kind="dataset", title=_title(parsed, "dataset"), metadata=metadata, body=card_body)
        (staging / CARD_FILENAME).write_text(card, encoding="utf-8")
        (staging / LINEAGE_FILENAME).write_text(final.to_json(), encoding="utf-8")
        files = {p.relative_to(staging).as_posix(): p for p in sorted(staging.rglob("*")) if p.is_file()}

        def plan(listing: Listing) -> Change:
            check_writable(listing)
            return Change(add=files, replace=True, move=True)

        commit = store.update(plan, message=f"finr1: write dataset {parsed.text}")
    assert commit is not None
    clear_work(parsed)
    logger.info(
        "wrote %s (%s)%s",
        parsed,
        ", ".join(f"{k}: {v} rows" for k, v in counts.items()),
        f" at {commit.revision[:12]}" if parsed.is_hub and commit.revision else "",
    )
    return OutputRecord(ref=parsed.text, revision_sha=commit.revision, location=commit.location, counts=counts)


# --- models ------------------------------------------------------------------------------------


def resolve_model_ref(ref: str | os.PathLike[str] | Ref) -> tuple[Path, InputRecord]:
    """Return a local folder usable by ``from_pretrained`` and the record of the revision read.

    Args:
        ref: ``hf://ORG/NAME[@REV]`` (downloaded into the Hugging Face cache) or a local directory.

    Returns:
        The folder and an :class:`InputRecord`.

    Raises:
        ArtifactError: the repo, revision or directory does not exist.
    """
    parsed = _as_ref(ref, "model")
    if parsed.is_local:
        assert parsed.path is not None
        if not parsed.path.is_dir():
            raise ArtifactError(
                f"model {parsed}: no such directory (expected {_FORMS.replace('hf://datasets/ORG/NAME[@REV], ', '')})"
            )
        return parsed.path, InputRecord(ref=parsed.text, revision_sha=local_revision(parsed.path))
    from huggingface_hub import snapshot_download

    sha = resolve_revision(parsed).revision_sha or ""
    folder = _hub_call(
        parsed,
        "downloading the model",
        lambda: snapshot_download(parsed.repo_id or "", repo_type="model", revision=sha, endpoint=hub_endpoint()),
    )
    logger.info("resolved %s at %s -> %s", parsed, sha[:12], folder)
    return Path(folder), InputRecord(ref=parsed.text, revision_sha=sha)


def save_model_ref(
    folder: str | os.PathLike[str],
    ref: str | os.PathLike[str] | Ref,
    lineage: Lineage,
    card_body: str = "",
    *,
    move: bool = False,
) -> OutputRecord:
    """Write a model folder (as saved by ``save_pretrained``) with its card and ``lineage.json``.

    Hidden entries (``.finr1-work``, ``.cache``) and the folder's own ``README.md``/``lineage.json`` are
    not copied; the card is rendered from ``lineage`` and ``card_body``.

    Args:
        folder: The model folder (config, weights, tokenizer, generation config, …).
        ref: Output: ``hf://ORG/NAME[@BRANCH]`` or a local directory (replaced as a whole).
        lineage: Run lineage; ``finished_at`` and ``output`` are filled in here.
        card_body: Markdown placed in the card above the provenance section.
        move: Move files instead of copying them into a local output (for big, disposable folders).

    Returns:
        The :class:`OutputRecord`.

    Raises:
        ArtifactError: the folder is missing or empty, or the output cannot be written.
    """
    parsed = _as_ref(ref, "model")
    source = Path(folder)
    if not source.is_dir():
        raise ArtifactError(f"model folder {source}: no such directory")
    files: dict[str, Path | bytes] = {
        p.relative_to(source).as_posix(): p
        for p in sorted(source.rglob("*"))
        if p.is_file()
        and not _hidden(p, source)
        and p.relative_to(source).as_posix() not in (CARD_FILENAME, LINEAGE_FILENAME)
    }
    if not files:
        raise ArtifactError(f"model folder {source}: no files to write")
    final = lineage.finish(output=parsed.text)
    metadata = _model_metadata(final)
    card = render_card(final, kind="model", title=_title(parsed, "model"), metadata=metadata, body=card_body)
    files[CARD_FILENAME] = card.encode()
    files[LINEAGE_FILENAME] = final.to_json().encode()
    # Publishing a folder onto itself (saved straight into the output dir) is not overwriting foreign data.
    same = parsed.is_local and parsed.path is not None and parsed.path.resolve() == source.resolve()

    def plan(listing: Listing) -> Change:
        if not same:
            check_writable(listing)
        return Change(add=files, replace=True, move=move or same)

    commit = open_store(parsed).update(plan, message=f"finr1: write model {parsed.text}")
    assert commit is not None
    clear_work(parsed)
    logger.info("wrote model %s%s", parsed, f" at {commit.revision[:12]}" if parsed.is_hub and commit.revision else "")
    return OutputRecord(ref=parsed.text, revision_sha=commit.revision, location=commit.location, counts=final.counts)


def _model_metadata(lineage: Lineage) -> dict[str, Any]:
    meta: dict[str, Any] = {"library_name": "transformers"}
    base_models, datasets_used = [], []
    for record in lineage.inputs:
        if not record.ref.startswith("hf://"):
            continue
        repo = record.ref[len("hf://") :].split("@", 1)[0]
        if repo.startswith("datasets/"):
            datasets_used.append(repo[len("datasets/") :])
        else:
            base_models.append(repo.removeprefix("models/"))
    if base_models:
        meta["base_model"] = base_models[0] if len(base_models) == 1 else base_models
    if datasets_used:
        meta["datasets"] = datasets_used
    return meta


# --- completeness ------------------------------------------------------------------------------


def read_lineage(ref: str | os.PathLike[str] | Ref, repo_type: RepoType | None = None) -> Lineage | None:
    """Lineage of a finished output, or None when the output is absent or incomplete.

    Args:
        ref: A dataset or model ref (``hf://datasets/…`` is a dataset, other ``hf://`` refs are models).
        repo_type: Force the kind; by default it follows the ref's form.

    Returns:
        The parsed :class:`Lineage`, or None (no directory, no ``lineage.json``, no repo or branch).

    Raises:
        ArtifactError: ``lineage.json`` exists but is unreadable, or the Hub cannot be reached.
    """
    return open_store(ref, repo_type).read_lineage()


def _parse_lineage(ref: Ref, data: bytes) -> Lineage:
    from pydantic import ValidationError

    try:
        return Lineage.from_json(data)
    except ValidationError as exc:
        raise ArtifactError(f"{ref}: {LINEAGE_FILENAME} is not a finr1 lineage: {_one_line(exc, 200)}") from None
