"""Shared test setup for finr1-pipeline."""

# Shared guards (finr1_core.testing.guards): tests reach loopback only (their subprocesses too), finr1's cache is
# a temp folder, and a test that leaves env vars, root-logger config, threads, servers or child processes behind
# fails. A star import (not `pytest_plugins`) so it works from a non-root conftest.
from finr1_core.testing.guards import *  # noqa: F403
