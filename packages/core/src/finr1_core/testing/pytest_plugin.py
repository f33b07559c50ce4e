"""pytest plugin: the shared test guards plus one in-memory Hub test server per session, wired in before any HF
library is imported.

It includes :mod:`finr1_core.testing.guards` (loopback-only networking, nothing left behind after a test);
packages that do not use the Hub import that module instead.

``huggingface_hub`` and ``datasets`` read ``HF_ENDPOINT``/``HF_HOME`` when first imported, so the
server must be running and the environment set before a test module imports them. Registering this
plugin does that in ``pytest_configure``, which runs before test modules are collected:

- from a ``conftest.py`` (robust wherever the conftest sits)::

      from finr1_core.testing.pytest_plugin import *  # noqa: F403  (Hub test server + fixtures)

- or on the command line / in ``addopts``: ``-p finr1_core.testing.pytest_plugin``.

Whatever was imported earlier anyway is patched (:func:`~finr1_core.testing.hub_server.configure_hf_env`).
The environment is restored and the server stopped at the end of the session. Registering the plugin
twice (two conftests) starts one server.

Importing only the ``hub_server`` fixture into a test module (without these hooks) still works: the fixture
then starts the server itself and stops it, restoring the environment, when the session ends.

Fixtures:
    hub_server: the session's :class:`~finr1_core.testing.hub_server.HubServer` (``.url``, ``.requests`` …).
    hub_repo_id: a fresh ``finr1-test/<test-name>-<hex>`` repo id per test (not created).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from finr1_core.testing.guards import (
    configure_guards,
    expect_blocked,
    finr1_state_guard,
    pytest_sessionfinish,
    unconfigure_guards,
)
from finr1_core.testing.hub_server import HubServer, configure_hf_env, make_hf_home

__all__ = [
    "expect_blocked",
    "finr1_state_guard",
    "hub_repo_id",
    "hub_server",
    "pytest_configure",
    "pytest_sessionfinish",
    "pytest_unconfigure",
]

# Module state, not fixtures: the server must exist before collection imports test modules.
_SESSION: dict[str, Any] = {}

_QUIET = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    # Online against the test server, `datasets` would also HEAD s3.amazonaws.com on every Hub load to count it.
    "HF_UPDATE_DOWNLOAD_COUNTS": "0",
}


def _start() -> HubServer:
    if "server" in _SESSION:
        return _SESSION["server"]
    server = HubServer().start()
    hf_home = make_hf_home()
    env = {**server.env(hf_home), **_QUIET}
    _SESSION.update(server=server, hf_home=hf_home, saved_env={k: os.environ.get(k) for k in env})
    _SESSION["patched"] = configure_hf_env(env)
    return server


def _stop() -> None:
    server = _SESSION.pop("server", None)
    if server is None:
        return
    server.stop()
    for key, value in _SESSION.pop("saved_env", {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    shutil.rmtree(_SESSION.pop("hf_home", ""), ignore_errors=True)
    _SESSION.clear()


def pytest_configure(config: pytest.Config) -> None:
    """Start the session's Hub test server, point the HF environment at it, install the test guards."""
    # Guards first, so that the server's socket is known to them; the server's HF_HOME is a temporary folder.
    configure_guards(hf_home=False)
    _start()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the server, remove the guards and restore the environment."""
    _stop()
    unconfigure_guards()


@pytest.fixture(scope="session")
def hub_server() -> Iterator[HubServer]:
    """The session's in-memory Hub server (``HF_ENDPOINT`` already points at it)."""
    started_here = "server" not in _SESSION  # the hooks above are not registered: this fixture owns the server
    server = _start()
    yield server
    if started_here:
        _stop()


@pytest.fixture
def hub_repo_id(request: pytest.FixtureRequest, hub_server: HubServer) -> Iterator[str]:
    """A repo id no other test uses: ``<user>/<test-name>-<hex>`` (the repo itself is not created)."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")[:40] or "test"
    yield f"{hub_server.user}/{name}-{uuid.uuid4().hex[:8]}"
