"""The shipped pipeline files, stage configs and compose files agree with each other and with the tools."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from finr1_pipeline.config import load_pipeline
from finr1_pipeline.plan import Plan

REPO = Path(__file__).resolve().parents[2]
PIPELINES = sorted((REPO / "configs" / "pipeline").glob("*.yaml"))


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.stem)
def test_pipeline_file_loads_and_every_referenced_file_exists(path):
    cfg = load_pipeline(path)
    plan = Plan(cfg, REPO)
    for step in cfg.steps:
        args = plan.args(step)
        for flag, value in zip(args, args[1:], strict=False):
            if flag == "--config":
                assert (REPO / value).is_file(), f"{path.name}: step {step.name} names missing {value}"
        for i, part in enumerate(step.launcher):
            if part == "--config_file":
                assert (REPO / step.launcher[i + 1]).is_file()


def test_compose_pipeline_mirrors_the_full_recipe():
    cfg = load_pipeline(REPO / "configs" / "pipeline" / "fin-r1.yaml")
    services = yaml.safe_load((REPO / "compose" / "pipeline.yaml").read_text(encoding="utf-8"))["services"]
    steps = {step.name for step in cfg.steps}
    servers = {name for name, server in cfg.servers.items() if not server.external_url}
    assert steps <= set(services), f"steps without a compose service: {steps - set(services)}"
    assert servers <= set(services), f"servers without a compose service: {servers - set(services)}"
    for name in steps:
        assert services[name].get("profiles") == ["jobs"] and services[name].get("restart") == "no"
        assert not str(services[name]["image"]).endswith(":latest")
    for name in servers:
        assert "healthcheck" in services[name] and services[name]["healthcheck"]["start_period"]
        devices = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert all(d["capabilities"] == ["gpu"] and not ("count" in d and "device_ids" in d) for d in devices)


@pytest.mark.parametrize("name", ["pipeline.yaml", "serve.yaml"])
def test_compose_files_validate_against_the_compose_spec(name, tmp_path):
    pytest.importorskip("check_jsonschema")
    from check_jsonschema.cli.main_command import main
    from click.testing import CliRunner

    def validate(path):
        return CliRunner().invoke(main, ["--builtin-schema", "vendor.compose-spec", str(path)])

    result = validate(REPO / "compose" / name)
    assert result.exit_code == 0, result.output
    # The same file with a key the spec does not know must fail: the check really reads the file.
    broken = yaml.safe_load((REPO / "compose" / name).read_text(encoding="utf-8"))
    next(iter(broken["services"].values()))["no_such_compose_key"] = True
    (tmp_path / name).write_text(yaml.safe_dump(broken), encoding="utf-8")
    assert validate(tmp_path / name).exit_code != 0


def test_stage_configs_load_with_each_tools_own_config_model():
    from finr1_core.config import load_config

    distill = pytest.importorskip("finr1_distill.config")
    judge = pytest.importorskip("finr1_judge.config")
    evaluate = pytest.importorskip("finr1_evaluate.config")
    for flavour in ("embedded", "fin-r1"):
        for model, name in (
            (distill.DistillConfig, "distill"),
            (judge.JudgeConfig, "judge"),
            (evaluate.EvalConfig, "evaluate"),
        ):
            path = REPO / "configs" / flavour / f"{name}.yaml"
            cfg = load_config(model, path)
            keys = set(yaml.safe_load(path.read_text(encoding="utf-8")))
            assert keys and cfg.model_fields_set == keys, path  # every key of the file is a field it set
