"""Logging for every finr1 tool: text or JSON lines, with secrets redacted at every level.

The CLI calls :func:`setup_logging` once; library code only uses ``logging.getLogger(__name__)``.
Redaction happens in the formatter, after the message and any traceback are rendered, so nothing a
handler writes can carry a key; the rules are :mod:`finr1_core.redaction`'s, the same for errors,
cards and lineage. :func:`error_line` renders a tool's final error in the configured format (a JSON
object under ``--log-format json``, so a log collector sees the failure as one more record).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Literal

from finr1_core.redaction import REDACTED as REDACTED  # one marker for logs, errors, cards and lineage
from finr1_core.redaction import redact_text


def redact(text: str) -> str:
    """``text`` with every secret replaced (:func:`finr1_core.redaction.redact_text`, the one policy)."""
    return redact_text(text)


class RedactingFormatter(logging.Formatter):
    """Text formatter whose whole output (message, args, traceback) passes through :func:`redact`."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, plus any ``extra={"data": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": _timestamp(record.created, record.msecs),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data = getattr(record, "data", None)
        if isinstance(data, dict):
            payload.update(data)
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return _json_line(payload)


def _timestamp(created: float, msecs: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(msecs):03d}Z"


def _json_line(payload: dict[str, Any]) -> str:
    # Redact the values before encoding: JSON escapes (quotes, non-ASCII) could hide a secret from a
    # pass over the encoded line. The encoded line is redacted once more for what the values combine to.
    clean = {key: _redact_value(value) for key, value in payload.items()}
    return redact(json.dumps(clean, ensure_ascii=False, default=str))


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_FORMAT: dict[str, str] = {"fmt": "text"}  # the format of the last setup_logging call (for error_line)


def log_format() -> str:
    """``"text"`` or ``"json"``: the format of the last :func:`setup_logging` call."""
    return _FORMAT["fmt"]


def error_line(message: str, *, exit_code: int = 1, kind: str = "error") -> str:
    """A tool's final error line, redacted: ``error: …`` as text, or one JSON object under ``--log-format json``.

    The JSON object has the log records' keys (``time``, ``level``, ``logger``, ``message``) plus
    ``exit_code`` and ``kind`` (``error``, ``usage``, ``interrupted``), so a collector that parses
    the log stream parses the failure too. As text, an ``error`` gets the ``error: `` prefix and the
    other kinds are shown as given.
    """
    if _FORMAT["fmt"] != "json":
        return redact(f"error: {message}" if kind == "error" else message)
    now = time.time()
    payload = {
        "time": _timestamp(now, (now % 1) * 1000),
        "level": "ERROR",
        "logger": "finr1",
        "message": message,
        "kind": kind,
        "exit_code": exit_code,
    }
    return _json_line(payload)


def setup_logging(level: str = "INFO", fmt: Literal["text", "json"] = "text") -> None:
    """Configure the root logger once for a CLI process (stderr, redacting formatter)."""
    handler = logging.StreamHandler(sys.stderr)
    _FORMAT["fmt"] = fmt
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    handler.set_name("finr1")
    root = logging.getLogger()
    # Replace only finr1's own handler (a second call reconfigures); others (pytest's capture) stay.
    for old in list(root.handlers):
        if old.get_name() == "finr1":
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Third-party chatter at INFO is noise for pipeline users; DEBUG shows everything.
    if level.upper() != "DEBUG":
        for noisy in ("httpx", "httpx2", "httpcore", "urllib3", "filelock", "huggingface_hub", "datasets", "openai"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        # datasets' parquet reader logs an ERROR ("Failed to read schema …") through its own handler and then
        # raises; finr1 reports that exception as one line, so the log record only doubles (or triples) it.
        logging.getLogger("datasets.packaged_modules.parquet.parquet").setLevel(logging.CRITICAL)
    logging.captureWarnings(True)
