"""The one redaction policy of finr1: what counts as a secret, and how it is removed.

Every sink applies it: log lines (:mod:`finr1_core.logging`), the one-line errors of every tool
(:func:`finr1_core.cli.run`), configs stored in lineage and cards (:func:`redact`), result logs and
error texts written into datasets (:func:`redact_text`). Before this module there were two rule
sets (logging and lineage) that disagreed on what a secret looks like.

A secret is:

- the value of an environment variable whose name names a secret (:func:`is_secret_key`:
  ``DEEPSEEK_API_KEY``, ``HF_TOKEN``, ``DB_PASSWORD``; not ``*_env`` names, which only *name* a variable);
- a string with a well-known credential shape (``hf_…``, ``sk-…``, GitHub, AWS, JWTs, bearer tokens);
- the password of a URL (``http://user:PASS@host/v1``) and secret query parameters (``?api_key=…``);
- a header-style pair in text (``Authorization: Basic …``, ``api_key=…``, ``"password": "…"``).

Use :func:`display_url` where a URL is shown to a user: it drops the user info altogether.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel

REDACTED = "<redacted>"

# A key is secret when its last word is one of these ("hf_token", "api_key", "x-api-key") ...
_SECRET_LAST_WORDS = {"key", "keys", "apikey", "token", "auth", "secret", "secrets", "password", "passwd"}
# "pwd" is not on the list: the shell's PWD/OLDPWD hold the working directory, and redacting it would
# mangle every path in every log line.
# ... or when any word is one of these ("client_secret_value", "authorization_header").
_SECRET_ANY_WORDS = {
    "secret", "secrets", "password", "passwd", "passphrase", "authorization", "apikey", "credential",
    "credentials", "cookie", "cookies", "bearer", "private_key",
}  # fmt: skip
# Tokenizer settings that end in "token" but hold a vocabulary entry, not a credential.
_TOKENIZER_KEYS = re.compile(r"^(pad|eos|bos|unk|sep|cls|mask|additional_special|special)_tokens?(_id)?$")

# Well-known credential shapes, replaced wherever they occur inside a string.
_TOKEN_PATTERNS = [
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),  # Hugging Face
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),  # OpenAI, DeepSeek and most OpenAI-compatible providers
    re.compile(r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,}"),
    re.compile(r"\b(?:gsk|xai|nvapi)[-_][A-Za-z0-9_\-]{20,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"),
    re.compile(r"\beyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]+"),  # JWT
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=\-]{8,}"),
]
# user:password@ in URLs and secret-named query parameters.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/@\s:]+):([^/@\s]+)@")
_SECRET_QUERY = re.compile(
    r"(?i)([?&](?:api[_-]?key|key|token|access[_-]?token|auth|password|secret|sig|signature)=)[^&#\s]+"
)
_HEX_DIGEST = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")  # commit and content shas are provenance, not secrets
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_MIN_ENV_SECRET_LEN = 8


def _words(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a secret (``api_key``, ``HF_TOKEN``, ``Authorization``, ``password``).

    Keys ending in ``_env`` name an environment variable (finr1's way to reference a secret) and are
    kept; ``max_tokens``, ``tokenizer`` and ``pad_token`` are not secrets either.
    """
    words = _words(str(key))
    if not words or words[-1] == "env" or _TOKENIZER_KEYS.match("_".join(words)):
        return False
    joined = "_".join(words)
    if any(w in _SECRET_ANY_WORDS for w in words) or "private_key" in joined or "api_key" in joined:
        return True
    return words[-1] in _SECRET_LAST_WORDS


def looks_like_token(value: str) -> bool:
    """Whether a whole string value looks like a credential (known prefixes, JWTs, long random strings)."""
    s = value.strip()
    if any(p.fullmatch(s) for p in _TOKEN_PATTERNS):
        return True
    if len(s) < 32 or re.search(r"\s", s) or _HEX_DIGEST.match(s) or _UUID.match(s):
        return False
    if "/" in s or "." in s or not re.fullmatch(r"[A-Za-z0-9_\-+=]+", s):
        return False  # paths, file names, URLs, versions
    run = max(re.findall(r"[A-Za-z0-9]+", s), key=len, default="")
    digits = sum(c.isdigit() for c in run)
    return len(run) >= 20 and digits >= 3 and len(run) - digits >= 3


