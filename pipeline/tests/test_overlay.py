"""Overlays: the shipped pipeline file with services, env values, launchers and recipe keys swapped, not copied."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from finr1_pipeline.cli import main
from finr1_pipeline.config import load_pipeline
from finr1_pipeline.local import LocalRunner
from finr1_pipeline.plan import Plan, preflight

from finr1_core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
FIN_R1 = REPO / "configs" / "pipeline" / "fin-r1.yaml"
SFT_RECIPE = "packages/train/recipes/qwen2.5-7b-instruct/sft/fin-r1.yaml"
ZERO3 = "packages/train/recipes/accelerate/zero3.yaml"
DISTILL = "configs/fin-r1/distill.yaml"

# What the rehearsal swaps: the APIs and vLLM servers for loopback fakes, the Hub for the test server, the
# launcher for two CPU processes, and only the recipe keys a CPU forces.
REHEARSAL = {
    "description": "fin-r1 against loopback stand-ins",
    "set": {
        "servers.teacher.external_url": "http://127.0.0.1:18001/v1",
        "servers.gpt4o.external_url": "http://127.0.0.1:18002/v1",
        "servers.judge-server": {"external_url": "http://127.0.0.1:18003/v1", "external_model": "Fin-R1-judge"},
        "servers.student-server.engine": "transformers",
        "servers.student-server.args": [],
        "servers.student-server.health_timeout_s": 300,
        "steps.sft.launcher": ["accelerate", "launch", "--config_file", ZERO3],
        "steps.distill.requires": [],  # the stand-in FinCUGE files live elsewhere (see files below)
    },
    "env": {"HF_ENDPOINT": "http://127.0.0.1:18004", "FINR1_HUB_ORG": "rehearsal"},
    "files": {
        SFT_RECIPE: {"model_init_kwargs.dtype": "float32", "max_length": 512},
        ZERO3: {"num_processes": 2, "use_cpu": True, "distributed_type": "MULTI_CPU", "mixed_precision": "no"},
        DISTILL: {"sources.fincuge.data": "/tmp/standins/FinCUGE_Publish", "teacher.max_tokens": 4096},
    },
}


def _overlay(tmp_path: Path, data: dict, name: str = "overlay.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_overlay_swaps_services_env_launcher_and_recipe_keys(tmp_path):
    overlay = _overlay(tmp_path, REHEARSAL)
    shipped = load_pipeline(FIN_R1)
    cfg = load_pipeline(FIN_R1, [overlay]).model_copy(update={"artifacts": str(tmp_path / "a")})
    assert cfg.servers["teacher"].external_url == "http://127.0.0.1:18001/v1"
    assert cfg.servers["judge-server"].external_url and cfg.servers["judge-server"].model is None
    assert cfg.servers["student-server"].engine == "transformers" and cfg.servers["student-server"].args == []
    assert cfg.servers["student-server"].model == shipped.servers["student-server"].model  # untouched keys kept
    assert [s.model_dump() for s in cfg.steps if s.name not in ("sft", "distill")] == [
        s.model_dump() for s in shipped.steps if s.name not in ("sft", "distill")
    ]
    plan = LocalRunner(Plan(cfg, REPO)).plan
    assert ("start", "judge-server") not in plan.schedule()  # now an external (fake) endpoint
    # ${env.FINR1_HUB_ORG} takes the overlay's value; the steps get HF_ENDPOINT in their environment.
    (sft,) = [s for s in cfg.steps if s.name == "sft"]
    command = plan.command(sft)
    assert "hf://rehearsal/fin-r1-repro@sft" in command and "HF_ENDPOINT" in plan.env_names([])
    # Overridden files: the steps read changed copies under <artifacts>/overrides; the originals are untouched.
    recipe_copy = f"{tmp_path / 'a'}/overrides/{SFT_RECIPE}"
    assert command[command.index("--config") + 1] == recipe_copy
    assert command[command.index("--config_file") + 1] == f"{tmp_path / 'a'}/overrides/{ZERO3}"
    plan.write_overrides()
    recipe = yaml.safe_load(Path(recipe_copy).read_text(encoding="utf-8"))
    original = yaml.safe_load((REPO / SFT_RECIPE).read_text(encoding="utf-8"))
    assert recipe["model_init_kwargs"] == {**original["model_init_kwargs"], "dtype": "float32"}
    assert recipe["max_length"] == 512 and recipe["learning_rate"] == original["learning_rate"]
    assert original["max_length"] == 8192
    # List items by their `name`: one source's data path, the rest of the quota table as shipped.
    distill = yaml.safe_load((tmp_path / "a" / "overrides" / DISTILL).read_text(encoding="utf-8"))
    shipped_distill = yaml.safe_load((REPO / DISTILL).read_text(encoding="utf-8"))
    (fincuge,) = [s for s in distill["sources"] if s["name"] == "fincuge"]
    assert fincuge == {"name": "fincuge", "quota": 2000, "data": "/tmp/standins/FinCUGE_Publish"}
    assert [s for s in distill["sources"] if s["name"] != "fincuge"] == [
        s for s in shipped_distill["sources"] if s["name"] != "fincuge"
    ]
    assert distill["teacher"]["max_tokens"] == 4096
    (step,) = [s for s in cfg.steps if s.name == "distill"]
    assert step.requires == [] and plan.command(step)[3] == f"{tmp_path / 'a'}/overrides/{DISTILL}"


@pytest.mark.parametrize(
    ("overlay", "expected"),
    [
        ({"sett": {}}, r"overlay.yaml: unknown key 'sett' \(did you mean 'set'\?"),
        (
            {"set": {"steps.sfft.launcher": []}},
            r"set.steps.sfft.launcher: .*no steps entry named 'sfft' \(did you mean 'sft'\?",
        ),
        ({"set": {"servers.judge-server.prot": 1}}, r"'prot' is not a key of a ServerSpec \(did you mean 'port'\?"),
        (
            {"set": {"servers.judgeserver.port": 1}},
            r"no servers entry named 'judgeserver' \(did you mean 'judge-server'\?",
        ),
        ({"set": {"stepz": []}}, r"'stepz' is not a key of the pipeline \(did you mean 'steps'\?"),
        ({"set": {"servers.judge-server.port": "x"}}, r"with overlay .*overlay.yaml: key 'servers.judge-server.port'"),
        ({"env": {"HF_TOKEN": "hf_abc"}}, r"env.HF_TOKEN looks like a secret"),
    ],
)
def test_overlay_mistakes_are_one_line_naming_the_file(tmp_path, overlay, expected):
    with pytest.raises(ConfigError, match=expected) as exc:
        load_pipeline(FIN_R1, [_overlay(tmp_path, overlay)])
    assert len(str(exc.value).splitlines()) == 1


def test_overlay_files_must_be_named_by_a_step_and_keys_must_exist(tmp_path, monkeypatch):
    for name in ("DEEPSEEK_API_KEY", "OPENAI_API_KEY", "HF_TOKEN", "FINR1_HUB_ORG"):
        monkeypatch.setenv(name, "x")
    cfg = load_pipeline(FIN_R1, [_overlay(tmp_path, {"files": {"configs/fin-r1/judgee.yaml": {"concurrency": 1}}})])
    with pytest.raises(ConfigError, match=r"overrides: configs/fin-r1/judgee.yaml is not named by any step"):
        preflight(Plan(cfg, REPO), check_endpoints=False)
    cfg = load_pipeline(FIN_R1, [_overlay(tmp_path, {"files": {SFT_RECIPE: {"model_init_kwarg.dtype": "x"}}})])
    plan = Plan(cfg.model_copy(update={"artifacts": str(tmp_path / "a")}), REPO)
    with pytest.raises(ConfigError, match=r"key 'model_init_kwarg.dtype': 'model_init_kwarg' not found"):
        plan.write_overrides()


def test_overlays_are_shown_in_dry_runs_and_recorded_in_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    overlay = _overlay(tmp_path, REHEARSAL)
    code = main(["run", "--config", str(FIN_R1), "--overlay", str(overlay), "--runner", "compose", "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"# overlay {overlay}:" in out and '"set servers.teacher.external_url": "http://127.0.0.1:18001/v1"' in out
    assert f"# override {SFT_RECIPE} -> " in out
    # A real (tiny) run: the record goes into the log and pipeline_timings.json.
    pipeline = tmp_path / "tiny.yaml"
    pipeline.write_text("name: tiny\nsteps:\n  - {name: version, tool: serve, args: [--version]}\n", encoding="utf-8")
    tiny = _overlay(tmp_path, {"description": "tiny", "env": {"FINR1_TINY_SETTING": "on"}}, "tiny-overlay.yaml")
    artifacts = tmp_path / "a"
    monkeypatch.setattr(sys, "executable", str(Path(sys.executable)))  # finr1-serve is found beside it
    code = main(["run", "--config", str(pipeline), "--overlay", str(tiny), "--artifacts", str(artifacts)])
    out, err = capsys.readouterr()
    assert code == 0, err
    timings = json.loads((artifacts / "report" / "pipeline_timings.json").read_text(encoding="utf-8"))
    assert timings["overlays"] == [
        {"file": str(tiny), "description": "tiny", "changes": {"env FINR1_TINY_SETTING": "on"}}
    ]
    assert "overlay " in err and "FINR1_TINY_SETTING" in err
    import os

    assert "FINR1_TINY_SETTING" not in os.environ  # applied to this process for the run only
