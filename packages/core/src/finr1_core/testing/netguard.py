"""Loopback-only networking for tests, in this process and in the Python processes it starts.

:func:`install` patches :mod:`socket` so that connecting, binding or sending to an address that is not
loopback, and resolving a host name that is not ``localhost``, raises :class:`NetworkBlocked` (a
``RuntimeError``, so code that retries on ``OSError`` does not mistake it for a network failure). Every
attempt is also recorded, so a test whose code swallows the error still fails (the pytest plugin checks
the record after each test). Unix sockets are not affected.

Child processes: :func:`child_env` returns the variables that make every Python child started with the
inherited environment install the same guard at start-up (a ``sitecustomize`` module on ``PYTHONPATH``
that then runs any ``sitecustomize`` it shadows). A child records its attempts in a shared file, which the
plugin reads like its own record. Children that drop the environment, or are not Python, are not covered.

Why not pytest-socket: it guards only the pytest process, not the CLIs and servers that tests start as
subprocesses, nor ``bind`` (a test server on ``0.0.0.0`` is reachable from the network).

Only the standard library is imported here: children load this module before anything else.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
import tempfile
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "ENV_LOG",
    "NetworkBlocked",
    "child_env",
    "install",
    "installed",
    "is_loopback_host",
    "listening_sockets",
    "read_log",
    "uninstall",
    "violations",
]

ENV_LOG = "FINR1_NETGUARD_LOG"  # set: children install the guard and append their attempts to this file
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_INET = {socket.AF_INET, socket.AF_INET6}

_MARKER = "Written by finr1_core.testing.netguard"  # first line of every guard copy; copies skip each other
_SITECUSTOMIZE = '''\
"""Written by finr1_core.testing.netguard: tests may reach loopback only, their subprocesses too."""
import os
import sys

if os.environ.get("FINR1_NETGUARD_LOG"):
    try:
        from finr1_core.testing import netguard as _finr1_netguard
    except ImportError:  # a Python without finr1-core (another venv): nothing to install
        pass
    else:
        _finr1_netguard.install(log_path=os.environ["FINR1_NETGUARD_LOG"])

# Run the sitecustomize this file shadows, if any: the first one on sys.path that is not a copy of this file
# (a child of a child may inherit several guard folders; running one of them again would recurse).
def _finr1_is_guard(entry):
    try:
        with open(os.path.join(os.path.abspath(entry or "."), "sitecustomize.py"), encoding="utf-8") as handle:
            return "Written by finr1_core.testing.netguard" in handle.readline()
    except OSError:
        return False


_path = [p for p in sys.path if not _finr1_is_guard(p)]
_finr1_self = sys.modules.pop("sitecustomize", None)
import importlib.machinery as _machinery
import importlib.util as _util

_spec = _machinery.PathFinder.find_spec("sitecustomize", _path)
if _spec is not None and _spec.loader is not None:
    _module = _util.module_from_spec(_spec)
    sys.modules["sitecustomize"] = _module
    _spec.loader.exec_module(_module)
elif _finr1_self is not None:  # importlib reads the entry back once this file has run
    sys.modules["sitecustomize"] = _finr1_self
'''


class NetworkBlocked(RuntimeError):
    """A test (or a process it started) tried to reach an address that is not loopback."""


_state: dict[str, Any] = {}
_violations: list[str] = []
_lock = threading.Lock()
# Sockets that called listen(): the plugin reports the ones a test leaves open (a server left behind).
_listeners: weakref.WeakSet[socket.socket] = weakref.WeakSet()


def is_loopback_host(host: Any) -> bool:
    """True for ``localhost``-style names and loopback addresses (``127.0.0.0/8``, ``::1``, mapped IPv4)."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip().lower().rstrip(".")
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0].strip("[]"))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0].strip("[]"))
    except ValueError:
        return False
    return True


def _record(action: str, target: str) -> NetworkBlocked:
    message = (
        f"finr1 socket guard: {action} {target} refused in pid {os.getpid()}: tests may reach loopback only "
        "(127.0.0.1, ::1, localhost); bind test servers to 127.0.0.1 and use local stand-ins for remote services"
    )
    with _lock:
        _violations.append(message)
    log_path = _state.get("log_path")
    if log_path:
        try:  # O_APPEND: lines from several processes do not interleave
            fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (message + "\n").encode("utf-8", "replace"))
            finally:
                os.close(fd)
        except OSError:
            pass
    return NetworkBlocked(message)


def _check_address(sock: socket.socket, address: Any, action: str) -> None:
    if sock.family not in _INET or not isinstance(address, tuple) or not address:
        return  # Unix, netlink, … sockets: not the network
    host = address[0]
    if not is_loopback_host(host):
        port = address[1] if len(address) > 1 else "?"
        raise _record(action, f"{host or '<all interfaces>'}:{port}")


