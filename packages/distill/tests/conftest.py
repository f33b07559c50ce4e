"""Shared test setup for finr1-distill."""

# Shared guards (finr1_core.testing.guards: loopback only, nothing left behind) plus the session's Hub test server,
# started and wired into HF_ENDPOINT/HF_HOME in pytest_configure, before any test module imports huggingface_hub
# or datasets, and stopped (environment restored) at the end. Provides `hub_server` and `hub_repo_id`.
# A star import (not `pytest_plugins`) so it works from a non-root conftest.
from finr1_core.testing.pytest_plugin import *  # noqa: F403
