"""Pipeline plumbing without a Docker engine: config checks, preflight, container specs, compose commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from finr1_pipeline.config import load_pipeline
from finr1_pipeline.containers import DockerRunner, compose_commands, image_tag, step_container_spec
from finr1_pipeline.plan import Plan, preflight

from finr1_core.errors import ConfigError, EndpointError, Finr1Error

REPO = Path(__file__).resolve().parents[2]

PIPELINE = """
name: demo
artifacts: artifacts
env_required: [DEMO_TEACHER_KEY]
servers:
  teacher: {external_url: "http://127.0.0.1:9/v1", external_model: deepseek-reasoner}
  judge: {model: hf://Qwen/Qwen2.5-72B-Instruct, port: 8001, gpus: 4, args: [--tensor-parallel-size, "4"]}
steps:
  - name: distill
    tool: distill
    args: [run, --base-url, "${servers.teacher.url}", --model, "${servers.teacher.model}", --output, "${artifacts}/distill"]
    output: ${artifacts}/distill
    servers: [teacher]
    env: [DEMO_TEACHER_KEY]
  - name: judge
    tool: judge
    args: [run, --input, "${artifacts}/distill", --base-url, "${servers.judge.url}", --output, "${artifacts}/judge"]
    output: ${artifacts}/judge
    servers: [judge]
  - name: sft
    tool: train
    args: [sft, --config, configs/x.yaml]
    output: ${artifacts}/sft
    gpus: -1
"""


@pytest.fixture()
def pipeline_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    return path


def test_load_and_placeholders(pipeline_file, tmp_path):
    cfg = load_pipeline(pipeline_file)
    plan = Plan(cfg, REPO)
    plan.server_urls.update(teacher="http://t/v1", judge="http://j/v1")
    plan.server_models.update(teacher="deepseek-reasoner", judge="Fin-R1")
    assert plan.args(cfg.steps[0]) == [
        "run",
        "--base-url",
        "http://t/v1",
        "--model",
        "deepseek-reasoner",
        "--output",
        "artifacts/distill",
    ]


def test_bad_pipeline_files(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: x\nsteps:\n  - {name: a, tool: distill, args: [], servers: [nope]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="step 'a' uses server 'nope'"):
        load_pipeline(path)
    path.write_text("name: x\nsteps:\n  - {name: a, tool: distil, args: []}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"key 'steps.0.tool': expected one of 'distill'"):
        load_pipeline(path)
    cfg = load_pipeline(_write(tmp_path, "name: x\nsteps:\n  - {name: a, tool: judge, args: ['${nope}']}\n"))
    with pytest.raises(ConfigError, match=r"unknown placeholder \$\{nope\}"):
        Plan(cfg, REPO).args(cfg.steps[0])


def _write(tmp_path, text):
    path = tmp_path / "q.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_preflight_reports_missing_env_and_endpoint_before_work(pipeline_file, monkeypatch):
    cfg = load_pipeline(pipeline_file)
    monkeypatch.delenv("DEMO_TEACHER_KEY", raising=False)
    with pytest.raises(ConfigError, match="DEMO_TEACHER_KEY"):
        preflight(cfg)
    monkeypatch.setenv("DEMO_TEACHER_KEY", "sk-not-a-real-key-123456")
    with pytest.raises(EndpointError, match="server 'teacher'.*unreachable"):
        preflight(cfg)  # port 9 (discard) on loopback refuses connections


def test_container_spec_passes_env_by_name_reserves_gpus_and_never_uses_latest(pipeline_file, monkeypatch):
    monkeypatch.setenv("DEMO_TEACHER_KEY", "sk-secret-value-123456789")
    monkeypatch.setenv("HF_TOKEN", "hf_secretvalue123456789")
    cfg = load_pipeline(pipeline_file)
    plan = Plan(cfg, REPO)
    runner = DockerRunner(plan, client=FakeClient())
    distill = step_container_spec(plan, cfg.steps[0], runner.network)
    assert distill["image"] == image_tag(REPO, "distill") and not distill["image"].endswith(":latest")
    assert distill["command"][-1] == "/work/artifacts/distill"
    assert distill["command"][2] == "http://127.0.0.1:9/v1"  # external teacher URL kept
    assert distill["environment"]["DEMO_TEACHER_KEY"] == "sk-secret-value-123456789"
    assert distill["environment"]["HF_HOME"] == "/cache/huggingface"
    assert distill["volumes"]["finr1-hf-cache"]["bind"] == "/cache/huggingface"
    assert distill["device_requests"] == []
    judge = step_container_spec(plan, cfg.steps[1], runner.network)
    assert "http://demo-judge:8001/v1" in judge["command"]
    assert "DEMO_TEACHER_KEY" not in judge["environment"]  # only the names a step lists
    sft = step_container_spec(plan, cfg.steps[2], runner.network)
    (request,) = sft["device_requests"]
    assert request["Count"] == -1 and request["Capabilities"] == [["gpu"]]


class FakeContainer:
    def __init__(self, spec, exit_code=0, healthy=True):
        self.spec, self.name, self.exit_code = spec, spec["name"], exit_code
        self.attrs = {"State": {"Status": "running", "Health": {"Status": "healthy" if healthy else "starting"}}}
        self.removed = self.stopped = False

    def logs(self, stream, follow):
        yield f"{self.name} says hello\n".encode()

    def wait(self):
        return {"StatusCode": self.exit_code}

    def reload(self):
        pass

    def remove(self, force=False):
        self.removed = True

    def stop(self, timeout=10):
        self.stopped = True


class FakeClient:
    """Stands in for docker.DockerClient: records the container specs the runner asks for."""

    def __init__(self, fail_step=None):
        self.runs, self.fail_step = [], fail_step
        self.networks = self
        self.containers = self
        self.created_networks = []
        self.started = []  # every FakeContainer handed out

    def list(self, names):
        return []

    def create(self, name, driver):
        self.created_networks.append(name)

    def run(self, **spec):
        self.runs.append(spec)
        failing = self.fail_step and spec["labels"].get("finr1.step") == self.fail_step
        self.started.append(FakeContainer(spec, exit_code=3 if failing else 0))
        return self.started[-1]


def test_docker_runner_streams_logs_checks_exit_codes_and_cleans_up(pipeline_file, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DEMO_TEACHER_KEY", "sk-secret-value-123456789")
    cfg = load_pipeline(pipeline_file).model_copy(update={"artifacts": str(tmp_path / "a")})
    client = FakeClient()
    results = DockerRunner(Plan(cfg, REPO), client=client).run()
    assert [r.status for r in results] == ["ran", "ran", "ran"]
    names = [spec["name"] for spec in client.runs]
    assert names == ["demo-distill", "demo-judge", "demo-judge", "demo-sft"]  # judge server, then judge job
    assert client.created_networks == ["demo-net"]
    assert "demo-distill says hello" in capsys.readouterr().err
    # Cleaned up: every container removed, the judge server stopped first.
    assert [(c.name, c.removed) for c in client.started] == [(name, True) for name in names]
    server = client.started[1]
    assert server.spec is client.runs[1] and server.stopped

    client = FakeClient(fail_step="judge")
    with pytest.raises(Finr1Error, match="step 'judge' container exited with 3"):
        DockerRunner(Plan(cfg, REPO), client=client).run()
    # A failed step cleans up too: the failed job and the server are gone, the step after never started.
    assert [(c.name, c.removed) for c in client.started] == [
        ("demo-distill", True),
        ("demo-judge", True),
        ("demo-judge", True),
    ]
    assert client.started[1].stopped


def test_compose_commands_start_servers_then_run_jobs_in_order(pipeline_file):
    plan = Plan(load_pipeline(pipeline_file), REPO)
    cmds = [" ".join(c[4:]) for c in compose_commands(plan, Path("compose/pipeline.yaml"))]
    assert cmds == [
        "--profile jobs run --rm distill",
        "up --detach --wait judge",
        "--profile jobs run --rm judge",
        "--profile jobs run --rm sft",
        "down",
    ]
