"""The shared test guards (finr1_core.testing.guards): each class of leak fails the test that made it.

The leaky tests run in an inner pytest session (a subprocess with only the guards plugin), whose JUnit report
says which failed and why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from finr1_core.testing import netguard
from finr1_core.testing.guards import GuardChecks

TestGuards = GuardChecks  # the same proof every package's test_cli.py collects

LEAKY = """
import logging, os, socket, subprocess, sys, threading, time
from http.server import HTTPServer, BaseHTTPRequestHandler

import click
from finr1_core.cli import run, tool_group


def test_clean(monkeypatch):
    monkeypatch.setenv("FINR1_GUARD_DEMO", "1")  # undone by monkeypatch: not a leak


def test_env_var():
    os.environ["FINR1_GUARD_DEMO"] = "leaked"


def test_root_level():
    logging.getLogger().setLevel(logging.DEBUG)


def test_root_handler():
    logging.getLogger().addHandler(logging.StreamHandler(sys.stderr))


_stop = threading.Event()


def test_thread():
    threading.Thread(target=_stop.wait, name="forgotten-worker", daemon=True).start()


def test_server():
    server = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, name="forgotten-server", daemon=True).start()


def test_child_process():
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_swallowed_network_error():
    try:
        socket.create_connection(("192.0.2.1", 9), timeout=5)
    except Exception:
        pass


def test_cli_at_debug():
    group = tool_group("finr1-x", "finr1-core", "Test tool.")
    assert run(group, ["--log-level", "DEBUG", "env"]) == 0  # main() configures the process's logging


def test_after_the_cli():
    root = logging.getLogger()
    assert root.level == logging.WARNING and not [h for h in root.handlers if h.get_name() == "finr1"]
