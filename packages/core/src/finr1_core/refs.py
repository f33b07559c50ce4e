"""Artifact references: parse, read and write datasets and model folders, locally or on a Hub.

A reference is one string:

- ``hf://datasets/ORG/NAME[@REV]`` — a dataset repo on the Hub at ``HF_ENDPOINT`` (any Hub-compatible
  server), read at ``REV`` (branch, tag or commit sha; ``main`` when absent) or written to branch ``REV``
  (created from ``main`` when missing; a fresh commit on ``main`` when absent);
- ``hf://ORG/NAME[@REV]`` (or ``hf://models/ORG/NAME[@REV]``) — a model repo, same rules;
- anything else — a local directory (``file://`` prefix allowed).

A local directory holds exactly the files the Hub repo would hold — ``data/<split>-0000i-of-0000N.parquet``,
``README.md`` (card whose YAML ``configs`` lets ``datasets.load_dataset(DIR)`` and the Hub viewer find the
splits) and ``lineage.json`` — so ``huggingface_hub.upload_folder`` publishes it as is. Writes are
atomic: a local output is assembled in a hidden sibling and renamed into place, a Hub output is one
commit; a half-written output never has a ``lineage.json``, which is what :func:`read_lineage` checks.

Readers record the revision they read (:class:`~finr1_core.lineage.InputRecord`). ``HF_TOKEN`` is picked
up by ``huggingface_hub`` itself and never logged or written.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

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
    from datasets import Dataset, DatasetDict

logger = logging.getLogger(__name__)

RepoType = Literal["dataset", "model"]

#: Hidden folder inside a local output that holds resume state until the final write.
WORK_DIRNAME = ".finr1-work"
#: Data shards are cut at about this size, like ``push_to_hub``.
MAX_SHARD_BYTES = 500 * 1024 * 1024

_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$")
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_SPLIT_RE = re.compile(r"^\w+(\.\w+)*$")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
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
    except hf_errors.LocalEntryNotFoundError:
        raise ArtifactError(
            f"{ref}: {action} failed: cannot reach {endpoint} and nothing is cached (check HF_ENDPOINT and the network)"
        ) from None
    except hf_errors.EntryNotFoundError as exc:
        raise ArtifactError(f"{ref}: {action} failed: a file is missing ({_one_line(exc, 160)})") from None
    except hf_errors.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in (401, 403):
            raise ArtifactError(
                f"{ref}: {action} failed: HTTP {status} from {endpoint}; HF_TOKEN is missing, invalid or lacks "
                "write access"
            ) from None
        raise ArtifactError(f"{ref}: {action} failed: HTTP {status} from {endpoint}: {_one_line(exc, 200)}") from None
    except (httpx.ConnectError, httpx.TimeoutException, ConnectionError, hf_errors.OfflineModeIsEnabled) as exc:
        raise ArtifactError(
            f"{ref}: {action} failed: cannot reach {endpoint} ({type(exc).__name__}); check HF_ENDPOINT and "
            "the network, or unset HF_HUB_OFFLINE"
        ) from None


def _resolve_sha(api: Any, ref: Ref) -> str:
    info = api.repo_info(ref.repo_id, repo_type=ref.repo_type, revision=ref.revision or "main")
    if not info.sha:
        raise ArtifactError(f"{ref}: the Hub did not report a commit sha for revision {ref.revision or 'main'!r}")
    return info.sha


# --- local fingerprints and staging ------------------------------------------------------------


def _local_revision(path: Path) -> str:
    """sha1 of ``lineage.json`` when present (unique per write), else of every file's path and content."""
    lineage = path / LINEAGE_FILENAME if path.is_dir() else None
    if lineage is not None and lineage.is_file():
        return hashlib.sha1(lineage.read_bytes()).hexdigest()
    digest = hashlib.sha1()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p, path))
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode() if file != path else file.name.encode())
        digest.update(b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _ensure_replaceable(target: Path, ref: Ref) -> None:
    if not target.exists():
        return
    if not target.is_dir():
        raise ArtifactError(f"{ref}: exists and is not a directory; choose another output")
    entries = {p.name for p in target.iterdir()} - {WORK_DIRNAME}
    if entries and LINEAGE_FILENAME not in entries:
        raise ArtifactError(
            f"{ref}: refusing to replace a non-empty directory that finr1 did not write (no {LINEAGE_FILENAME}); "
            "choose another output or remove it"
        )


def _publish_local(staging: Path, target: Path, ref: Ref, *, check_foreign: bool = True) -> None:
    """Swap ``staging`` into ``target`` with renames, so ``target`` is either old-complete or new-complete."""
    if check_foreign:
        _ensure_replaceable(target, ref)
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(target, old)
        os.rename(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, target)


@contextmanager
def _staging_dir(ref: Ref) -> Iterator[Path]:
    """A fresh folder to assemble an output: a hidden sibling for local refs, a temp folder for Hub refs."""
    if ref.is_local:
        assert ref.path is not None
        target = ref.path.absolute()
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
        staging.mkdir()  # mkdir (not mkdtemp) so the published folder gets normal permissions
    else:
        staging = Path(tempfile.mkdtemp(prefix="finr1-stage-"))
    try:
        yield staging
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


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


def work_dir(ref: str | os.PathLike[str] | Ref, repo_type: RepoType | None = None) -> Path:
    """Hidden folder for a stage's resume state while it writes ``ref`` (created if missing).

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
    path.mkdir(parents=True, exist_ok=True)
    return path


def _clear_work(ref: Ref) -> None:
    path = _work_path(ref)
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)


# --- datasets: read ----------------------------------------------------------------------------


def load_dataset_ref(
    ref: str | os.PathLike[str] | Ref, split: str | None = None
) -> tuple[DatasetDict | Dataset, InputRecord]:
    """Read a dataset artifact and record the revision read.

    Args:
        ref: ``hf://datasets/ORG/NAME[@REV]`` or a local directory (a finr1 output, any folder
            ``datasets.load_dataset`` understands, or a single .parquet/.jsonl/.json/.csv file).
        split: Return only this split as a ``Dataset``; None returns the whole ``DatasetDict``.

    Returns:
        The data and an :class:`InputRecord` with the commit sha (Hub) or local fingerprint.

    Raises:
        ArtifactError: the repo, revision, directory or split does not exist or cannot be read.
    """
    parsed = _as_ref(ref, "dataset")
    if parsed.is_hub:
        api = _api()
        repo_id = parsed.repo_id or ""
        with _hub_errors(parsed, "reading the dataset"):
            sha = _resolve_sha(api, parsed)

            def fetch(rel: str) -> Path:
                return Path(api.hf_hub_download(repo_id, rel, repo_type="dataset", revision=sha))

            lineage = _hub_lineage_at(api, parsed, sha)
            # Loading by sha (not branch name) pins the read and keeps datasets off the viewer API.
            data = _read_dataset(parsed, repo_id, sha, lineage, fetch)
        record = InputRecord(ref=parsed.text, revision_sha=sha)
        logger.info("read %s at %s (%s)", parsed, sha[:12], _describe_counts(data))
    else:
        assert parsed.path is not None
        path = parsed.path
        if not path.exists():
            raise ArtifactError(f"dataset {parsed}: no such directory (expected {_FORMS})")
        if path.is_dir() and not any(p for p in path.iterdir() if not p.name.startswith(".")):
            raise ArtifactError(
                f"dataset {parsed}: the directory is empty (an unfinished run leaves only {WORK_DIRNAME})"
            )
        with _hub_errors(parsed, "reading the dataset"):
            if path.is_file():
                builder = _LOCAL_FILE_BUILDERS.get(path.suffix.lower())
                if builder is None:
                    raise ArtifactError(
                        f"dataset {parsed}: unsupported file type {path.suffix!r} "
                        f"(use a directory or one of {', '.join(_LOCAL_FILE_BUILDERS)})"
                    )
                data = _call_datasets(parsed, lambda: _load(builder, data_files={"train": str(path)}))
            else:
                lineage_file = path / LINEAGE_FILENAME
                lineage = _parse_lineage(parsed, lineage_file.read_bytes()) if lineage_file.is_file() else None
                data = _read_dataset(parsed, str(path), None, lineage, lambda rel: path / rel)
        record = InputRecord(ref=parsed.text, revision_sha=_local_revision(path))
        logger.info("read %s (%s)", parsed, _describe_counts(data))
    if split is None:
        return data, record
    if split not in data:
        raise ArtifactError(f"dataset {parsed}: no split {split!r} (splits: {', '.join(map(str, data)) or 'none'})")
    return data[split], record


def _hub_lineage_at(api: Any, ref: Ref, sha: str) -> Lineage | None:
    from huggingface_hub import errors as hf_errors

    try:
        local = api.hf_hub_download(ref.repo_id or "", LINEAGE_FILENAME, repo_type=ref.repo_type, revision=sha)
    except hf_errors.LocalEntryNotFoundError:
        raise
    except hf_errors.EntryNotFoundError:
        return None
    return _parse_lineage(ref, Path(local).read_bytes())


def _read_dataset(
    ref: Ref, path: str, revision: str | None, lineage: Lineage | None, fetch: Callable[[str], Path]
) -> DatasetDict:
    """Load a dataset; for finr1 outputs, rebuild the empty splits the card leaves out.

    ``datasets`` cannot load a split without rows ("corresponds to no data"), so finr1's cards list
    only non-empty splits; ``lineage.json`` counts name them all, and an empty split's parquet file
    still carries its schema.
    """
    import datasets

    counts = lineage.counts if lineage is not None else {}
    if not counts:
        return _load_dataset_configs(ref, path, revision)
    loaded = _load_dataset_configs(ref, path, revision) if any(counts.values()) else {}
    out = {}
    for split, count in counts.items():
        if split in loaded:
            out[split] = loaded[split]
        elif count == 0:
            out[split] = _empty_split(fetch(f"data/{split}-00000-of-00001.parquet"))
        else:
            raise ArtifactError(f"dataset {ref}: split {split!r} ({count} rows in {LINEAGE_FILENAME}) is missing")
    out.update({split: ds for split, ds in loaded.items() if split not in out})
    return datasets.DatasetDict(out)


def _empty_split(parquet_file: Path) -> Dataset:
    import datasets
    import pyarrow.parquet as pq

    features = datasets.Features.from_arrow_schema(pq.read_schema(parquet_file))
    return datasets.Dataset.from_dict({name: [] for name in features}, features=features)


def _describe_counts(data: Any) -> str:
    return ", ".join(f"{name}: {len(ds)} rows" for name, ds in data.items())


def _load(path: str, name: str | None = None, **kwargs: Any) -> Any:
    import datasets

    return datasets.load_dataset(path, name, **kwargs)


def _call_datasets(ref: Ref, fn: Callable[[], Any]) -> Any:
    """Run a datasets call, turning its "not found / cannot read" errors into one-line ArtifactErrors."""
    from datasets.exceptions import DataFilesNotFoundError, DatasetNotFoundError

    try:
        return fn()
    except (DatasetNotFoundError, DataFilesNotFoundError, FileNotFoundError) as exc:
        raise ArtifactError(f"dataset {ref}: cannot be read: {_one_line(exc, 200)}") from None
    except ValueError as exc:
        # datasets raises ValueError for mismatched splits/columns and unknown configs.
        raise ArtifactError(f"dataset {ref}: cannot be read: {_one_line(exc, 200)}") from None


def _load_dataset_configs(ref: Ref, path: str, revision: str | None) -> DatasetDict:
    """Load every split. finr1 writes one config, or one config per split when the splits' columns differ."""
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


