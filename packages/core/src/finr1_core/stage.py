"""Shared plumbing of the API stages (distill, judge, evaluate): re-runs, shards, resume state, output, log line.

A stage run records its inputs, asks whether its output is already there, reads its input, sends its model
calls through the resumable runner with its state in :attr:`Stage.state_dir`, and writes one output dataset
with card and lineage::

    stage = Stage("finr1-judge", __version__, config, output=config.output, shard=parse_shard(config.shard),
                  force=force)
    stage.resolve_input(config.input)            # the revision, without reading the data
    if (done := stage.check_rerun()) is not None:
        return done                              # complete for these inputs and settings: left alone
    rows = stage.read_dataset(config.input, split="train")
    stage.pin_settings({"model": ..., "prompt": ...})
    ...  # run_chat(requests, endpoint, stage.state_dir / "round1.jsonl")
    stage.write({"sft": sft_ds, "rl": rl_ds}, summary=counters, card_body=render)

**Re-runs.** :meth:`Stage.check_rerun` runs before any work (no endpoint call): an output that is complete
for the same tool, inputs (refs and revisions) and effective config — without :data:`OPERATIONAL_KEYS` —
is reported and left alone; one complete with other settings is refused with the keys that differ, unless
``force`` (``--force``), which redoes it. :func:`check_complete` is the same rule for writers that are not a
``Stage`` (``finr1-train``'s models).

**Shards.** ``--shard I/N`` (0-based ``I``) keeps the items whose stable hash of the id falls in bucket
``I`` of ``N`` (:func:`shard_index`), so N containers split one dataset into disjoint parts that cover it
all, without coordination. A shard writes only its own files, ``data/<split>-0000I-of-0000N.parquet``,
plus a shard record ``shards/shard-0000I-of-0000N.json`` (its lineage and summary). The shard that
completes the set writes ``README.md`` and ``lineage.json`` for the whole dataset, with the counts and
summaries of all shards merged; until then the output has no ``lineage.json`` and every finr1 reader
refuses it (:func:`finr1_core.refs.load_dataset_ref`, local folders and Hub refs alike). Shard records
carry a run key (the config without :data:`OPERATIONAL_KEYS`, and the inputs read): a shard started with
other settings than its siblings is refused before it starts (``--force`` replaces the others). A shard's
resume state goes once its data is committed and the merge was tried; a re-run of a shard whose data is in
makes no model call and only finishes the merge. Writes go through :class:`finr1_core.refs.Store`, so local
folders and Hub branches follow the same code. An unsharded run writes through
:func:`finr1_core.refs.save_dataset_ref` (atomic replace of the whole output).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from finr1_core.errors import ArtifactError, ConfigError
from finr1_core.lineage import CARD_FILENAME, LINEAGE_FILENAME, InputRecord, Lineage, OutputRecord, render_card
from finr1_core.refs import (
    SHARDS_DIRNAME,
    Change,
    Listing,
    Ref,
    RepoType,
    Store,
    check_split_name,
    check_writable,
    dataset_card_metadata,
    open_store,
    parse_ref,
    write_split_files,
)

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)

T = TypeVar("T")

_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_SHARD_FILE_RE = re.compile(r"^data/(?P<split>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")


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


# --- settings and re-runs -------------------------------------------------------------------------------

#: Config keys (at any depth) that do not change what a run computes: how a container works, not what it
#: produces. Shards of one run may differ in them (each may talk to its own replica, with its own concurrency,
#: limits and budgets), and a re-run that changes only them finds its output complete.
OPERATIONAL_KEYS = frozenset({
    "shard", "concurrency", "progress", "max_requests", "max_total_tokens", "base_url", "api_key_env", "headers",
    "timeout_s", "connect_timeout_s", "max_retries", "backoff_initial_s", "backoff_max_s", "max_retry_after_s",
    "http_client",
})  # fmt: skip
#: Top-level keys that name the output itself or how it was split, not what it holds.
_OUTPUT_KEYS = frozenset({"output", "shards"})


def _without_operational(value: Any, ignore: frozenset[str] = OPERATIONAL_KEYS) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_operational(v, ignore) for k, v in value.items() if k not in ignore}
    if isinstance(value, list):
        return [_without_operational(v, ignore) for v in value]
    return value


def _settings(config: Mapping[str, Any], ignore: Iterable[str] = ()) -> dict[str, Any]:
    """The config that decides what a run computes: JSON values, without operational and output keys."""
    keys = OPERATIONAL_KEYS | frozenset(ignore)
    plain = json.loads(json.dumps(dict(config), sort_keys=True, default=str))
    return {k: v for k, v in _without_operational(plain, keys).items() if k not in _OUTPUT_KEYS}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _short(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if value is not None else "unset"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def settings_diff(before: Mapping[str, Any], after: Mapping[str, Any], ignore: Iterable[str] = ()) -> list[str]:
    """The settings that differ between two effective configs, as ``key old → new`` (dotted keys, sorted).

    Operational keys (:data:`OPERATIONAL_KEYS`), ``output``, ``shards`` and the keys in ``ignore`` are left out.
    """
    old, new = _flatten(_settings(before, ignore)), _flatten(_settings(after, ignore))
    return [
        f"{key} {_short(old.get(key))} → {_short(new.get(key))}"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def _inputs_diff(before: Sequence[InputRecord], after: Sequence[InputRecord]) -> list[str]:
    old = {r.ref: r.revision_sha for r in before}
    new = {r.ref: r.revision_sha for r in after}
    out = []
    for ref in sorted(set(old) | set(new)):
        if ref not in old:
            out.append(f"input {ref} added")
        elif ref not in new:
            out.append(f"input {ref} dropped")
        elif old[ref] != new[ref]:
            out.append(f"input {ref} at {(old[ref] or 'unknown')[:12]} → {(new[ref] or 'unknown')[:12]}")
    return out


def run_differences(
    existing: Lineage, tool: str, config: Mapping[str, Any], inputs: Sequence[InputRecord], ignore: Iterable[str] = ()
) -> list[str]:
    """Why an existing output is not the one this run would write: another tool, other inputs or settings."""
    if existing.tool != tool:
        return [f"written by {existing.tool}, not {tool}"]
    return _inputs_diff(existing.inputs, inputs) + settings_diff(existing.config, config, ignore)


def _refusal(ref: Any, what: str, differences: list[str]) -> ConfigError:
    shown = "; ".join(differences[:4]) + (f"; and {len(differences) - 4} more" if len(differences) > 4 else "")
    return ConfigError(f"{ref}: {what} ({shown}); pass --force to replace it, or write to another output")


def check_complete(
    output: str | Ref,
    *,
    tool: str,
    config: Mapping[str, Any],
    inputs: Sequence[InputRecord] | Callable[[], Sequence[InputRecord]],
    force: bool = False,
    repo_type: RepoType = "dataset",
    ignore: Iterable[str] = (),
) -> Lineage | None:
    """Whether ``output`` is already complete for these inputs and settings (the re-run rule of every stage).

    Call it before any work. ``config`` is the effective config as the run will record it (it is redacted
    and compared without :data:`OPERATIONAL_KEYS`, ``ignore`` and the output's own name).

    Args:
        output: The output ref.
        tool: The tool writing it (``finr1-train``).
        config: The effective config.
        inputs: The inputs with their revisions (:func:`finr1_core.refs.resolve_revision`), or a function
            returning them, called only when a complete output exists (hashing a local model takes a while).
        force: Redo a complete output instead of refusing or skipping.
        repo_type: ``dataset`` or ``model``.
        ignore: More config keys (at any depth) that do not change the result (paths of scratch folders).

    Returns:
        The existing lineage when the output is complete for the same run (leave it alone); None when there is
        no complete output, or ``force`` is set.

    Raises:
        ConfigError: the output is complete with other settings or inputs (names them), and not ``force``.
    """
    from finr1_core.refs import read_lineage

    ref = parse_ref(output, repo_type)
    existing = read_lineage(ref)
    if existing is None:
        return None
    current = Lineage(tool=tool, tool_version="", config=dict(config))  # redacts, as the written lineage was
    records = inputs() if callable(inputs) else inputs
    differences = run_differences(existing, tool, current.config, records, ignore)
    if not differences:
        if force:
            logger.info("%s is complete for these inputs and settings; --force: doing it again", ref)
            return None
        return existing
    if force:
        logger.warning("%s is complete with other settings (%s); --force: replacing it", ref, "; ".join(differences))
        return None
    raise _refusal(ref, "is complete with other settings or inputs", differences)


def _run_key(tool: str, config: Mapping[str, Any], inputs: Sequence[InputRecord]) -> str:
    payload = {
        "tool": tool,
        "config": _settings(config),
        "inputs": sorted((r.ref, r.revision_sha or "") for r in inputs),
    }
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
        force: Redo a complete output (or replace sibling shards written with other settings) instead of
            leaving it alone or refusing (``--force``).

    Raises:
        ConfigError: the output ref is malformed.
    """

    def __init__(
        self,
        tool: str,
        tool_version: str,
        config: Any,
        *,
        output: str,
        shard: Shard | None = None,
        force: bool = False,
    ) -> None:
        self.tool = tool
        self.tool_version = tool_version
        self.output = parse_ref(output, "dataset")
        self.shard = shard
        self.force = force
        self.lineage = Lineage.start(tool, tool_version, config=config)
        self.inputs: list[InputRecord] = []
        self.input_rows: int | None = None
        self._t0 = time.monotonic()
        self._state_dir: Path | None = None
        self._checked = False

    # -- inputs ------------------------------------------------------------------------------------------

    def add_input(self, record: InputRecord) -> None:
        """Record one input (ref and revision read) for lineage; a later record of the same ref replaces it."""
        self.inputs = [r for r in self.inputs if r.ref != record.ref] + [record]

    def resolve_input(self, ref: str, repo_type: RepoType | None = None) -> InputRecord:
        """Record an input's revision without reading it (cheap: one Hub call or a local fingerprint).

        For :meth:`check_rerun`, which must know the inputs before any work; :meth:`read_dataset` records
        the revision it actually read later.

        Raises:
            ArtifactError: the ref or revision does not exist.
        """
        from finr1_core.refs import resolve_revision

        record = resolve_revision(ref, repo_type)
        self.add_input(record)
        return record

    def read_dataset(self, ref: str, split: str | None = None) -> Any:
        """Read an input dataset ref (all shard files of each split as one dataset) and record it.

        Raises:
            ArtifactError: the ref, revision or split does not exist, cannot be read, or is incomplete.
        """
        from finr1_core.refs import load_dataset_ref

        with _quiet_datasets():
            data, record = load_dataset_ref(ref, split=split)
        self.add_input(record)
        if split is not None:
            self.input_rows = len(data)
        return data

    # -- re-runs --------------------------------------------------------------------------------------------

    def check_rerun(self, card_body: str | Callable[[dict[str, Any]], str] = "") -> OutputRecord | None:
        """Leave a finished output alone; refuse one (or sibling shards) made with other settings.

        Call once the inputs are recorded (:meth:`resolve_input`, :meth:`add_input`) and before any work:
        nothing here calls an endpoint.

        Args:
            card_body: What :meth:`write` will get as ``card_body``: a shard re-run that finds every shard in
                (its last commit had failed) writes the dataset's card with it.

        Returns:
            The output record when there is nothing to do: the output is complete for the same tool, inputs
            and settings (its resume state is removed), or — for a shard — this shard's data is already in
            (the merge is finished if every shard is). None when the run should go on.

        Raises:
            ConfigError: the output, or a sibling shard, was written with other settings or inputs, and not
                ``force``; the message names what differs.
        """
        record = self._check_rerun(card_body)
        self._checked = True  # only once it passed: a refused run stays refused at write time
        return record

    def _check_rerun(self, card_body: str | Callable[[dict[str, Any]], str]) -> OutputRecord | None:
        self.lineage.inputs = list(self.inputs)
        store = open_store(self.output)
        listing = store.list()
        if listing.complete:
            existing = _read_lineage(store, listing)
            differences = run_differences(existing, self.tool, self.lineage.config, self.inputs)
            if differences and not self.force:
                raise _refusal(self.output, "is complete with other settings or inputs", differences)
            if differences or self.force:
                logger.warning(
                    "%s: --force: replacing the complete output%s",
                    self.output,
                    f" ({'; '.join(differences)})" if differences else "",
                )
                return None
            self._drop_state()
            logger.info(
                "%s is complete for these inputs and settings; left alone (pass --force to redo it)", self.output
            )
            return OutputRecord(
                ref=self.output.text,
                revision_sha=store.revision(listing),
                location=store.location,
                counts=existing.counts,
            )
        if self.shard is None or not listing.exists:
            return None
        records = _read_records(store, listing)
        conflicts = _conflicts(self, records)
        if conflicts and not self.force:
            raise _refusal(self.output, "holds shards written with other settings or inputs", conflicts)
        mine = records.get(_record_path(self.shard))
        if self.force or mine is None or mine.get("run_key") != self.run_key():
            return None
        logger.info("%s: shard %s is already written; no model call needed", self.output, self.shard)
        record = _finish_shards(self, store, card_body)
        self._drop_state()
        return record

    def _guard_overwrite(self) -> None:
        """For callers that skipped :meth:`check_rerun`: never replace a complete output made differently."""
        if self._checked or self.force:
            return
        store = open_store(self.output)
        listing = store.list()
        if listing.complete:
            existing = _read_lineage(store, listing)
            differences = run_differences(existing, self.tool, self.lineage.config, self.inputs)
            if differences:
                raise _refusal(self.output, "is complete with other settings or inputs", differences)

    # -- resume state -------------------------------------------------------------------------------------

    def _state_path(self) -> Path:
        from finr1_core.refs import work_dir

        return work_dir(self.output, create=False) / (f"shard-{self.shard.label}" if self.shard else "run")

    @property
    def state_dir(self) -> Path:
        """This run's resume folder: ``work_dir(output)/run`` or ``…/shard-0000I-of-0000N`` (created on access)."""
        if self._state_dir is None:
            path = self._state_path()
            path.mkdir(parents=True, exist_ok=True)
            self._state_dir = path
        return self._state_dir

    def _drop_state(self) -> None:
        """Remove this run's resume folder, and the work folder once no run of the output has state left."""
        shutil.rmtree(self._state_path(), ignore_errors=True)
        self._state_dir = None
        work = self._state_path().parent
        if work.is_dir() and not any(work.iterdir()):
            work.rmdir()

    def pin_settings(self, settings: Mapping[str, Any]) -> None:
        """Record the settings that shape the results in the resume folder; resuming with others is an error.

        A resumed run reuses every logged result, so a changed model or prompt would mix answers of two
        setups in one output. Settings that do not change answers (concurrency, limit) should not be passed.
        With ``force`` the unfinished results of other settings are discarded instead.

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
                if not self.force:
                    raise ConfigError(
                        f"{self.state_dir} holds an unfinished run with other settings (changed: "
                        f"{', '.join(changed)}); run again with the same settings to resume it, or pass --force "
                        "to discard it and start over"
                    )
                logger.warning(
                    "%s: --force: discarding unfinished results made with other settings (%s)",
                    self.state_dir,
                    ", ".join(changed),
                )
                shutil.rmtree(self.state_dir, ignore_errors=True)
                self.state_dir.mkdir(parents=True, exist_ok=True)
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

        Raises:
            ConfigError: the output is complete with other settings (when :meth:`check_rerun` was not called),
                or sibling shards were written with other settings; not with ``force``.
            ArtifactError: the output cannot be written; the resume state is kept for a re-run.
        """
        self.lineage.inputs = list(self.inputs)
        summary = dict(summary or {})
        self._guard_overwrite()
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


def _read_lineage(store: Store, listing: Listing) -> Lineage:
    lineage = store.read_lineage(listing)
    if lineage is None:
        raise ArtifactError(f"{store.ref}: {LINEAGE_FILENAME} vanished while reading; run again")
    return lineage


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


def _atomic_write(dest: Path, text: str) -> None:
    from finr1_core.refs import write_atomic

    write_atomic(dest, text)


# --- shard records ------------------------------------------------------------------------------------------


def _record_path(shard: Shard) -> str:
    return f"{SHARDS_DIRNAME}/shard-{shard.label}.json"


def _read_records(store: Store, listing: Listing) -> dict[str, dict[str, Any]]:
    """Shard records of the output at ``listing`` (path → record); unreadable ones are skipped with a warning."""
    out = {}
    for path in listing.shard_records:
        raw = store.read(path, listing)
        try:
            record = json.loads(raw) if raw is not None else None
        except ValueError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("shard"), dict):
            logger.warning("%s: %s is not a finr1 shard record; ignored", store.ref, path)
            continue
        out[path] = record
    return out


