"""pytest guards shared by every finr1 package's tests: loopback only, and nothing left behind.

Register from the package's ``tests/conftest.py`` (a star import, so it also works from a conftest that is
not the rootdir's; packages that use the Hub test server import :mod:`finr1_core.testing.pytest_plugin`,
which includes these guards)::

    from finr1_core.testing.guards import *  # noqa: F403

For the whole session:

- **Network**: :mod:`~finr1_core.testing.netguard` refuses every connect, bind, send or name lookup that is
  not loopback, in the pytest process and in the Python processes that tests start (they inherit
  ``PYTHONPATH`` and ``FINR1_NETGUARD_LOG``). A refused attempt fails the test even when the code under test
  swallows the error.
- **Files**: finr1's cache root (``FINR1_CACHE``, read by :func:`finr1_core.refs.cache_dir`: the resume state
  of Hub outputs) is a temporary folder; its ``models/`` links to the real model cache so the embedded model
  is not converted again. ``HF_HOME`` is a temporary folder too unless the Hub test server set one.

After each test, :func:`finr1_state_guard` fails the test (an error at teardown that names each item) when it
left behind: environment variables, handlers or a level on the root logger, threads, listening sockets
(servers), child processes, or refused network attempts. Logging configured by a tool's ``main()`` (the
``finr1`` handler of :func:`finr1_core.logging.setup_logging`) is what a CLI process does; in-process CLI
tests share one process, so it is undone silently before the check.

Use :func:`expect_blocked` in a test that provokes a refused attempt on purpose.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from finr1_core.testing import netguard

__all__ = [
    "configure_guards",
    "GuardChecks",
    "expect_blocked",
    "finr1_state_guard",
    "pytest_configure",
    "pytest_sessionfinish",
    "pytest_unconfigure",
    "unconfigure_guards",
]

# Environment variables that libraries set on first use, whichever test happens to be first: not that test's
# leak. Each entry names the code that sets it.
IGNORED_ENV = {
    "PYTEST_CURRENT_TEST",  # pytest itself, per test phase
    "TORCHINDUCTOR_CACHE_DIR",  # torch/_inductor/runtime/cache_dir_utils.py, on first compile (under /tmp)
    "TOKENIZERS_PARALLELISM",  # transformers' generate() when it compiles (generation/utils.py); CI sets it anyway
}
# Threads that libraries start once and keep for the life of the process (thread names).
IGNORED_THREADS = (
    "tqdm_monitor",  # tqdm/_monitor.py, started with the first progress bar
    "fsspecIO",  # fsspec/asyn.py, the event loop of async filesystems (datasets' Hub pushes)
)
# How long a stopped server's thread or child process may take to exit: generous for a loaded 2-core CI box; it is
# only waited for when something is still running. FINR1_LEAK_GRACE_S shortens it (the guards' own tests).
_GRACE_S = float(os.environ.get("FINR1_LEAK_GRACE_S", "10"))

_STATE: dict[str, Any] = {}


# --- session ---------------------------------------------------------------------------------------------------


def _original_cache_root() -> Path:
    from finr1_core.refs import cache_dir

    return cache_dir()


def _track_cli_logging() -> None:
    """Note each call of :func:`finr1_core.logging.setup_logging` (a tool's ``main()`` configuring its process)."""
    import finr1_core.logging as finr1_logging

    original = finr1_logging.setup_logging

    @functools.wraps(original)
    def setup_logging(*args: Any, **kwargs: Any) -> None:
        _STATE["cli_logging"] = True
        original(*args, **kwargs)

    setup_logging.__finr1_original__ = original  # type: ignore[attr-defined]
    finr1_logging.setup_logging = setup_logging
    cli = sys.modules.get("finr1_core.cli")  # bound its own name at import
    if cli is not None and getattr(cli, "setup_logging", None) is original:
        cli.setup_logging = setup_logging  # type: ignore[attr-defined]


def _untrack_cli_logging() -> None:
    import finr1_core.logging as finr1_logging

    original = getattr(finr1_logging.setup_logging, "__finr1_original__", None)
    if original is None:
        return
    for module in (finr1_logging, sys.modules.get("finr1_core.cli")):
        if module is not None and getattr(module, "setup_logging", None) is finr1_logging.setup_logging:
            module.setup_logging = original  # type: ignore[attr-defined]


def configure_guards(hf_home: bool = True) -> None:
    """Install the network guard and move finr1's cache (and ``HF_HOME`` if ``hf_home``) into a temp folder.

    Idempotent; :func:`unconfigure_guards` undoes it.
    """
    if _STATE.get("configured"):
        return
    # huggingface_hub and datasets read HF_HOME on import: only worth setting before anything imported them.
    hf_home = hf_home and "huggingface_hub" not in sys.modules
    root = Path(tempfile.mkdtemp(prefix="finr1-tests-"))
    env: dict[str, str] = dict(netguard.child_env(root / "netguard"))
    models = _original_cache_root() / "models"
    cache = root / "finr1-cache"
    cache.mkdir()
    with contextlib.suppress(OSError):  # a read-only home: the model cache is then built inside the temp folder
        models.mkdir(parents=True, exist_ok=True)
        (cache / "models").symlink_to(models, target_is_directory=True)
    env["FINR1_CACHE"] = str(cache)
    if hf_home:
        env["HF_HOME"] = str(root / "hf-home")
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    netguard.install(log_path=env[netguard.ENV_LOG])
    _track_cli_logging()
    _STATE.update(configured=True, root=root, saved_env=saved, log=env[netguard.ENV_LOG], offset=0, seen=0)


def unconfigure_guards() -> None:
    """Restore the environment, remove the guard and the session's temp folder."""
    if not _STATE.pop("configured", False):
        return
    netguard.uninstall()
    _untrack_cli_logging()
    for key, value in _STATE.pop("saved_env", {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    shutil.rmtree(_STATE.pop("root"), ignore_errors=True)
    _STATE.clear()


def pytest_configure(config: pytest.Config) -> None:
    """Install the guards before test modules are collected (and import anything)."""
    configure_guards()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Undo :func:`configure_guards`."""
    unconfigure_guards()


def _new_refusals() -> list[str]:
    """Refused attempts (this process and its children) not yet reported or expected."""
    if not _STATE.get("configured"):
        return []
    mine = netguard.violations()
    new = mine[_STATE["seen"] :]
    _STATE["seen"] = len(mine)
    lines, _STATE["offset"] = netguard.read_log(_STATE["log"], _STATE["offset"])
    own = f"in pid {os.getpid()}:"
    return new + [line for line in lines if own not in line]  # this process's lines are in `mine` already


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Attempts outside any test (at import, or from a process that outlived its test) fail the session too."""
    refused = _new_refusals()
    if refused:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("finr1 socket guard: refused outside a test:\n" + "\n".join(refused), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@contextlib.contextmanager
def expect_blocked() -> Iterator[list[str]]:
    """A block that provokes refused network attempts on purpose: they are collected, not reported.

    Yields a list that holds the refusal messages (this process and its children) when the block ends.
    """
    _new_refusals()  # whatever came before belongs to the test's own check
    messages: list[str] = []
    try:
        yield messages
    finally:
        messages.extend(_new_refusals())


# --- per test ---------------------------------------------------------------------------------------------------


def _children() -> dict[int, str]:
    """Live (not zombie) child processes of this process: pid -> command line. Linux only; {} elsewhere."""
    me, found = os.getpid(), {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return {}
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("utf-8", "replace")
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[1]) != me or fields[0] in ("Z", "X"):
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                found[int(entry)] = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()[:200]
        except (OSError, ValueError, IndexError):
            continue
    return found


def _own_handlers(logger: logging.Logger) -> list[logging.Handler]:
    # pytest's capture handlers come and go with each test phase; they are pytest's, not the test's.
    return [h for h in logger.handlers if not type(h).__module__.startswith("_pytest")]


def _ignored_thread(thread: threading.Thread) -> bool:
    return thread.name in IGNORED_THREADS


@dataclass
class _Snapshot:
    env: dict[str, str]
    root_level: int
    root_handlers: list[logging.Handler]
    logger_levels: dict[str, int]
    threads: set[threading.Thread]
    children: dict[int, str]
    listeners: set[int] = field(default_factory=set)

    @classmethod
    def take(cls) -> _Snapshot:
        root = logging.getLogger()
        levels = {
            name: lg.level for name, lg in logging.Logger.manager.loggerDict.items() if isinstance(lg, logging.Logger)
        }
        return cls(
            env=dict(os.environ),
            root_level=root.level,
            root_handlers=_own_handlers(root),
            logger_levels=levels,
            threads=set(threading.enumerate()),
            children=_children(),
            listeners={id(s) for s in netguard.listening_sockets()},
        )


def _undo_cli_logging(before: _Snapshot) -> None:
    """Undo :func:`finr1_core.logging.setup_logging` if the test called it (a tool's ``main()`` does, for its
    process; in-process CLI tests share one): its ``finr1`` handler, the root level, the levels it gave
    third-party loggers, and the capture of warnings."""
    if not _STATE.pop("cli_logging", False):
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == "finr1" and handler not in before.root_handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in before.root_handlers:  # a second setup_logging replaces an earlier finr1 handler
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(before.root_level)
    for name, level in before.logger_levels.items():
        logger = logging.Logger.manager.loggerDict.get(name)
        if isinstance(logger, logging.Logger) and logger.level != level:
            logger.setLevel(level)
    logging.captureWarnings(False)


def _wait_for(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def _leaks(before: _Snapshot) -> list[str]:
    """Describe (and clean up, so one leak does not fail every later test) what the test left behind."""
    problems = []
    env = dict(os.environ)
    for key in sorted((set(env) | set(before.env)) - IGNORED_ENV):
        old, new = before.env.get(key), env.get(key)
        if old != new:
            problems.append(
                f"environment variable {key}: {'unset' if old is None else 'was set'} -> "
                f"{'unset' if new is None else 'set'} (use monkeypatch.setenv/delenv)"
            )
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
    root = logging.getLogger()
    if root.level != before.root_level:
        problems.append(
            f"root logger level {logging.getLevelName(root.level)} (was {logging.getLevelName(before.root_level)})"
        )
        root.setLevel(before.root_level)
    for handler in _own_handlers(root):
        if handler not in before.root_handlers:
            problems.append(f"handler {handler!r} left on the root logger")
            root.removeHandler(handler)
    for handler in before.root_handlers:
        if handler not in root.handlers:
            problems.append(f"handler {handler!r} removed from the root logger")
            root.addHandler(handler)

    def serves_an_older_server(thread: threading.Thread) -> bool:
        # A connection thread of a server that was listening before the test (the session's Hub server keeps
        # one per pooled keep-alive connection of huggingface_hub's client): the server's, not the test's.
        server = getattr(getattr(thread, "_target", None), "__self__", None)
        return id(getattr(server, "socket", None)) in before.listeners

    def new_threads() -> list[threading.Thread]:
        return [
            t
            for t in threading.enumerate()
            if t not in before.threads and t.is_alive() and not _ignored_thread(t) and not serves_an_older_server(t)
        ]

    def new_children() -> dict[int, str]:
        return {pid: cmd for pid, cmd in _children().items() if pid not in before.children}

    def new_listeners() -> list[Any]:
        return [s for s in netguard.listening_sockets() if id(s) not in before.listeners]

    # A server stopped at the end of the test may need a moment for its thread or process to exit.
    _wait_for(lambda: not new_threads() and not new_children() and not new_listeners(), _GRACE_S)
    for thread in new_threads():
        problems.append(f"thread {thread.name!r} ({'daemon' if thread.daemon else 'non-daemon'}) still running")
        before.threads.add(thread)  # reported once
    for sock in new_listeners():
        with contextlib.suppress(OSError):
            problems.append(f"server socket still listening on {sock.getsockname()}")
    for pid, cmd in new_children().items():
        problems.append(f"child process {pid} still running: {cmd}")
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
    return problems


@pytest.fixture(autouse=True)
def finr1_state_guard() -> Iterator[None]:
    """Fail a test that leaves env vars, root-logger config, threads, servers, child processes or refused
    network attempts behind (an error at teardown that names each one).

    Function-scoped and autouse, so it is set up after every wider-scoped fixture the test uses (their state
    is the baseline) and torn down after every function-scoped one (their clean-up has run).
    """
    _new_refusals()  # attempts before this test were reported at the end of the one that made them
    before = _Snapshot.take()
    yield
    _undo_cli_logging(before)
    problems = _leaks(before)
    refused = _new_refusals()
    if refused:
        problems.append("network access refused by the finr1 socket guard:\n    " + "\n    ".join(refused))
    if problems:
        pytest.fail("test left state behind:\n  - " + "\n  - ".join(problems), pytrace=False)


class GuardChecks:
    """Proof that a package's tests run under these guards; collect it in the package's tests as
    ``TestGuards = GuardChecks``. Fails when the guards are not registered (no conftest import)."""

    def test_non_loopback_connect_is_refused(self) -> None:
        with expect_blocked() as refused, pytest.raises(netguard.NetworkBlocked, match=r"192\.0\.2\.1:9 refused"):
            socket.create_connection(("192.0.2.1", 9), timeout=5)  # TEST-NET-1: routable nowhere
        assert len(refused) == 1 and "connecting to 192.0.2.1:9" in refused[0]

    def test_bind_to_all_interfaces_is_refused_and_loopback_works(self) -> None:
        with socket.socket() as server, socket.socket() as client:
            with (
                expect_blocked() as refused,
                pytest.raises(netguard.NetworkBlocked, match=r"binding 0\.0\.0\.0:0 refused"),
            ):
                server.bind(("0.0.0.0", 0))
            assert len(refused) == 1
            server.bind(("127.0.0.1", 0))
            server.listen()
            client.connect(server.getsockname())
            accepted, _ = server.accept()
            accepted.close()

    def test_name_lookups_are_refused(self) -> None:
        with expect_blocked() as refused, pytest.raises(netguard.NetworkBlocked, match="'huggingface.co'"):
            socket.getaddrinfo("huggingface.co", 443)
        assert len(refused) == 1
        assert socket.getaddrinfo("localhost", 80)  # answered from /etc/hosts

    def test_child_processes_are_guarded_even_when_they_swallow_the_error(self) -> None:
        code = (
            "import socket\n"
            "try:\n    socket.create_connection(('192.0.2.1', 9), timeout=5)\n"
            "except Exception as exc:\n    print(type(exc).__name__)\n"
        )
        with expect_blocked() as refused:
            child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert child.stdout.strip() == "NetworkBlocked", child.stderr
        assert [line for line in refused if "192.0.2.1:9" in line and f"pid {os.getpid()}:" not in line]

    def test_finr1_cache_is_a_temporary_folder(self) -> None:
        from finr1_core.refs import cache_dir

        assert cache_dir().is_relative_to(_STATE["root"])  # Hub outputs' resume state stays out of the home
        models = cache_dir() / "models"
        if models.is_symlink():  # the converted embedded model is shared with the real cache, not rebuilt
            assert not models.resolve().is_relative_to(_STATE["root"])
