"""Shared plumbing of the API stages (distill, judge, evaluate): shards, resume state, output, log line.

A stage run reads its input (a dataset ref or source files), sends its model calls through the
resumable runner with its state in :attr:`Stage.state_dir`, and writes one output dataset with card and
lineage::

    stage = Stage("finr1-judge", __version__, config, output=config.output, shard=parse_shard(config.shard))
    rows = stage.read_dataset(config.input, split="train")
    ...  # run_chat(requests, endpoint, stage.state_dir / "round1.jsonl")
    stage.write({"sft": sft_ds, "rl": rl_ds}, summary=counters, card_body=render)

**Shards.** ``--shard I/N`` (0-based ``I``) keeps the items whose stable hash of the id falls in bucket
``I`` of ``N`` (:func:`shard_index`), so N containers split one dataset into disjoint parts that cover it
all, without coordination. A shard writes only its own files, ``data/<split>-0000I-of-0000N.parquet``,
plus a shard record ``shards/shard-0000I-of-0000N.json`` (its lineage and summary). The shard that
completes the set writes ``README.md`` and ``lineage.json`` for the whole dataset, with the counts and
summaries of all shards merged; until then the output has no ``lineage.json`` and reads as incomplete
(:func:`finr1_core.refs.read_lineage` returns None), while ``datasets.load_dataset`` already reads the
parts that exist. Shard records carry a run key (the config without ``shard``, and the inputs read), so
leftovers of an earlier run with other settings are removed instead of merged. An unsharded run writes
through :func:`finr1_core.refs.save_dataset_ref` (atomic replace of the whole output).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from finr1_core.errors import ArtifactError, ConfigError
from finr1_core.lineage import CARD_FILENAME, LINEAGE_FILENAME, InputRecord, Lineage, OutputRecord, render_card

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)

T = TypeVar("T")

SHARDS_DIRNAME = "shards"
_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_SHARD_FILE_RE = re.compile(r"^(?P<split>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")
_RECORD_RE = re.compile(r"^shard-(?P<index>\d{5})-of-(?P<count>\d{5})\.json$")


# --- shards -----------------------------------------------------------------------------------------


def shard_index(key: str, count: int) -> int:
    """Bucket of ``key`` among ``count`` shards: a stable hash (sha256), the same in every process and version."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based), as given by ``--shard I/N``."""

    index: int
    count: int

    @property
    def label(self) -> str:
        """``0000I-of-0000N``, the suffix of the shard's files."""
        return f"{self.index:05d}-of-{self.count:05d}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def contains(self, key: str) -> bool:
        """Whether the item with this id belongs to the shard."""
        return shard_index(key, self.count) == self.index

    def select(self, items: Iterable[T], key: Callable[[T], str]) -> Iterator[T]:
        """The items of this shard, in their original order."""
        return (item for item in items if self.contains(key(item)))


def parse_shard(spec: str | Shard | None) -> Shard | None:
    """Parse ``--shard I/N`` (0-based ``I``, ``0 <= I < N``); ``None`` or ``""`` means no sharding.

    Raises:
        ConfigError: one line naming the value and the expected form.
    """
    if spec is None or isinstance(spec, Shard):
        return spec
    text = str(spec)
    if not text.strip():
        return None
    match = _SHARD_RE.match(text)
    if not match:
        raise ConfigError(f"shard {text!r}: expected I/N with whole numbers, e.g. --shard 0/4 (I counts from 0)")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1:
        raise ConfigError(f"shard {text!r}: N must be at least 1")
    if count > 99999:
        raise ConfigError(f"shard {text!r}: N must be at most 99999")
    if index >= count:
        raise ConfigError(f"shard {text!r}: I must be between 0 and {count - 1} (shards count from 0)")
    return Shard(index, count)


# --- summaries ----------------------------------------------------------------------------------------