# Environment variable names are matched more widely than config keys: any of these words anywhere in the name
# (OPENAI_KEY_PROD, MY_TOKEN_FILE_CONTENT). Config keys stay strict because "key" is common there (sort_key).
_ENV_SECRET_WORDS = {"key", "apikey", "token", "secret", "password", "passwd", "credential", "credentials"}
# Values too common to replace wherever they occur ("EMPTY" is vLLM's conventional no-key value).
_PLACEHOLDERS = {"EMPTY", "dummy", "none", "None", "null", "true", "false"}


def _is_secret_env_name(name: str) -> bool:
    words = _words(name)
    if not words or words[-1] == "env":  # FOO_API_KEY_ENV names a variable; it holds no secret
        return False
    return is_secret_key(name) or any(w in _ENV_SECRET_WORDS for w in words)


def _env_secret_values() -> list[str]:
    values = {
        v
        for k, v in os.environ.items()
        if _is_secret_env_name(k) and len(v) >= _MIN_ENV_SECRET_LEN and not v.isdigit() and v not in _PLACEHOLDERS
    }
    return sorted(values, key=len, reverse=True)  # a secret containing another is replaced whole


# Header- and assignment-style secrets inside free text (log lines, error bodies, tracebacks):
# "Authorization: Basic …", "Bearer …", "api_key=…", '"password": "…"'. Group 1 is kept.
_TEXT_PATTERNS = [
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?:bearer\s+|basic\s+|token\s+)?[^\s\"',}]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(
        r"(?i)(\b(?:api[_-]?key|access[_-]?token|auth[_-]?token|token|secret|password|passwd)[\"']?\s*[:=]\s*[\"']?)"
        r"[^\s\"',}]{4,}"
    ),
    re.compile(r"()\bhf_[A-Za-z0-9]{10,}"),
    re.compile(r"()\bsk-[A-Za-z0-9_-]{10,}"),
]


def redact_text(text: str) -> str:
    """Replace every secret inside a string (see the module docstring for what counts as one)."""
    if not text:
        return text
    for secret in _env_secret_values():
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(REDACTED, text)
    text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{m.group(2)}:{REDACTED}@", text)
    text = _SECRET_QUERY.sub(lambda m: m.group(1) + REDACTED, text)
    for pattern in _TEXT_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def display_url(url: str) -> str:
    """``url`` as shown to a user: without user info (``http://user:PASS@host/v1`` -> ``http://host/v1``).

    Secret query parameters are redacted too; a string that is not a URL is returned redacted.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return redact_text(url)
    if not parts.scheme or not parts.netloc:
        return redact_text(url)
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host + (f":{port}" if port is not None else "")
    return redact_text(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))


def redact(value: Any) -> Any:
    """Return a JSON-ready copy of ``value`` with secrets removed.

    Mapping keys that name secrets (:func:`is_secret_key`) are dropped with their values; strings that
    look like credentials (:func:`looks_like_token`) become ``"<redacted>"``; credentials inside longer
    strings are replaced in place (:func:`redact_text`). pydantic models, dataclasses, paths, enums and
    datetimes are converted to plain JSON values on the way.

    Args:
        value: A config (mapping, pydantic model, list, scalar).

    Returns:
        The redacted copy (the input is not modified).
    """
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        import dataclasses

        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {str(k): redact(v) for k, v in value.items() if not is_secret_key(str(k))}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [redact(v) for v in items]
    if isinstance(value, str):
        return REDACTED if looks_like_token(value) else redact_text(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, Enum):
        return redact(value.value)
    if isinstance(value, PurePath):
        return redact(str(value))
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))