def _write_dataset_files(dsdict: Mapping[str, Dataset], folder: Path) -> dict[str, Any]:
    """Write parquet shards into ``folder/data`` and return the card's front-matter metadata."""
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    (folder / "data").mkdir(parents=True, exist_ok=True)
    split_infos: dict[str, SplitInfo] = {}
    for split, ds in dsdict.items():
        nbytes = ds.data.nbytes if len(ds) else 0
        num_shards = max(1, min(len(ds), math.ceil(nbytes / MAX_SHARD_BYTES))) if len(ds) else 1
        for index in range(num_shards):
            shard = ds.shard(num_shards=num_shards, index=index, contiguous=True) if num_shards > 1 else ds
            shard.to_parquet(str(folder / "data" / f"{split}-{index:05d}-of-{num_shards:05d}.parquet"))
        split_infos[split] = SplitInfo(name=split, num_bytes=nbytes, num_examples=len(ds))
    # Empty splits stay out of the card (datasets cannot load them); their files keep the schema.
    listed = [split for split, ds in dsdict.items() if len(ds)] or list(dsdict)
    features = {split: dsdict[split].features for split in listed}
    first = next(iter(features.values()))
    uniform = all(f == first for f in features.values())
    card_data = DatasetCardData()
    if uniform:
        splits = SplitDict()
        for split in listed:
            splits.add(split_infos[split])
        infos = {"default": DatasetInfo(features=first, splits=splits)}
        configs = {"default": {"data_files": [{"split": s, "path": f"data/{s}-*"} for s in listed]}}
    else:
        # Splits with different columns cannot share a config; one config per split, the first is the default.
        infos, configs = {}, {}
        for i, split in enumerate(listed):
            splits = SplitDict()
            splits.add(split_infos[split])
            infos[split] = DatasetInfo(features=features[split], splits=splits)
            configs[split] = {"data_files": [{"split": split, "path": f"data/{split}-*"}]}
            if i == 0:
                configs[split]["default"] = True
    DatasetInfosDict(infos).to_dataset_card_data(card_data)
    MetadataConfigs(configs).to_dataset_card_data(card_data)
    return card_data.to_dict()


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
        if not _SPLIT_RE.match(split):
            raise ArtifactError(f"dataset {parsed}: split name {split!r} must be letters, digits and '_' only")
    counts = {split: len(ds) for split, ds in data.items()}
    final = lineage.finish(counts=counts, output=parsed.text)
    with _staging_dir(parsed) as staging:
        metadata = _write_dataset_files(data, staging)
        title = parsed.repo_id.split("/")[-1] if parsed.is_hub and parsed.repo_id else Path(parsed.text).name
        card = render_card(final, kind="dataset", title=title or "dataset", metadata=metadata, body=card_body)
        (staging / CARD_FILENAME).write_text(card, encoding="utf-8")
        (staging / LINEAGE_FILENAME).write_text(final.to_json(), encoding="utf-8")  # last: marks completeness
        record = _publish(staging, parsed, counts)
    logger.info(
        "wrote %s (%s)%s",
        parsed,
        ", ".join(f"{k}: {v} rows" for k, v in counts.items()),
        f" at {record.revision_sha[:12]}" if parsed.is_hub and record.revision_sha else "",
    )
    return record


