"""A finished training waiting to be written: the staged final folder and everything its card and lineage need.

Training ends with the final model folder staged in the output's work folder (weights, tokenizer,
``metrics.json``, ``training_curves.png``). :func:`write_pending` then records, in ``final.json`` beside it,
what the write needs: the effective config, the inputs' revisions, the counts, the times, the card body and
every staged file with its size. Only then is the output written (:func:`finr1_core.refs.save_model_ref`).
If that write fails (a Hub 503, a dropped connection, a kill), a rerun with the same config finds the record
and writes exactly what was trained — the same weights and the metrics recorded during that training —
without loading a model or training again (before, the rerun resumed from the last checkpoint and trained
again, one step past ``max_steps`` when that checkpoint was the last step).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

PENDING_FILE = "final.json"
FINAL_DIRNAME = "final"
_VERSION = 1

#: Keys of the effective config that say how a run is started, not what it trains.
RUN_CONTROL_KEYS = frozenset({"resume", "resume_from_checkpoint", "output_dir"})


@dataclass
class Pending:
    """A staged final model and what its write needs."""

    folder: Path
    config: dict[str, Any]
    inputs: list[dict[str, Any]]
    counts: dict[str, int]
    started_at: str
    finished_at: str
    card_body: str
    base_model: str
    has_curves: bool
    checkpoint_push_failures: list[str]


def _files(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}


def _comparable(config: Mapping[str, Any]) -> dict[str, Any]:
    trl = {k: v for k, v in dict(config.get("trl") or {}).items() if k not in RUN_CONTROL_KEYS}
    return {**{k: v for k, v in config.items() if k not in RUN_CONTROL_KEYS and k != "trl"}, "trl": trl}


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Keys (``trl.`` prefixed for TRL's arguments) whose values differ, ignoring how the run is started."""
    a, b = _comparable(old), _comparable(new)
    keys = [k for k in sorted(set(a) | set(b)) if k != "trl" and a.get(k) != b.get(k)]
    keys += [f"trl.{k}" for k in sorted(set(a["trl"]) | set(b["trl"])) if a["trl"].get(k) != b["trl"].get(k)]
    return keys


def write_pending(work: Path, folder: Path, record: Mapping[str, Any]) -> Path:
    """Record that ``folder`` (in ``work``) is a finished training, atomically, after its files.

    Args:
        work: The output's work folder.
        folder: The staged final model folder inside it.
        record: ``config``, ``inputs``, ``counts``, ``started_at``, ``finished_at``, ``card_body``,
            ``base_model``, ``has_curves``, ``checkpoint_push_failures``.

    Returns:
        The record's path.
    """
    payload = {"version": _VERSION, "folder": folder.name, "files": _files(folder), **record}
    path = work / PENDING_FILE
    tmp = work / f".{PENDING_FILE}.tmp"
    tmp.write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def read_pending(work: Path, *, clean: bool = True) -> Pending | None:
    """The finished training staged in ``work``, or None (nothing staged, or a staged folder that changed).

    Args:
        work: The output's work folder.
        clean: Discard an unusable record and folder (the main process only; every process reads).
    """
    path = work / PENDING_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        folder = work / data["folder"]
        files: dict[str, int] = data["files"]
        if data.get("version") != _VERSION:
            raise ValueError(f"version {data.get('version')}")
    except (ValueError, KeyError, TypeError) as exc:
        if clean:
            logger.warning("ignoring the unreadable %s (%s)", path, exc)
            discard(work)
        return None
    now = _files(folder) if folder.is_dir() else {}
    if now != files:
        if clean:
            missing = sorted(set(files) - set(now)) or sorted(k for k in files if now.get(k) != files[k])
            logger.warning(
                "the finished training staged in %s is incomplete (%s); it is discarded and the run resumes from "
                "its checkpoints",
                folder,
                ", ".join(missing[:3]) or "files changed",
            )
            discard(work)
        return None
    return Pending(
        folder=folder,
        config=data["config"],
        inputs=data["inputs"],
        counts=data["counts"],
        started_at=data["started_at"],
        finished_at=data["finished_at"],
        card_body=data["card_body"],
        base_model=data["base_model"],
        has_curves=bool(data.get("has_curves")),
        checkpoint_push_failures=list(data.get("checkpoint_push_failures") or []),
    )


def discard(work: Path) -> None:
    """Remove the staged final folder and its record (the checkpoints stay)."""
    (work / PENDING_FILE).unlink(missing_ok=True)
    (work / f".{PENDING_FILE}.tmp").unlink(missing_ok=True)
    shutil.rmtree(work / FINAL_DIRNAME, ignore_errors=True)
