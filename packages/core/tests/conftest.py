"""Shared fixtures for finr1-core tests."""

# --- Hub test server (owner: helper "hub") ---------------------------------------------------------
# Starts one in-memory Hub-compatible server for the session and points HF_ENDPOINT, HF_TOKEN,
# HF_HOME and HF_HUB_DISABLE_XET at it in pytest_configure, i.e. before any test module imports
# huggingface_hub/datasets (they read those variables at import). Provides the `hub_server` and
# `hub_repo_id` fixtures. A star import (not `pytest_plugins`) so it works from a non-root conftest.
from finr1_core.testing.pytest_plugin import *  # noqa: F403
