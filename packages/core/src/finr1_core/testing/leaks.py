"""Leak checks for stage tests: run with distinctive secrets set, then grep every file and stream written.

Every tool must keep keys, tokens and URL passwords out of its console lines, errors, logs (at every
level and in both formats), cards, results files, result logs and lineage. A test proves it by
running the tool with secrets nobody could write by accident and searching everything it wrote::

    from finr1_core.testing.leaks import distinctive_secrets, assert_no_leaks

    def test_no_secret_leaks(tmp_path, capfd):
        with distinctive_secrets() as secrets, FakeOpenAIServer(api_key=secrets.key) as server:
            rc = main(["--log-level", "debug", "--log-format", "json", "run",
                       "--base-url", secrets.url(server.base_url), "--api-key-env", secrets.key_env, ...])
            out, err = capfd.readouterr()
            assert_no_leaks(secrets, paths=[tmp_path], texts={"stdout": out, "stderr": err})

:func:`find_leaks` reads files as bytes and, for Parquet and Arrow files (whose pages may be
compressed), every string value too. It returns ``"where: which secret"`` lines, empty when clean.
"""

from __future__ import annotations

import os
import secrets as _random
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit


@dataclass(frozen=True)
class Secrets:
    """A set of distinctive secrets (random per instance) and the environment variables that hold them.

    Attributes:
        key: An API key (``sk-…`` shaped) held by ``$key_env``: give ``key_env`` as the tool's ``api_key_env``.
        key_env: The variable holding ``key``.
        token: A Hugging Face style token held by ``$token_env`` (not ``HF_TOKEN``: the Hub test server uses it).
        token_env: The variable holding ``token``.
        user: User name for URLs with credentials (not secret, but never needed in output either).
        password: Password for URLs with credentials (see :meth:`url`).
    """

    key: str = field(default_factory=lambda: f"sk-leakcheck-{_random.token_hex(12)}")
    key_env: str = "FINR1_LEAKCHECK_API_KEY"
    token: str = field(default_factory=lambda: f"hf_leakcheck{_random.token_hex(12)}")
    token_env: str = "FINR1_LEAKCHECK_HF_TOKEN"
    user: str = "leakcheck-user"
    password: str = field(default_factory=lambda: f"pw-leakcheck-{_random.token_hex(8)}")

    def url(self, base_url: str) -> str:
        """``base_url`` with ``user:password@`` in it (``http://host/v1`` -> ``http://user:PASS@host/v1``)."""
        parts = urlsplit(base_url)
        netloc = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}@{parts.netloc.rsplit('@', 1)[-1]}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def needles(self) -> dict[str, str]:
        """What must never appear: name -> text (the key, the token, the password; the key's random part too)."""
        return {
            "api key": self.key,
            "api key (random part)": self.key.rsplit("-", 1)[-1],
            "hf token": self.token,
            "url password": self.password,
        }


@contextmanager
def distinctive_secrets(extra_env: Mapping[str, str] | None = None) -> Iterator[Secrets]:
    """Set ``$key_env`` and ``$token_env`` (and ``extra_env``) to fresh distinctive secrets; restore afterwards."""
    found = Secrets()
    env = {found.key_env: found.key, found.token_env: found.token, **(extra_env or {})}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield found
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _table_strings(path: Path) -> Iterator[str]:
    """Every string value of a Parquet or Arrow file (pages may be compressed, so bytes alone are not enough)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if path.suffix == ".parquet":
            table = pq.read_table(path)
        else:
            with pa.memory_map(str(path)) as source:
                try:
                    table = pa.ipc.open_stream(source).read_all()
                except pa.ArrowInvalid:
                    table = pa.ipc.open_file(source).read_all()
    except (pa.ArrowException, OSError):
        return
    for row in table.to_pylist():
        yield from _strings(row)


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    for root in paths:
        root = Path(root)
        if root.is_file():
            yield root
        elif root.is_dir():
            yield from (p for p in sorted(root.rglob("*")) if p.is_file())


def find_leaks(
    secrets: Secrets,
    *,
    paths: Iterable[str | os.PathLike[str]] = (),
    texts: Mapping[str, str] | None = None,
) -> list[str]:
    """Where any of ``secrets`` appears: ``"<file or stream name>: <which secret>"`` lines (empty when clean).

    Args:
        secrets: The secrets the run had.
        paths: Files and folders to search (recursively; hidden work folders included).
        texts: Captured streams by name (``{"stdout": out, "stderr": err}``).
    """
    needles = secrets.needles()
    found: list[str] = []

    def scan(where: str, text: str) -> None:
        found.extend(f"{where}: {name}" for name, needle in needles.items() if needle in text)

    for name, text in (texts or {}).items():
        scan(name, text)
    for path in _files(paths):
        data = path.read_bytes()
        scan(str(path), data.decode("utf-8", "replace"))
        if path.suffix in (".parquet", ".arrow"):
            for text in _table_strings(path):
                scan(f"{path} (values)", text)
    return sorted(set(found))


def assert_no_leaks(
    secrets: Secrets,
    *,
    paths: Iterable[str | os.PathLike[str]] = (),
    texts: Mapping[str, str] | None = None,
) -> None:
    """Fail the test with every place a secret appeared (see :func:`find_leaks`)."""
    paths = list(paths)
    leaks = find_leaks(secrets, paths=paths, texts=texts)
    assert not leaks, "secrets leaked into: " + "; ".join(leaks)
    searched = sum(1 for _ in _files(paths))
    assert searched or texts, "nothing was searched: give the folders and streams the run wrote"
