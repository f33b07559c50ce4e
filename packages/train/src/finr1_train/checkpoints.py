"""Complete checkpoints: which ``checkpoint-N`` folders a killed run can resume from, and the clean-up of the rest.

transformers' Trainer writes a checkpoint straight into ``checkpoint-N`` — weights, then optimizer and
scheduler (or DeepSpeed's ``global_stepN/`` shards, or FSDP's folders), then the RNG state of every process,
then ``trainer_state.json`` — and rotates older checkpoints away (``save_total_limit``) before it returns.
Killed in between, ``checkpoint-N`` is the newest folder although it is not usable, and
``get_last_checkpoint`` picks it: the next run fails (``Can't find a valid checkpoint``, a truncated
safetensors file, a missing ``trainer_state.json``) and the half-written weights stay on disk.

finr1's trainers (:func:`complete_checkpoints`) therefore finish every save with a completion marker,
``finr1-checkpoint.json``, written after all processes have saved (a barrier), listing each file with its
size; the files are fsynced before and the marker is renamed into place, so the marker exists only when the
whole checkpoint does. Rotation is deferred until the marker is written, so the previous complete
checkpoint survives a kill at any moment of the next save.

A checkpoint is **complete** when its marker is there and every file it lists has the recorded size. A
checkpoint without a marker (written by plain TRL or by an older finr1) is accepted only if its files look
whole: ``trainer_state.json`` parses and names step N, there are model weights (safetensors, with every
shard of an index, each file as long as its header says; or ``pytorch_model*.bin``, DeepSpeed or FSDP
state), and every ``.pt``/``.pth`` file is a readable zip archive (``torch.save``'s format; a truncated one
has no central directory).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MARKER = "finr1-checkpoint.json"
"""Written last into a checkpoint folder, once every process has saved its part."""

_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
# Leftovers of interrupted saves and uploads: transformers < 4.4x staged saves in tmp-checkpoint-N; finr1's
# checkpoint push (callbacks.PushCheckpointRevisions) snapshots into .push-checkpoint-N-*; the marker's temp file.
_LEFTOVER_GLOBS = ("tmp-checkpoint-*", ".push-checkpoint-*")
_TRAINER_STATE = "trainer_state.json"


@dataclass(frozen=True)
class Verdict:
    """Whether one ``checkpoint-N`` folder can be resumed from, and why not."""

    path: Path
    step: int
    complete: bool
    reason: str = ""


def checkpoint_step(path: Path) -> int | None:
    """N of a ``checkpoint-N`` folder name, else None."""
    match = _CHECKPOINT_RE.match(path.name)
    return int(match.group(1)) if match else None


def _safetensors_whole(path: Path) -> bool:
    """The file is as long as its header says (a truncated write is shorter)."""
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return False
        (header_len,) = struct.unpack("<Q", head)
        if header_len > 100_000_000:
            return False
        try:
            header = json.loads(handle.read(header_len))
        except ValueError:
            return False
    ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    return path.stat().st_size == 8 + header_len + max(ends, default=0)


def _zip_whole(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path):
            return True
    except (zipfile.BadZipFile, OSError):
        return False


def _weights_reason(folder: Path) -> str:
    """'' when the folder holds whole model weights, else what is wrong."""
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / index_name
        if index.is_file():
            try:
                shards = set(json.loads(index.read_text())["weight_map"].values())
            except (ValueError, KeyError):
                return f"{index_name} is unreadable"
            missing = sorted(s for s in shards if not (folder / s).is_file())
            if missing:
                return f"weight shard {missing[0]} is missing"
            return ""
    if any(folder.glob("*.safetensors")) or any(folder.glob("pytorch_model*.bin")):
        return ""
    if (folder / "latest").is_file() or any(folder.glob("global_step*")):  # DeepSpeed engine checkpoint
        return ""
    if any(folder.glob("pytorch_model_fsdp*")):
        return ""
    return "no model weights"


def _files_reason(folder: Path) -> str:
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".safetensors" and not _safetensors_whole(path):
            return f"{path.relative_to(folder)} is truncated"
        if path.suffix in (".pt", ".pth") and not _zip_whole(path):
            return f"{path.relative_to(folder)} is truncated"
    return ""


def _unmarked_reason(folder: Path, step: int) -> str:
    # A truncated file first: it says most about what happened (a kill in the middle of a write).
    damaged = _files_reason(folder) or _weights_reason(folder)
    if damaged:
        return damaged
    state = folder / _TRAINER_STATE
    if not state.is_file():
        return f"no {_TRAINER_STATE}"
    try:
        saved_step = json.loads(state.read_text(encoding="utf-8"))["global_step"]
    except (ValueError, KeyError):
        return f"{_TRAINER_STATE} is unreadable"
    if saved_step != step:
        return f"{_TRAINER_STATE} is for step {saved_step}"
    return ""


def _marked_reason(folder: Path, step: int) -> str:
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        files: dict[str, int] = marker["files"]
        marked_step = marker["step"]
    except (ValueError, KeyError, TypeError):
        return f"{MARKER} is unreadable"
    if marked_step != step:
        return f"{MARKER} is for step {marked_step}"
    for rel, size in files.items():
        path = folder / rel
        if not path.is_file():
            return f"{rel} is missing"
        if path.stat().st_size != size:
            return f"{rel} has {path.stat().st_size} bytes, {size} were written"
    return ""


def inspect_checkpoint(folder: str | os.PathLike[str]) -> Verdict:
    """Decide whether ``folder`` (a ``checkpoint-N``) is complete; never raises for a damaged folder."""
    path = Path(folder)
    step = checkpoint_step(path)
    if step is None:
        return Verdict(path, -1, False, "not a checkpoint-N folder")
    try:
        if not path.is_dir():
            return Verdict(path, step, False, "no such folder")
        reason = _marked_reason(path, step) if (path / MARKER).is_file() else _unmarked_reason(path, step)
    except OSError as exc:  # removed by another process meanwhile, unreadable …
        reason = f"unreadable ({exc.strerror or exc})"
    return Verdict(path, step, not reason, reason)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _human(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size} B"


@dataclass
class ResumeScan:
    """What a checkpoints folder holds: the newest complete checkpoint and what was (or would be) removed."""

    latest: Path | None
    incomplete: list[Verdict]
    removed: list[str]

    def describe_incomplete(self) -> str:
        """``checkpoint-6 (no trainer_state.json)``, comma separated."""
        return ", ".join(f"{v.path.name} ({v.reason})" for v in self.incomplete)


def scan(output_dir: str | os.PathLike[str], *, clean: bool) -> ResumeScan:
    """Find the newest complete checkpoint in ``output_dir``; with ``clean``, delete incomplete ones and leftovers.

    Only the main process should pass ``clean=True`` (the folder is shared); every process gets the same
    answer either way, because a folder being deleted reads as incomplete.

    Args:
        output_dir: The trainer's ``output_dir`` (holding ``checkpoint-N`` folders).
        clean: Remove incomplete checkpoints and the leftovers of interrupted saves and uploads.

    Returns:
        A :class:`ResumeScan`.
    """
    root = Path(output_dir)
    if not root.is_dir():
        return ResumeScan(None, [], [])
    verdicts = sorted(
        (inspect_checkpoint(p) for p in root.iterdir() if checkpoint_step(p) is not None and p.is_dir()),
        key=lambda v: v.step,
    )
    complete = [v for v in verdicts if v.complete]
    incomplete = [v for v in verdicts if not v.complete]
    removed: list[str] = []
    if clean:
        leftovers = [v.path for v in incomplete]
        for pattern in _LEFTOVER_GLOBS:
            leftovers += sorted(p for p in root.glob(pattern))
        for path in leftovers:
            size = _size(path) if path.exists() else 0
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(f"{path.name} ({_human(size)})")
        if removed:
            logger.warning(
                "removed what an interrupted save left in %s: %s%s",
                root,
                ", ".join(removed),
                f" [{'; '.join(f'{v.path.name}: {v.reason}' for v in incomplete)}]" if incomplete else "",
            )
    return ResumeScan(complete[-1].path if complete else None, incomplete, removed)


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories or read-only descriptors; the rename still orders
    finally:
        os.close(fd)


def mark_complete(folder: str | os.PathLike[str], step: int) -> Path:
    """Write the completion marker of ``folder`` after flushing its files to disk.

    Returns:
        The marker's path.
    """
    path = Path(folder)
    files: dict[str, int] = {}
    for file in sorted(path.rglob("*")):
        if file.is_file() and file.name != MARKER and not file.name.startswith(f".{MARKER}"):
            _fsync(file)
            files[file.relative_to(path).as_posix()] = file.stat().st_size
    tmp = path / f".{MARKER}.tmp"
    tmp.write_text(json.dumps({"step": step, "files": files}, indent=1), encoding="utf-8")
    _fsync(tmp)
    os.replace(tmp, path / MARKER)
    _fsync(path)
    return path / MARKER


def complete_checkpoints(trainer_cls: type) -> type:
    """A subclass of a transformers/TRL trainer whose checkpoints carry a completion marker.

    Rotation (``save_total_limit``) runs after the marker, so a kill during a save never leaves the run
    without a complete checkpoint that it had before.
    """
    from transformers.trainer_utils import rotate_checkpoints

    class CompleteCheckpoints(trainer_cls):  # type: ignore[misc,valid-type]
        def _save_checkpoint(self, model: Any, trial: Any) -> None:
            limit = self.args.save_total_limit
            self.args.save_total_limit = None  # rotate only once the new checkpoint is marked complete
            try:
                super()._save_checkpoint(model, trial)
            finally:
                self.args.save_total_limit = limit
            run_dir = Path(self._get_output_dir(trial=trial))
            folder = run_dir / f"checkpoint-{self.state.global_step}"
            self.accelerator.wait_for_everyone()  # every process has written its shard and RNG state
            if self.args.should_save:
                mark_complete(folder, self.state.global_step)
                rotate_checkpoints(
                    output_dir=str(run_dir),
                    save_total_limit=limit,
                    best_model_checkpoint=self.state.best_model_checkpoint,
                    use_mtime=True,  # as transformers' own rotation
                )
            self.accelerator.wait_for_everyone()

    CompleteCheckpoints.__name__ = CompleteCheckpoints.__qualname__ = f"Finr1{trainer_cls.__name__}"
    return CompleteCheckpoints
