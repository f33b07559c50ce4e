"""finr1-serve CLI basics (--version, env, --help on every subcommand, usage errors, the import boundary) and the
shared test guards, both written once in finr1_core.testing."""

from __future__ import annotations

from finr1_core.testing.cli_contract import cli_contract
from finr1_core.testing.guards import GuardChecks
from finr1_serve.cli import cli, main

TestCli = cli_contract(cli, main, dist="finr1-serve")
TestGuards = GuardChecks
