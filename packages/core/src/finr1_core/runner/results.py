"""The append-only JSONL result log: one line per finished call, keyed by (item_id, sample_index).

Format: UTF-8 JSON objects, one per line, fields as :meth:`ChatResult.to_dict`. A line counts once
its newline is written. Each line goes to the kernel in one ``write(2)`` as its result arrives, so
after any crash of the process (``kill -9`` included) the file holds every finished line plus at
most one partial last line; only a power loss or kernel crash can lose lines the OS had not yet
written to disk, unless ``fsync=True`` (one ``fsync`` per line, slower on most disks). Opening the
log for a run cuts a partial last line off (that call is made again).

A key can appear more than once: a failed call that is retried on resume appends a new line. The
readers resolve that: a success wins over failures, and among equals the last line wins.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from finr1_core.errors import ArtifactError, InputError
from finr1_core.runner.records import ChatResult

logger = logging.getLogger(__name__)

Key = tuple[str, int]


def _scan(path: Path) -> tuple[dict[Key, tuple[bool, int]], int, int]:
    """Read the log once: key -> (ok, offset of the winning line); end of the last whole line; line count.

    A last line without its newline (the writer died mid-line) is not counted; a bad line
    anywhere else is an :class:`InputError`.
    """
    index: dict[Key, tuple[bool, int]] = {}
    offset = 0
    good_end = 0
    lines = 0
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            start, offset = offset, offset + len(line)
            if not line.endswith(b"\n"):
                logger.warning(
                    "%s: dropping an unfinished last line (%d bytes); that call will be made again", path, len(line)
                )
                break
            if not line.strip():
                good_end = offset
                continue
            try:
                row = json.loads(line)
                key = (str(row["item_id"]), int(row["sample_index"]))
                ok = row.get("error") is None
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(
                    f"{path}:{number}: not a runner result row ({type(exc).__name__}: {exc}); "
                    "the file was edited or is not a result log — fix or remove that line to resume"
                ) from None
            previous = index.get(key)
            if previous is None or ok or not previous[0]:
                index[key] = (ok, start)
            good_end = offset
            lines += 1
    return index, good_end, lines


def iter_results(path: str | Path) -> Iterator[ChatResult]:
    """Yield one :class:`ChatResult` per key from a result log, in file order, holding only offsets in memory.

    Where a key appears more than once, a success wins over failures and the last line wins
    among equals. An unfinished last line is ignored (the file is not changed).

    Raises:
        InputError: When the file is missing or a line that is not the last one is not a result row.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"result log {path} does not exist")
    index, good_end, _ = _scan(path)
    wanted = sorted(offset for _, offset in index.values())
    with path.open("rb") as f:
        for offset in wanted:
            if offset >= good_end:
                break
            f.seek(offset)
            yield ChatResult.from_dict(json.loads(f.readline()))


def read_results(path: str | Path) -> dict[Key, ChatResult]:
    """All results of a log as ``{(item_id, sample_index): ChatResult}`` (see :func:`iter_results`)."""
    return {result.key: result for result in iter_results(path)}


class ResultLog:
    """The writer side: exclusive, append-only, one ``write(2)`` per line.

    Args:
        path: The JSONL file (created with its parent folders).
        fsync: ``fsync`` after every line (survives power loss; costs a disk flush per result).
    """

    def __init__(self, path: str | Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._fd: int | None = None
        self.done: dict[Key, bool] = {}
        """Keys already in the log when it was opened -> whether their best line is a success."""

    def open(self) -> ResultLog:
        """Open (or create) the log, take an exclusive lock, index it and cut an unfinished last line."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            _lock(fd, self.path)
            index, good_end, lines = _scan(self.path)
            if os.fstat(fd).st_size != good_end:
                os.ftruncate(fd, good_end)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.done = {key: ok for key, (ok, _) in index.items()}
        if lines:
            logger.info(
                "%s: %d results already logged (%d failed), %d lines",
                self.path,
                len(self.done),
                sum(not ok for ok in self.done.values()),
                lines,
            )
        return self

    def append(self, result: ChatResult) -> None:
        """Write one result line (UTF-8 JSON + newline) in a single system call."""
        if self._fd is None:
            raise RuntimeError("ResultLog is not open")
        data = (json.dumps(result.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        if self.fsync:
            os.fsync(self._fd)

    def close(self) -> None:
        """Flush to disk once and release the lock."""
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> ResultLog:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _lock(fd: int, path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory lock
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ArtifactError(
            f"result log {path} is in use by another process; wait for it or give this run its own output"
        ) from None