def merge_summaries(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Merge two stage summaries: numbers add up, lists become sorted unions, mappings merge recursively."""
    out: dict[str, Any] = dict(a)
    for key, value in b.items():
        if key not in out:
            out[key] = value
            continue
        mine = out[key]
        if isinstance(mine, Mapping) and isinstance(value, Mapping):
            out[key] = merge_summaries(mine, value)
        elif isinstance(mine, bool) or isinstance(value, bool):
            out[key] = mine
        elif isinstance(mine, int | float) and isinstance(value, int | float):
            out[key] = mine + value
        elif isinstance(mine, list) and isinstance(value, list):
            out[key] = sorted(set(map(_hashable, mine)) | set(map(_hashable, value)), key=str)
        # anything else: the first value wins
    return out


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


# --- fingerprints ---------------------------------------------------------------------------------------


def fingerprint_path(path: str | os.PathLike[str]) -> str:
    """sha1 over a file, or over every non-hidden file of a folder (relative paths and contents)."""
    root = Path(path)
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


#: Config keys (at any depth) that may differ between the shards of one run: how a container works, not what
#: it computes. Each shard may talk to its own replica, with its own concurrency, limits and budgets.
OPERATIONAL_KEYS = frozenset({
    "shard", "concurrency", "progress", "max_requests", "max_total_tokens", "base_url", "api_key_env", "headers",
    "timeout_s", "connect_timeout_s", "max_retries", "backoff_initial_s", "backoff_max_s", "max_retry_after_s",
    "http_client",
})  # fmt: skip


def _without_operational(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_operational(v) for k, v in value.items() if k not in OPERATIONAL_KEYS}
    if isinstance(value, list):
        return [_without_operational(v) for v in value]
    return value


def _run_key(tool: str, config: Mapping[str, Any], inputs: list[InputRecord]) -> str:
    settings = _without_operational(config)
    payload = {"tool": tool, "config": settings, "inputs": [(r.ref, r.revision_sha) for r in inputs]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --- the stage ------------------------------------------------------------------------------------------


class Stage:
    """One run of an API stage: input ref(s) → resume state in a work dir → output dataset with card + lineage.

    Args:
        tool: Console name (``finr1-judge``).
        tool_version: The tool's version.
        config: The effective config (a pydantic model or mapping; secrets are removed in lineage).
        output: Output dataset ref (local directory or ``hf://datasets/…``).
        shard: The shard this run handles (``None``: the whole input).

    Raises:
        ConfigError: the output ref is malformed.
    """

    def __init__(self, tool: str, tool_version: str, config: Any, *, output: str, shard: Shard | None = None) -> None:
        from finr1_core.refs import parse_ref

        self.tool = tool
        self.tool_version = tool_version
        self.output = parse_ref(output, "dataset")
        self.shard = shard
        self.lineage = Lineage.start(tool, tool_version, config=config)
        self.inputs: list[InputRecord] = []
        self.input_rows: int | None = None
        self._t0 = time.monotonic()
        self._state_dir: Path | None = None

    # -- inputs ------------------------------------------------------------------------------------------

    def add_input(self, record: InputRecord) -> None:
        """Record one input (ref and revision read) for lineage."""
        if record not in self.inputs:
            self.inputs.append(record)

    def read_dataset(self, ref: str, split: str | None = None) -> Any:
        """Read an input dataset ref (all shard files of each split as one dataset) and record it.

        Raises:
            ArtifactError: the ref, revision or split does not exist or cannot be read.
        """
        from finr1_core.refs import load_dataset_ref, parse_ref

        _check_shards_complete(parse_ref(ref, "dataset"))
        with _quiet_datasets():
            data, record = load_dataset_ref(ref, split=split)
        self.add_input(record)
        if split is not None:
            self.input_rows = len(data)
        return data

    # -- resume state -------------------------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        """This run's resume folder: ``work_dir(output)/run`` or ``…/shard-0000I-of-0000N`` (created on access)."""
        if self._state_dir is None:
            from finr1_core.refs import work_dir

            name = f"shard-{self.shard.label}" if self.shard else "run"
            path = work_dir(self.output) / name
            path.mkdir(parents=True, exist_ok=True)
            self._state_dir = path
        return self._state_dir

    def pin_settings(self, settings: Mapping[str, Any]) -> None:
        """Record the settings that shape the results in the resume folder; resuming with others is an error.

        A resumed run reuses every logged result, so a changed model or prompt would mix answers of two
        setups in one output. Settings that do not change answers (concurrency, limit) should not be passed.

        Raises:
            ConfigError: the resume folder holds a run with other settings (names the keys and the fix).
        """
        from finr1_core.lineage import redact

        path = self.state_dir / "settings.json"
        current = json.loads(json.dumps(redact(dict(settings)), sort_keys=True, default=str))
        if path.is_file():
            try:
                previous = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                previous = None
            if isinstance(previous, dict) and previous != current:
                changed = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
                raise ConfigError(
                    f"{self.state_dir} holds an unfinished run with other settings (changed: {', '.join(changed)}); "
                    "run again with the same settings to resume it, or delete that folder to start over"
                )
        _atomic_write(path, json.dumps(current, indent=2, sort_keys=True) + "\n")

    # -- output --------------------------------------------------------------------------------------------

    def write(
        self,
        splits: Mapping[str, Dataset],
        *,
        summary: Mapping[str, Any] | None = None,
        card_body: str | Callable[[dict[str, Any]], str] = "",
    ) -> OutputRecord:
        """Write the output dataset (or this shard's part of it) with card and lineage, then log the stage line.

        Args:
            splits: Split name → ``datasets.Dataset`` (empty splits keep their features).
            summary: Stage counters (numbers, lists of ids, nested mappings); merged over shards
                with :func:`merge_summaries`.
            card_body: Markdown above the card's provenance section, or a function of the (merged)
                summary that renders it.

        Returns:
            The output record; for a shard whose siblings have not all finished, ``revision_sha`` is None.
        """
        self.lineage.inputs = list(self.inputs)
        summary = dict(summary or {})
        with _quiet_datasets():
            if self.shard is None:
                from finr1_core.refs import save_dataset_ref

                body = card_body(summary) if callable(card_body) else card_body
                record = save_dataset_ref(dict(splits), self.output, self.lineage, card_body=body)
            else:
                record = _write_shard(self, dict(splits), summary, card_body)
        self._log_done(record)
        return record

    def _log_done(self, record: OutputRecord) -> None:
        counts = ", ".join(f"{k}: {v}" for k, v in record.counts.items())
        inputs = ", ".join(r.ref for r in self.inputs) or "-"
        rows = f" ({self.input_rows} rows)" if self.input_rows is not None else ""
        shard = f" shard {self.shard}" if self.shard else ""
        logger.info(
            "%s%s: %s%s -> %s (%s) in %.1fs",
            self.tool,
            shard,
            inputs,
            rows,
            self.output,
            counts,
            time.monotonic() - self._t0,
        )

    def run_key(self) -> str:
        """Key shared by the shards of one run: the tool, the config without :data:`OPERATIONAL_KEYS`, the inputs."""
        return _run_key(self.tool, self.lineage.config, self.inputs)


def _check_shards_complete(ref: Any) -> None:
    """A sharded local output without ``lineage.json`` is still being written: reading it would lose rows."""
    if not ref.is_local or not (ref.path / SHARDS_DIRNAME).is_dir() or (ref.path / LINEAGE_FILENAME).is_file():
        return
    counts = set()
    for path in (ref.path / SHARDS_DIRNAME).glob("shard-*.json"):
        match = _RECORD_RE.match(path.name)
        if match:
            counts.add((int(match.group("index")), int(match.group("count"))))
    total = max((n for _, n in counts), default=0)
    raise ArtifactError(
        f"dataset {ref}: only {len(counts)} of {total} shards are written (no {LINEAGE_FILENAME} yet); "
        "run the missing --shard I/N parts first"
    )


@contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Hide datasets' per-call tqdm bars ("Generating train split", "Creating parquet"): noise in a stage's log."""
    import datasets

    enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if enabled:
            datasets.enable_progress_bars()


# --- shard writes -----------------------------------------------------------------------------------------


def _card_metadata(features: Mapping[str, Any], counts: Mapping[str, int]) -> dict[str, Any]:
    """Front matter (``configs``, ``dataset_info``) for splits stored as ``data/<split>-*`` files."""
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    # Like finr1_core.refs: splits without rows stay out of the card (datasets cannot load them); the reader
    # rebuilds them from lineage counts and the schema in data/<split>-00000-of-00001.parquet.
    names = [name for name in features if counts.get(name)] or list(features)
    first = features[names[0]]
    card_data = DatasetCardData()
    if all(features[n] == first for n in names):
        split_dict = SplitDict()
        for name in names:
            split_dict.add(SplitInfo(name=name, num_examples=counts.get(name, 0)))
        infos = {"default": DatasetInfo(features=first, splits=split_dict)}
        configs: dict[str, Any] = {"default": {"data_files": [{"split": n, "path": f"data/{n}-*"} for n in names]}}
    else:
        infos, configs = {}, {}
        for i, name in enumerate(names):
            split_dict = SplitDict()
            split_dict.add(SplitInfo(name=name, num_examples=counts.get(name, 0)))
            infos[name] = DatasetInfo(features=features[name], splits=split_dict)
            configs[name] = {
                "data_files": [{"split": name, "path": f"data/{name}-*"}],
                **({"default": True} if i == 0 else {}),
            }
    DatasetInfosDict(infos).to_dataset_card_data(card_data)
    MetadataConfigs(configs).to_dataset_card_data(card_data)
    return card_data.to_dict()


def _shard_record(stage: Stage, splits: Mapping[str, Dataset], summary: dict[str, Any]) -> dict[str, Any]:
    assert stage.shard is not None
    counts = {name: len(ds) for name, ds in splits.items()}
    lineage = stage.lineage.finish(counts=counts, output=stage.output.text)
    return {
        "run_key": stage.run_key(),
        "shard": {"index": stage.shard.index, "count": stage.shard.count},
        "counts": counts,
        "features": {name: ds.features.to_dict() for name, ds in splits.items()},
        "summary": summary,
        "lineage": json.loads(lineage.to_json()),
    }


def _merge_records(
    records: list[dict[str, Any]], body: str | Callable[[dict[str, Any]], str], title: str
) -> tuple[Lineage, str]:
    """The whole dataset's lineage and card from all shard records."""
    from datasets import Features

    records = sorted(records, key=lambda r: r["shard"]["index"])
    lineages = [Lineage.model_validate(r["lineage"]) for r in records]
    counts: dict[str, int] = {}
    summary: dict[str, Any] = {}
    inputs: list[InputRecord] = []
    for record, lin in zip(records, lineages, strict=True):
        for name, n in record["counts"].items():
            counts[name] = counts.get(name, 0) + int(n)
        summary = merge_summaries(summary, record["summary"])
        inputs += [i for i in lin.inputs if i not in inputs]
    first = lineages[0]
    config = {k: v for k, v in first.config.items() if k != "shard"}
    config["shards"] = len(records)
    merged = Lineage(
        tool=first.tool,
        tool_version=first.tool_version,
        config=config,
        inputs=inputs,
        started_at=min(lin.started_at for lin in lineages),
    ).finish(counts=counts, output=first.output)
    merged = merged.model_copy(update={"finished_at": max(lin.finished_at or lin.started_at for lin in lineages)})
    features = {name: Features.from_dict(feat) for name, feat in records[0]["features"].items()}
    text = body(summary) if callable(body) else body
    shards_note = (
        f"Written by {len(records)} shards (`--shard I/{len(records)}`); each shard's own lineage and summary "
        f"is in `{SHARDS_DIRNAME}/`."
    )
    text = f"{text.rstrip()}\n\n{shards_note}" if text.strip() else shards_note
    metadata = _card_metadata(features, counts)
    return merged, render_card(merged, kind="dataset", title=title, metadata=metadata, body=text)


def _label(record: Mapping[str, Any]) -> str:
    return Shard(record["shard"]["index"], record["shard"]["count"]).label


def _empty_splits(records: list[dict[str, Any]]) -> list[str]:
    """Splits without a row in any shard: stored once as ``<split>-00000-of-00001`` (the schema), as refs does."""
    totals: dict[str, int] = {}
    for record in records:
        for name, n in record["counts"].items():
            totals[name] = totals.get(name, 0) + int(n)
    return [name for name, total in totals.items() if total == 0]


def _write_shard(
    stage: Stage,
    splits: dict[str, Dataset],
    summary: dict[str, Any],
    card_body: str | Callable[[dict[str, Any]], str],
) -> OutputRecord:
    for name in splits:
        if not re.match(r"^\w+$", name):
            raise ArtifactError(f"dataset {stage.output}: split name {name!r} must be letters, digits and '_' only")
    record = _shard_record(stage, splits, summary)
    with tempfile.TemporaryDirectory(prefix="finr1-shard-") as tmp:
        staged: dict[str, Path] = {}
        assert stage.shard is not None
        for name, ds in splits.items():
            path = Path(tmp) / f"{name}-{stage.shard.label}.parquet"
            ds.to_parquet(str(path))
            staged[f"data/{name}-{stage.shard.label}.parquet"] = path
        rec_path = Path(tmp) / "record.json"
        rec_path.write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        staged[f"{SHARDS_DIRNAME}/shard-{stage.shard.label}.json"] = rec_path
        if stage.output.is_local:
            out = _write_shard_local(stage, staged, record, card_body)
        else:
            out = _write_shard_hub(stage, staged, record, card_body)
    return out


def _stale(name: str, record: Mapping[str, Any]) -> bool:
    """Whether a data file belongs to another run layout (another N) than this run's."""
    match = _SHARD_FILE_RE.match(name)
    return match is not None and int(match.group("count")) != record["shard"]["count"]


def _write_shard_local(
    stage: Stage, staged: Mapping[str, Path], record: dict[str, Any], body: str | Callable[[dict[str, Any]], str]
) -> OutputRecord:
    from finr1_core.refs import WORK_DIRNAME

    assert stage.output.path is not None
    root = stage.output.path.absolute()
    if root.exists():
        entries = {p.name for p in root.iterdir()} - {WORK_DIRNAME}
        ours = {"data", SHARDS_DIRNAME, CARD_FILENAME, LINEAGE_FILENAME}
        if entries - ours or (entries and not entries & {SHARDS_DIRNAME, LINEAGE_FILENAME}):
            raise ArtifactError(
                f"{stage.output}: refusing to write a shard into a directory finr1 did not write; choose another output"
            )
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / SHARDS_DIRNAME).mkdir(parents=True, exist_ok=True)
    # The output is incomplete again until every shard of this run is in.
    for name in (LINEAGE_FILENAME, CARD_FILENAME):
        (root / name).unlink(missing_ok=True)
    for rel, src in staged.items():
        _atomic_copy(src, root / rel)
    shutil.rmtree(stage.state_dir, ignore_errors=True)  # this shard's part is durable now
    records: dict[str, dict[str, Any]] = {}
    for path in sorted((root / SHARDS_DIRNAME).glob("shard-*.json")):
        try:
            other = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a sibling is writing it right now, or it is foreign: not ours to merge
        if other.get("run_key") != record["run_key"]:
            logger.warning("%s: removing %s, left by an earlier run with other settings", stage.output, path.name)
            path.unlink(missing_ok=True)
            continue
        records[path.name] = other
    for path in sorted((root / "data").glob("*.parquet")):
        if _stale(path.name, record):
            logger.warning("%s: removing %s, left by a run with another shard count", stage.output, path.name)
            path.unlink(missing_ok=True)
    count = record["shard"]["count"]
    done = {r["shard"]["index"] for r in records.values() if r["shard"]["count"] == count}
    if done != set(range(count)):
        logger.info("%s: shard %s written; %d of %d shards done", stage.output, stage.shard, len(done), count)
        return OutputRecord(ref=stage.output.text, revision_sha=None, location=str(root), counts=record["counts"])
    merged, card = _merge_records(list(records.values()), body, root.name)
    for name in _empty_splits(list(records.values())):
        _atomic_copy(staged[f"data/{name}-{_label(record)}.parquet"], root / "data" / f"{name}-00000-of-00001.parquet")
        for path in (root / "data").glob(f"{name}-*-of-{count:05d}.parquet") if count > 1 else []:
            path.unlink(missing_ok=True)
    _atomic_write(root / CARD_FILENAME, card)
    _atomic_write(root / LINEAGE_FILENAME, merged.to_json())  # last: marks the whole dataset complete
    work = root / WORK_DIRNAME
    if work.is_dir() and not any(work.iterdir()):
        work.rmdir()
    logger.info("%s: all %d shards done; wrote %s and %s", stage.output, count, CARD_FILENAME, LINEAGE_FILENAME)
    return OutputRecord(
        ref=stage.output.text,
        revision_sha=fingerprint_path(root / LINEAGE_FILENAME),
        location=str(root),
        counts=merged.counts,
    )


def _atomic_copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def _atomic_write(dest: Path, text: str) -> None:
    tmp = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, dest)


