"""The shipped pipeline files, stage configs and compose files agree with each other, the tools and the runners."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

import pytest
import yaml
from finr1_pipeline.compose import ComposeRunner, render_compose
from finr1_pipeline.config import load_pipeline
from finr1_pipeline.containers import DockerRunner
from finr1_pipeline.local import LocalRunner
from finr1_pipeline.plan import Plan, preflight

from finr1_core.errors import InputError

REPO = Path(__file__).resolve().parents[2]
PIPELINES = sorted((REPO / "configs" / "pipeline").glob("*.yaml"))
FIN_R1 = REPO / "configs" / "pipeline" / "fin-r1.yaml"


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


def test_compose_pipeline_is_the_generated_project_of_the_full_recipe():
    """compose/pipeline.yaml is `finr1-pipeline compose --config configs/pipeline/fin-r1.yaml` verbatim."""
    plan = Plan(load_pipeline(FIN_R1), REPO)
    expected = render_compose(plan, REPO / "compose" / "pipeline.yaml", "configs/pipeline/fin-r1.yaml")
    shipped = (REPO / "compose" / "pipeline.yaml").read_text(encoding="utf-8")
    assert shipped == expected, (
        "compose/pipeline.yaml is out of date: finr1-pipeline compose --config configs/pipeline/fin-r1.yaml "
        "--output compose/pipeline.yaml"
    )
    services = yaml.safe_load(shipped)["services"]
    for server in ("judge-server", "base-server", "student-server"):
        devices = services[server]["deploy"]["resources"]["reservations"]["devices"]
        assert all(d["capabilities"] == ["gpu"] and not ("count" in d and "device_ids" in d) for d in devices)
    assert not any(str(s["image"]).endswith(":latest") for s in services.values())


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


# --- the three runners' dry runs agree ----------------------------------------------------------------------


def _runners(path: Path) -> dict[str, object]:
    return {
        "local": LocalRunner(Plan(load_pipeline(path), REPO)),
        "docker": DockerRunner(Plan(load_pipeline(path), REPO), client=object()),
        "compose": ComposeRunner(Plan(load_pipeline(path), REPO)),
    }


def _normalise(runner, argv: list[str]) -> list[str]:
    """Put back the placeholders whose values legitimately differ between runners (paths, hosts, URLs)."""
    plan = runner.plan
    values = plan.values()
    swaps = [(v, "${" + k + "}") for k, v in values.items() if k.endswith(".url") and v]
    # ${artifacts} as the runner writes it, and the absolute form local server refs take.
    swaps += [(values["artifacts"], "${artifacts}"), (str(plan.artifacts), "${artifacts}")]
    # One pass, longest value first (a URL contains no other value; the absolute artifacts path contains one).
    pattern = re.compile("|".join(re.escape(v) for v, _ in sorted(swaps, key=lambda s: -len(s[0]))))
    out = []
    skip = False
    for part in argv:
        if skip:  # --host: loopback locally, every interface in a container
            out.append("${host}")
            skip = False
            continue
        skip = part == "--host"
        out.append(pattern.sub(lambda m: dict(swaps)[m.group(0)], part))
    return out


def _binds(volumes: list[str]) -> dict[str, str]:
    """Host folder -> mode (named volumes left out: locally the environment's own HF cache is used)."""
    out = {}
    for spec in volumes:
        parts = spec.split(":")
        if parts[0].startswith("/"):
            out[parts[0]] = parts[-1]
    return out


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.stem)
def test_local_docker_and_compose_dry_runs_agree(path, monkeypatch):
    monkeypatch.setenv("FINR1_HUB_ORG", "my-org")
    described = {kind: runner.describe() for kind, runner in _runners(path).items()}
    runners = _runners(path)
    local = described["local"]
    for kind in ("docker", "compose"):
        other = described[kind]
        assert [(x.action, x.name) for x in other] == [(x.action, x.name) for x in local], kind
        for a, b in zip(local, other, strict=True):
            if a.action == "stop":
                continue
            where = f"{kind}: {a.action} {a.name}"
            assert _normalise(runners[kind], b.argv) == _normalise(runners["local"], a.argv), where
            assert b.env == a.env, where
            assert b.gpus == a.gpus, where
            assert _binds(b.volumes) == _binds(a.volumes), where
            assert "finr1-hf-cache:/cache/huggingface:rw" in b.volumes, where
    cfg = load_pipeline(path)
    data = {posixpath.normpath(str(REPO / d)) for d in cfg.data}
    for launch in local:
        if launch.action != "stop":
            assert data <= set(_binds(launch.volumes)), f"{launch.name}: data folders not mounted"