"""


def _inner_pytest(tmp_path: Path, test_file: str, *pytest_args: str) -> dict[str, str]:
    """Run ``test_file`` in a fresh pytest; return test name -> "passed" or the failure/error message."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # not the package's addopts
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(test_file), encoding="utf-8")
    report = tmp_path / "report.xml"
    env = {**os.environ, "FINR1_LEAK_GRACE_S": "0.5"}
    env.pop(netguard.ENV_LOG, None)  # the inner session installs its own guard
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *pytest_args, "test_inner.py"]
    proc = subprocess.run(
        [*args, f"--junitxml={report}", "-q"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert report.exists(), proc.stdout + proc.stderr
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).iter("testcase"):
        problems = [el.get("message", "") + (el.text or "") for el in case if el.tag in ("failure", "error")]
        name = case.get("name", "")
        outcomes[name] = outcomes.get(name, "") + "\n".join(problems) if problems else outcomes.get(name, "passed")
    return outcomes


def test_each_kind_of_leak_fails_its_test_and_only_it(tmp_path: Path) -> None:
    got = _inner_pytest(tmp_path, LEAKY, "-p", "finr1_core.testing.guards")
    assert got["test_clean"] == "passed"
    assert "environment variable FINR1_GUARD_DEMO: unset -> set" in got["test_env_var"]
    assert "root logger level DEBUG (was WARNING)" in got["test_root_level"]
    assert (
        "handler <StreamHandler" in got["test_root_handler"] and "left on the root logger" in got["test_root_handler"]
    )
    assert "thread 'forgotten-worker' (daemon) still running" in got["test_thread"]
    assert "thread 'forgotten-server' (daemon) still running" in got["test_server"]
    assert "server socket still listening on ('127.0.0.1'," in got["test_server"]
    assert "child process" in got["test_child_process"] and "time.sleep(60)" in got["test_child_process"]
    assert "connecting to 192.0.2.1:9 refused" in got["test_swallowed_network_error"]
    # A tool's main() configures logging for its process: undone after the test, never seen by the next one.
    assert got["test_cli_at_debug"] == "passed" and got["test_after_the_cli"] == "passed"
    # Each leak was cleaned up after being reported: every failure names only its own test's leak.
    assert "FINR1_GUARD_DEMO" not in got["test_root_level"] + got["test_thread"]
    assert "forgotten-worker" not in got["test_server"] + got["test_child_process"]


def test_without_the_guards_the_same_leaks_pass_silently(tmp_path: Path) -> None:
    """The control: what the guards catch above is invisible to plain pytest (and the CLI's DEBUG stays on)."""
    # (Without the guards nothing would end the child process or the connect to TEST-NET: left out here.)
    got = _inner_pytest(tmp_path, LEAKY, "-k", "not child_process and not network")
    leaky = ("test_env_var", "test_root_level", "test_root_handler", "test_thread", "test_server")
    assert all(got[name] == "passed" for name in leaky), got
    assert got["test_after_the_cli"] != "passed"


HUB_ONLY_FIXTURE = """
import os
from pathlib import Path

from finr1_core.testing.pytest_plugin import hub_server  # the fixture, without the plugin's hooks


def test_uses_the_hub(hub_server):
    assert os.environ["HF_ENDPOINT"] == hub_server.url and os.environ["HF_HUB_OFFLINE"] == "0"
    Path("inner-url.txt").write_text(hub_server.url)
"""

REPORT_AT_SESSION_END = """
import json, os, socket
from pathlib import Path


def pytest_sessionfinish(session):  # runs after the session's fixtures were finalized
    port = int(Path("inner-url.txt").read_text().rsplit(":", 1)[1])
    with socket.socket() as probe:
        listening = probe.connect_ex(("127.0.0.1", port)) == 0
    env = {key: os.environ.get(key) for key in ("HF_ENDPOINT", "HF_HUB_OFFLINE")}
    Path("session-end.json").write_text(json.dumps({**env, "inner_server_listening": listening}))
"""


def test_hub_fixture_imported_without_its_hooks_stops_its_server_and_restores_the_env(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(REPORT_AT_SESSION_END, encoding="utf-8")
    got = _inner_pytest(tmp_path, HUB_ONLY_FIXTURE)
    assert got == {"test_uses_the_hub": "passed"}
    end = json.loads((tmp_path / "session-end.json").read_text())
    # The variables are this session's again (the inner session inherited them) and the inner server is gone.
    expected = {key: os.environ.get(key) for key in ("HF_ENDPOINT", "HF_HUB_OFFLINE")}
    assert end == {**expected, "inner_server_listening": False}


def test_expect_blocked_collects_refusals_instead_of_failing_the_test() -> None:
    from finr1_core.testing.guards import expect_blocked

    with expect_blocked() as refused:
        with pytest.raises(netguard.NetworkBlocked):
            socket_connect("203.0.113.7", 443)
    assert refused and "203.0.113.7:443" in refused[0]


def socket_connect(host: str, port: int) -> None:
    import socket

    with socket.socket() as sock:
        sock.settimeout(5)
        sock.connect((host, port))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("api.localhost", True),
        ("0.0.0.0", False),
        ("", False),
        ("10.0.0.1", False),
        ("huggingface.co", False),
        ("localhost.evil.com", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert netguard.is_loopback_host(host) is loopback


def test_a_grandchild_under_two_guard_folders_starts_cleanly_and_is_guarded(tmp_path: Path) -> None:
    """A guarded child that starts Python children of its own hands them two guard folders on PYTHONPATH
    (the test's and its own): start-up must not fail ("Error in sitecustomize") nor run the guard twice."""
    outer = netguard.child_env(tmp_path / "outer")
    inner_dir = tmp_path / "inner" / "site"
    inner_dir.mkdir(parents=True)
    (inner_dir / "sitecustomize.py").write_text(
        (Path(outer["PYTHONPATH"].split(os.pathsep)[0]) / "sitecustomize.py").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    code = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('192.0.2.1', 9), timeout=5)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    env = {**os.environ, **outer, "PYTHONPATH": os.pathsep.join([str(inner_dir), outer["PYTHONPATH"]])}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Error in sitecustomize" not in proc.stderr, proc.stderr
    assert proc.stdout.strip() == "NetworkBlocked"
    # child_env() inside a guarded process replaces the inherited guard folder instead of adding a second one.
    nested = {**os.environ, **outer}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; from finr1_core.testing import netguard; "
            f"print(netguard.child_env({str(tmp_path / 'again')!r})['PYTHONPATH'])",
        ],
        env=nested,
        capture_output=True,
        text=True,
        timeout=120,
    )
    folders = [p for p in proc.stdout.strip().split(os.pathsep) if p]
    assert proc.returncode == 0, proc.stderr
    assert [p for p in folders if (Path(p) / "sitecustomize.py").exists()] == [str(tmp_path / "again" / "site")]