def _conflicts(stage: Stage, records: Mapping[str, dict[str, Any]]) -> list[str]:
    """What sets the sibling shards' records apart from this run: settings, inputs or the shard count."""
    assert stage.shard is not None
    key, count = stage.run_key(), stage.shard.count
    out = []
    for _, record in sorted(records.items()):
        label = f"shard {record['shard'].get('index')}/{record['shard'].get('count')}"
        if record.get("run_key") == key and record["shard"].get("count") == count:
            continue
        if record.get("run_key") == key:
            out.append(f"{label} splits the input {record['shard'].get('count')} ways, this run {count}")
            continue
        try:
            theirs = Lineage.model_validate(record["lineage"])
            why = run_differences(theirs, stage.tool, stage.lineage.config, stage.inputs)
        except (KeyError, ValueError):
            why = []
        out.append(f"{label}: {', '.join(why) or 'another run'}")
    return out


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
    metadata = dataset_card_metadata(features, counts)
    return merged, render_card(merged, kind="dataset", title=title, metadata=metadata, body=text)


def _data_label(path: str) -> tuple[str, int, int] | None:
    """``(split, index, count)`` of a data file ``data/<split>-0000I-of-0000N.parquet``."""
    match = _SHARD_FILE_RE.match(path)
    return (match.group("split"), int(match.group("index")), int(match.group("count"))) if match else None


