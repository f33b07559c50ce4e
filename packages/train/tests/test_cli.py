"""finr1-train CLI basics (--version, env, --help on every subcommand, usage errors, the import boundary) and the
shared test guards, both written once in finr1_core.testing."""

from __future__ import annotations

from finr1_core.testing.cli_contract import cli_contract
from finr1_core.testing.guards import GuardChecks
from finr1_train.cli import cli, main

TestCli = cli_contract(cli, main, dist="finr1-train")
TestGuards = GuardChecks


def test_rewards_lists_the_registry(capsys):
    assert main(["rewards"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["accuracy", "format", "tag_count", "accuracy_llm"]
