"""Logging for every finr1 tool: text or JSON lines, with secrets redacted at every level.

The CLI calls :func:`setup_logging` once; library code only uses ``logging.getLogger(__name__)``.
Redaction happens in the formatter, after the message and any traceback are rendered, so nothing a
handler writes can carry a key: values of environment variables whose names look secret, bearer
tokens, ``Authorization`` headers and well-known token shapes (``hf_…``, ``sk-…``) are replaced.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from typing import Literal

from finr1_core.lineage import REDACTED  # one marker for logs, cards and lineage

_SECRET_ENV_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
_PATTERNS = [
    # Authorization: Bearer xyz / Authorization: Basic xyz / "authorization": "..."
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?:bearer\s+|basic\s+|token\s+)?[^\s\"',}]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(r"(?i)((?:api[_-]?key|token|secret|password)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{4,}"),
    re.compile(r"()\bhf_[A-Za-z0-9]{10,}"),
    re.compile(r"()\bsk-[A-Za-z0-9_-]{10,}"),
]
# Values shorter than this are not redacted by value: "EMPTY", "1", "true" would hit every line.
_MIN_SECRET_LEN = 8
_PLACEHOLDERS = {"EMPTY", "dummy", "none", "None", "null"}


def _secret_values() -> list[str]:
    values = []
    for name, value in os.environ.items():
        if _SECRET_ENV_NAME.search(name) and len(value) >= _MIN_SECRET_LEN and value not in _PLACEHOLDERS:
            values.append(value)
    # Longest first, so a secret that contains another is replaced whole.
    return sorted(set(values), key=len, reverse=True)


def redact(text: str) -> str:
    """Return ``text`` with secret values, bearer tokens and Authorization headers replaced by a marker.

    On top of :func:`finr1_core.lineage.redact_text` (secret env values, token shapes, URL passwords),
    log lines also lose header-style secrets (``Authorization: Bearer …``, ``api_key=…``).
    """
    from finr1_core.lineage import redact_text

    for value in _secret_values():
        if value in text:
            text = text.replace(value, REDACTED)
    text = redact_text(text)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class RedactingFormatter(logging.Formatter):
    """Text formatter whose whole output (message, args, traceback) passes through :func:`redact`."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, plus any ``extra={"data": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data = getattr(record, "data", None)
        if isinstance(data, dict):
            payload.update(data)
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, ensure_ascii=False, default=str))


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def setup_logging(level: str = "INFO", fmt: Literal["text", "json"] = "text") -> None:
    """Configure the root logger once for a CLI process (stderr, redacting formatter)."""
    handler = logging.StreamHandler(sys.stderr)
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
    logging.captureWarnings(True)