# --- shard writes -----------------------------------------------------------------------------------------


def _write_shard(
    stage: Stage,
    splits: dict[str, Dataset],
    summary: dict[str, Any],
    card_body: str | Callable[[dict[str, Any]], str],
) -> OutputRecord:
    """Commit this shard's files and record, then finish the dataset if every shard is in (one code path for
    local folders and Hub branches)."""
    assert stage.shard is not None
    shard = stage.shard
    for name in splits:
        check_split_name(stage.output, name)
    store = open_store(stage.output)
    record = _shard_record(stage, splits, summary)
    with store.staging() as tmp:
        staged: dict[str, Path | bytes] = {}
        for name, ds in splits.items():
            (rel,) = write_split_files(name, ds, tmp, label=shard.label)
            staged[rel] = tmp / rel
        staged[_record_path(shard)] = (json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n").encode()

        def plan(listing: Listing) -> Change:
            check_writable(listing)
            if listing.fresh:  # a branch created from main just now: what it holds is main's, not this output's
                return Change(add=staged, delete=sorted(listing.files - set(staged)), move=True)
            records = _read_records(store, listing)
            conflicts = _conflicts(stage, records)
            if conflicts and not stage.force:
                raise _refusal(stage.output, "holds shards written with other settings or inputs", conflicts)
            key = record["run_key"]
            others = {
                path: r
                for path, r in records.items()
                if r.get("run_key") != key or r["shard"].get("count") != shard.count
            }
            gone_labels = {Shard(r["shard"]["index"], r["shard"]["count"]).label for r in others.values()}
            delete = set(others)
            for path in listing.files:
                parsed = _data_label(path)
                if parsed is None:
                    continue
                _, index, count = parsed
                label = Shard(index, count).label if index < count else ""
                # Data of replaced shards, and of another shard count (a schema file -00000-of-00001 of an empty
                # split included): not this run's.
                if count != shard.count or (label in gone_labels and label != shard.label):
                    delete.add(path)
            delete |= {p for p in (LINEAGE_FILENAME, CARD_FILENAME) if p in listing.files}  # incomplete again
            for path in sorted(delete & set(others)):
                logger.warning("%s: removing %s, left by a run with other settings (--force)", stage.output, path)
            return Change(add=staged, delete=sorted(delete - set(staged)), move=True)

        store.update(plan, message=f"finr1: {stage.tool} shard {shard}")
    out = _finish_shards(stage, store, card_body, counts=record["counts"])
    stage._drop_state()  # this shard's data is committed and the merge was tried: its resume state can go
    return out


def _finish_shards(
    stage: Stage,
    store: Store,
    body: str | Callable[[dict[str, Any]], str],
    counts: Mapping[str, int] | None = None,
) -> OutputRecord:
    """Write the whole dataset's card and lineage when every shard of this run is in (a no-op otherwise)."""
    assert stage.shard is not None
    key, count = stage.run_key(), stage.shard.count
    location = store.location
    state: dict[str, Any] = {}

    def plan(listing: Listing) -> Change | None:
        if listing.complete:
            return None  # a sibling finished it meanwhile
        records = [r for r in _read_records(store, listing).values() if r.get("run_key") == key]
        records = [r for r in records if r["shard"].get("count") == count]
        done = {r["shard"]["index"] for r in records}
        state["done"] = len(done)
        if done != set(range(count)):
            return None
        merged, card = _merge_records(records, body, _title(stage.output))
        state["counts"] = merged.counts
        add: dict[str, Path | bytes] = {}
        delete: list[str] = []
        for name, total in merged.counts.items():
            if total:
                continue
            # A split without rows in any shard is stored once, as its schema file (like finr1_core.refs does).
            mine = [p for p in sorted(listing.files) if (_data_label(p) or ("", 0, 0))[0::2] == (name, count)]
            single = f"data/{name}-00000-of-00001.parquet"
            source = mine[0] if mine else single
            schema = store.read(source, listing)
            if schema is None:
                raise ArtifactError(f"{stage.output}: split {name!r} has no data file left (expected {source})")
            add[single] = schema
            delete += [p for p in mine if p != single]
        add[CARD_FILENAME] = card.encode()
        add[LINEAGE_FILENAME] = merged.to_json().encode()  # last: marks the whole dataset complete
        return Change(add=add, delete=delete)

    commit = store.update(plan, message=f"finr1: {stage.tool} all {count} shards done")
    if commit is None:
        listing = store.list()
        if listing.complete:
            existing = _read_lineage(store, listing)
            return OutputRecord(
                ref=stage.output.text,
                revision_sha=store.revision(listing),
                location=location,
                counts=existing.counts,
            )
        logger.info(
            "%s: shard %s written; %d of %d shards done", stage.output, stage.shard, state.get("done", 0), count
        )
        return OutputRecord(ref=stage.output.text, revision_sha=None, location=location, counts=dict(counts or {}))
    logger.info("%s: all %d shards done; wrote %s and %s", stage.output, count, CARD_FILENAME, LINEAGE_FILENAME)
    return OutputRecord(
        ref=stage.output.text, revision_sha=commit.revision, location=commit.location, counts=state["counts"]
    )


def _title(ref: Ref) -> str:
    if ref.is_hub and ref.repo_id:
        return ref.repo_id.split("/")[-1]
    return Path(ref.text).name or "dataset"