def _wrap_method(name: str, action: str, address_index: int) -> Callable[..., Any]:
    original = getattr(socket.socket, name)

    @functools.wraps(original)
    def guarded(self: socket.socket, *args: Any) -> Any:
        if len(args) > address_index:
            _check_address(self, args[address_index], action)
        return original(self, *args)

    guarded.__finr1_original__ = original  # type: ignore[attr-defined]
    return guarded


def _wrap_listen() -> Callable[..., Any]:
    original = socket.socket.listen

    @functools.wraps(original)
    def listen(self: socket.socket, *args: Any) -> Any:
        result = original(self, *args)
        if self.family in _INET:
            _listeners.add(self)
        return result

    listen.__finr1_original__ = original  # type: ignore[attr-defined]
    return listen


def _wrap_resolver(name: str) -> Callable[..., Any]:
    original = getattr(socket, name)

    @functools.wraps(original)
    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        text = host.decode("ascii", "replace") if isinstance(host, bytes) else host
        # None/"" (passive or loopback), IP literals (no lookup; connect/bind check them) and the machine's
        # own name (answered from /etc/hosts) never ask a DNS server.
        if text and not is_loopback_host(text) and not _is_ip_literal(str(text)) and text != _state["hostname"]:
            if str(text).rstrip(".").rsplit(".", 1)[-1].isdigit():
                # No top-level domain is numeric, so DNS would answer "no such name" (datasets probes
                # "datasets-server.127.0.0.1" when HF_ENDPOINT is an address): answer that here, sending nothing.
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            raise _record(f"resolving {name}()", repr(text))
        return original(host, *args, **kwargs)

    resolve.__finr1_original__ = original  # type: ignore[attr-defined]
    return resolve


def install(log_path: str | os.PathLike[str] | None = None) -> None:
    """Patch :mod:`socket` in this process (idempotent); ``log_path`` also receives every refused attempt."""
    if log_path is not None:
        _state["log_path"] = os.fspath(log_path)
    if _state.get("patched"):
        return
    _state["hostname"] = socket.gethostname()
    patched = {
        "connect": _wrap_method("connect", "connecting to", 0),
        "connect_ex": _wrap_method("connect_ex", "connecting to", 0),
        "bind": _wrap_method("bind", "binding", 0),
        "listen": _wrap_listen(),
    }
    # sendto(data[, flags], address): the address is the last argument.
    original_sendto = socket.socket.sendto

    @functools.wraps(original_sendto)
    def sendto(self: socket.socket, data: Any, *args: Any) -> Any:
        if args:
            _check_address(self, args[-1], "sending to")
        return original_sendto(self, data, *args)

    sendto.__finr1_original__ = original_sendto  # type: ignore[attr-defined]
    patched["sendto"] = sendto
    for name, function in patched.items():
        setattr(socket.socket, name, function)
    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
        setattr(socket, name, _wrap_resolver(name))
    _state["patched"] = True


def uninstall() -> None:
    """Undo :func:`install` (the record of attempts is kept)."""
    if not _state.pop("patched", False):
        return
    for name in ("connect", "connect_ex", "bind", "sendto", "listen"):
        setattr(socket.socket, name, getattr(socket.socket, name).__finr1_original__)
    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
        setattr(socket, name, getattr(socket, name).__finr1_original__)
    _state.pop("log_path", None)


def installed() -> bool:
    """True while the guard is active in this process."""
    return bool(_state.get("patched"))


def violations() -> list[str]:
    """Refused attempts of this process so far (oldest first)."""
    with _lock:
        return list(_violations)


def listening_sockets() -> list[socket.socket]:
    """Internet sockets of this process that called ``listen()`` and are still open."""
    return [sock for sock in list(_listeners) if sock.fileno() != -1]


def read_log(path: str | os.PathLike[str], offset: int = 0) -> tuple[list[str], int]:
    """Lines appended to the shared record after byte ``offset``, and the new offset."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    complete = data[: data.rfind(b"\n") + 1]
    return complete.decode("utf-8", "replace").splitlines(), offset + len(complete)


def _is_guard_folder(entry: str) -> bool:
    try:
        with open(Path(entry) / "sitecustomize.py", encoding="utf-8") as handle:
            return _MARKER in handle.readline()
    except OSError:
        return False


def child_env(directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Variables that make Python children install the guard: ``PYTHONPATH`` (prepended) and the log path.

    Writes ``sitecustomize.py`` and the (empty) log into ``directory`` (a new temporary folder by default).
    """
    folder = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="finr1-netguard-"))
    site = folder / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE, encoding="utf-8")
    log = folder / "violations.log"
    log.touch()
    # Guard folders inherited from an outer guarded process are dropped: one guard per child, one log.
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and not _is_guard_folder(p)]
    return {
        "PYTHONPATH": os.pathsep.join([str(site), *inherited]),
        ENV_LOG: str(log),
    }