def _publish(staging: Path, ref: Ref, counts: dict[str, int], *, check_foreign: bool = True) -> OutputRecord:
    if ref.is_local:
        assert ref.path is not None
        target = ref.path.absolute()
        _publish_local(staging, target, ref, check_foreign=check_foreign)
        record = OutputRecord(ref=ref.text, revision_sha=_local_revision(target), location=str(target), counts=counts)
    else:
        files = {p.relative_to(staging).as_posix(): p for p in sorted(staging.rglob("*")) if p.is_file()}
        sha, url = _hub_commit(ref, files)
        record = OutputRecord(ref=ref.text, revision_sha=sha, location=url, counts=counts)
    _clear_work(ref)
    return record


def _hub_commit(ref: Ref, files: Mapping[str, Path | bytes]) -> tuple[str, str]:
    """One commit making the revision hold exactly ``files`` (plus ``.gitattributes``); returns (sha, url)."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete
    from huggingface_hub import errors as hf_errors

    api = _api()
    repo_id, repo_type = ref.repo_id or "", ref.repo_type
    branch = ref.revision or "main"
    if _SHA_RE.match(branch):
        raise ArtifactError(f"{ref}: cannot write to a commit sha; name a branch after '@' (e.g. @run-1)")
    with _hub_errors(ref, "writing"):
        api.create_repo(repo_id, repo_type=repo_type, exist_ok=True)
        branch_is_new = False
        if branch != "main":
            try:
                api.create_branch(repo_id, branch=branch, repo_type=repo_type)
                branch_is_new = True
            except hf_errors.HfHubHTTPError as exc:
                if exc.response is None or exc.response.status_code != 409:
                    raise
        existing = api.list_repo_files(repo_id, repo_type=repo_type, revision=branch)
        content = set(existing) - {".gitattributes"}
        if content and LINEAGE_FILENAME not in content and not branch_is_new:
            raise ArtifactError(
                f"{ref}: refusing to overwrite {branch!r}, which holds files finr1 did not write (no "
                f"{LINEAGE_FILENAME}); write to a new branch with @NAME or another repo"
            )
        operations: list[Any] = [
            CommitOperationAdd(path_in_repo=path, path_or_fileobj=src if isinstance(src, bytes) else str(src))
            for path, src in files.items()
        ]
        operations += [CommitOperationDelete(path_in_repo=path) for path in sorted(content - set(files))]
        info = api.create_commit(
            repo_id,
            operations=operations,
            commit_message=f"finr1: write {ref.repo_type} {ref.text}",
            repo_type=repo_type,
            revision=branch,
        )
    return info.oid, info.commit_url


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
        return parsed.path, InputRecord(ref=parsed.text, revision_sha=_local_revision(parsed.path))
    from huggingface_hub import snapshot_download

    api = _api()
    with _hub_errors(parsed, "downloading the model"):
        sha = _resolve_sha(api, parsed)
        folder = snapshot_download(parsed.repo_id or "", repo_type="model", revision=sha, endpoint=hub_endpoint())
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
    files = {
        p.relative_to(source).as_posix(): p
        for p in sorted(source.rglob("*"))
        if p.is_file()
        and not _hidden(p, source)
        and p.relative_to(source).as_posix() not in (CARD_FILENAME, LINEAGE_FILENAME)
    }
    if not files:
        raise ArtifactError(f"model folder {source}: no files to write")
    final = lineage.finish(output=parsed.text)
    title = parsed.repo_id.split("/")[-1] if parsed.is_hub and parsed.repo_id else Path(parsed.text).name
    card = render_card(final, kind="model", title=title or "model", metadata=_model_metadata(final), body=card_body)
    if parsed.is_local:
        with _staging_dir(parsed) as staging:
            for rel, src in files.items():
                dest = staging / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                if move:
                    shutil.move(src, dest)
                else:
                    shutil.copy2(src, dest)
            (staging / CARD_FILENAME).write_text(card, encoding="utf-8")
            (staging / LINEAGE_FILENAME).write_text(final.to_json(), encoding="utf-8")
            # Publishing a folder onto itself (saved straight into the output dir) is not overwriting foreign data.
            same = parsed.path is not None and parsed.path.resolve() == source.resolve()
            record = _publish(staging, parsed, final.counts, check_foreign=not same)
    else:
        payload: dict[str, Path | bytes] = dict(files)
        payload[CARD_FILENAME] = card.encode()
        payload[LINEAGE_FILENAME] = final.to_json().encode()
        sha, url = _hub_commit(parsed, payload)
        record = OutputRecord(ref=parsed.text, revision_sha=sha, location=url, counts=final.counts)
        _clear_work(parsed)
    logger.info(
        "wrote model %s%s", parsed, f" at {record.revision_sha[:12]}" if parsed.is_hub and record.revision_sha else ""
    )
    return record


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
    parsed = _infer_ref(ref, repo_type)
    if parsed.is_local:
        assert parsed.path is not None
        path = parsed.path / LINEAGE_FILENAME
        if not path.is_file():
            return None
        return _parse_lineage(parsed, path.read_bytes())
    from huggingface_hub import errors as hf_errors
    from huggingface_hub import hf_hub_download

    _api()  # syncs HF_ENDPOINT
    with _hub_errors(parsed, "reading lineage"):
        try:
            local = hf_hub_download(
                parsed.repo_id or "",
                LINEAGE_FILENAME,
                repo_type=parsed.repo_type,
                revision=parsed.revision or "main",
                endpoint=hub_endpoint(),
            )
        except hf_errors.LocalEntryNotFoundError:
            raise
        except (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError, hf_errors.EntryNotFoundError):
            return None
    return _parse_lineage(parsed, Path(local).read_bytes())


def _parse_lineage(ref: Ref, data: bytes) -> Lineage:
    from pydantic import ValidationError

    try:
        return Lineage.from_json(data)
    except ValidationError as exc:
        raise ArtifactError(f"{ref}: {LINEAGE_FILENAME} is not a finr1 lineage: {_one_line(exc, 200)}") from None