def test_fin_r1_dry_runs_show_launcher_servers_and_reasoning_parsers(monkeypatch, capsys):
    from finr1_pipeline.cli import main

    monkeypatch.chdir(REPO)
    parsers = {"judge-server": "none", "base-server": "none", "student-server": "deepseek_r1"}
    for runner in ("local", "docker", "compose"):
        code = main(["run", "--config", "configs/pipeline/fin-r1.yaml", "--runner", runner, "--dry-run"])
        out, err = capsys.readouterr()
        assert code == 0, err
        lines = out.splitlines()
        assert any(
            line.startswith("run   sft: accelerate launch --config_file packages/train/recipes/accelerate/zero3.yaml")
            for line in lines
        ), runner
        for server, parser in parsers.items():
            (start,) = [line for line in lines if line.startswith(f"start {server}: finr1-serve up")]
            assert f"--reasoning-parser {parser}" in start, (runner, server)
        assert lines.index("stop  judge-server") < next(i for i, x in enumerate(lines) if x.startswith("run   sft"))


# --- distillation sources and the teacher ---------------------------------------------------------------------


def test_fin_r1_distill_reads_the_teacher_from_the_pipeline():
    cfg = load_pipeline(FIN_R1)
    plan = LocalRunner(Plan(cfg, REPO)).plan
    (distill,) = [s for s in cfg.steps if s.tool == "distill"]
    args = plan.args(distill)
    assert args[args.index("--base-url") + 1] == cfg.servers["teacher"].external_url
    assert args[args.index("--model") + 1] == cfg.servers["teacher"].external_model
    teacher = yaml.safe_load((REPO / "configs/fin-r1/distill.yaml").read_text(encoding="utf-8"))["teacher"]
    assert "base_url" not in teacher and "model" not in teacher  # one source of truth: servers.teacher


def test_fin_r1_distill_sources_all_have_a_source_of_data(tmp_path, monkeypatch):
    """Every source either has a Hub copy or local data that the pipeline checks for before any work."""
    sources_mod = pytest.importorskip("finr1_distill.sources")
    distill_config = pytest.importorskip("finr1_distill.config")
    from finr1_core.config import load_config

    cfg = load_pipeline(FIN_R1)
    (step,) = [s for s in cfg.steps if s.tool == "distill"]
    args = Plan(cfg, REPO).args(step)
    config = load_config(distill_config.DistillConfig, REPO / args[args.index("--config") + 1])
    required = [r.path for r in step.requires]
    for spec in config.sources:
        adapter = sources_mod.get_source(spec.name)
        if spec.data is None:
            assert spec.hub_id or adapter.hub_id, f"source {spec.name}: no data and no Hub copy"
        else:
            assert any(posixpath.normpath(spec.data).startswith(posixpath.normpath(r)) for r in required), spec.name
    for root in config.decontamination.eval_data:
        assert any(posixpath.normpath(root).startswith(posixpath.normpath(d)) for d in cfg.data), root
    # Without the download, preflight fails naming the command that gets it (a fresh root has no data/).
    for name in cfg.env_required:
        monkeypatch.setenv(name, "x")
    with pytest.raises(InputError, match=r"needs data/sources/BBT-FinCUGE-Applications/FinCUGE_Publish.*git clone"):
        preflight(Plan(cfg, tmp_path), check_endpoints=False, force=True)


def test_evaluate_data_lies_in_the_pipeline_data_folders():
    evaluate = pytest.importorskip("finr1_evaluate.config")
    from finr1_core.config import load_config

    for flavour in ("embedded", "fin-r1"):
        cfg = load_pipeline(REPO / "configs" / "pipeline" / f"{flavour}.yaml")
        ev = load_config(evaluate.EvalConfig, REPO / "configs" / flavour / "evaluate.yaml")
        paths = [p.partition("=")[2] for p in str(ev.data or "").split(",") if p] if ev.data else []
        for p in paths:
            assert any(posixpath.normpath(p).startswith(posixpath.normpath(d)) for d in cfg.data), (flavour, p)