def _write_shard_hub(
    stage: Stage, staged: Mapping[str, Path], record: dict[str, Any], body: str | Callable[[dict[str, Any]], str]
) -> OutputRecord:
    # finr1_core.refs writes whole revisions; shards add files to one, so this uses its Hub plumbing directly.
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, hf_hub_download
    from huggingface_hub import errors as hf_errors

    from finr1_core.refs import _api, _hub_errors, hub_endpoint

    ref = stage.output
    api = _api()
    repo_id, branch = ref.repo_id or "", ref.revision or "main"
    count = record["shard"]["count"]

    def _records(files: list[str]) -> dict[str, dict[str, Any]]:
        out = {}
        for path in files:
            if path.startswith(f"{SHARDS_DIRNAME}/") and _RECORD_RE.match(path.split("/", 1)[1]):
                local = hf_hub_download(repo_id, path, repo_type="dataset", revision=branch, endpoint=hub_endpoint())
                out[path] = json.loads(Path(local).read_text(encoding="utf-8"))
        return out

    with _hub_errors(ref, "writing a shard"):
        api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
        if branch != "main":
            try:
                api.create_branch(repo_id, branch=branch, repo_type="dataset")
            except hf_errors.HfHubHTTPError as exc:
                if exc.response is None or exc.response.status_code != 409:
                    raise
        existing = api.list_repo_files(repo_id, repo_type="dataset", revision=branch)
        content = set(existing) - {".gitattributes"}
        if (
            content
            and not content & {LINEAGE_FILENAME}
            and not any(p.startswith(f"{SHARDS_DIRNAME}/") for p in content)
        ):
            raise ArtifactError(f"{ref}: refusing to add a shard to {branch!r}, which holds files finr1 did not write")
        others = _records(existing)
        deletes = [p for p, r in others.items() if r.get("run_key") != record["run_key"]]
        deletes += [p for p in content if p.startswith("data/") and _stale(p.split("/", 1)[1], record)]
        deletes += [p for p in (LINEAGE_FILENAME, CARD_FILENAME) if p in content]
        operations: list[Any] = [
            CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(src)) for p, src in staged.items()
        ]
        operations += [CommitOperationDelete(path_in_repo=p) for p in sorted(set(deletes) - set(staged))]
        api.create_commit(
            repo_id,
            operations=operations,
            repo_type="dataset",
            revision=branch,
            commit_message=f"finr1: {stage.tool} shard {stage.shard}",
        )
        shutil.rmtree(stage.state_dir, ignore_errors=True)  # this shard's part is committed now
        files = api.list_repo_files(repo_id, repo_type="dataset", revision=branch)
        mine = [r for r in _records(files).values() if r.get("run_key") == record["run_key"]]
        done = {r["shard"]["index"] for r in mine if r["shard"]["count"] == count}
        if done != set(range(count)):
            logger.info("%s: shard %s written; %d of %d shards done", ref, stage.shard, len(done), count)
            return OutputRecord(ref=ref.text, revision_sha=None, location=ref.text, counts=record["counts"])
        merged, card = _merge_records(mine, body, repo_id.split("/")[-1])
        final: list[Any] = []
        for name in _empty_splits(mine):
            src = staged[f"data/{name}-{_label(record)}.parquet"]
            final.append(
                CommitOperationAdd(path_in_repo=f"data/{name}-00000-of-00001.parquet", path_or_fileobj=str(src))
            )
            final += [
                CommitOperationDelete(path_in_repo=p)
                for p in files
                if count > 1 and re.fullmatch(rf"data/{re.escape(name)}-\d{{5}}-of-{count:05d}\.parquet", p)
            ]
        final += [
            CommitOperationAdd(path_in_repo=CARD_FILENAME, path_or_fileobj=card.encode()),
            CommitOperationAdd(path_in_repo=LINEAGE_FILENAME, path_or_fileobj=merged.to_json().encode()),
        ]
        info = api.create_commit(
            repo_id,
            operations=final,
            repo_type="dataset",
            revision=branch,
            commit_message=f"finr1: {stage.tool} all {count} shards done",
        )
    logger.info("%s: all %d shards done at %s", ref, count, info.oid[:12])
    return OutputRecord(ref=ref.text, revision_sha=info.oid, location=info.commit_url, counts=merged.counts)
