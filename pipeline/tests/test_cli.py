"""finr1-pipeline CLI basics (--version, env, --help on every subcommand, usage errors, the import boundary) and
the shared test guards, both written once in finr1_core.testing."""

from __future__ import annotations

from finr1_pipeline.cli import cli, main

from finr1_core.testing.cli_contract import cli_contract
from finr1_core.testing.guards import GuardChecks

TestCli = cli_contract(cli, main, dist="finr1-pipeline")
TestGuards = GuardChecks
