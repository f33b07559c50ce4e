"""Pipeline plumbing without a Docker engine: config checks, preflight, schedules, container specs, compose."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from finr1_pipeline.compose import ComposeRunner, compose_project
from finr1_pipeline.config import load_pipeline
from finr1_pipeline.containers import (
    DockerRunner,
    bind_containers,
    image_tag,
    server_container_spec,
    step_container_spec,
)
from finr1_pipeline.local import LocalRunner
from finr1_pipeline.plan import Plan, preflight
from finr1_pipeline.runner import StageFailed

from finr1_core.errors import ConfigError, EndpointError, Finr1Error, InputError

REPO = Path(__file__).resolve().parents[2]

PIPELINE = """
name: demo
artifacts: artifacts
data: [../evalsets]
env_required: [DEMO_TEACHER_KEY]
servers:
  teacher: {external_url: "http://127.0.0.1:9/v1", external_model: deepseek-reasoner}
  judge-server: {model: hf://Qwen/Qwen2.5-72B-Instruct, port: 8001, gpus: 4, reasoning_parser: null,
          args: [--tensor-parallel-size, "4"]}
  student: {model: "${artifacts}/sft", port: 8003, gpus: 1, reasoning_parser: deepseek_r1, health_timeout_s: 120}
steps:
  - name: distill
    tool: distill
    args: [run, --base-url, "${servers.teacher.url}", --model, "${servers.teacher.model}", --output, "${artifacts}/distill"]
    output: ${artifacts}/distill
    servers: [teacher]
    env: [DEMO_TEACHER_KEY]
  - name: judge
    tool: judge
    args: [run, --input, "${artifacts}/distill", --base-url, "${servers.judge-server.url}", --output, "${artifacts}/judge"]
    output: ${artifacts}/judge
    servers: [judge-server]
  - name: sft
    tool: train
    launcher: [accelerate, launch, --config_file, packages/train/recipes/accelerate/zero3.yaml]
    args: [sft, --config, configs/x.yaml]
    output: ${artifacts}/sft
    gpus: -1
  - name: evaluate
    tool: evaluate
    args: [run, --base-url, "${servers.student.url}", --model-ref, "${servers.student.ref}",
           --data, "finqa=../more/finqa,tfns=/abs/tfns", --output, "${artifacts}/eval"]
    output: ${artifacts}/eval
    servers: [student]
"""


@pytest.fixture()
def pipeline_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    return path


def _write(tmp_path, text, name="q.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_and_placeholders(pipeline_file):
    cfg = load_pipeline(pipeline_file)
    plan = Plan(cfg, REPO)
    plan.server_urls.update({"teacher": "http://t/v1", "judge-server": "http://j/v1"})
    plan.server_models.update({"teacher": "deepseek-reasoner", "judge-server": "Fin-R1"})
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
    path = _write(tmp_path, "name: x\nsteps:\n  - {name: a, tool: distill, args: [], servers: [nope]}\n")
    with pytest.raises(ConfigError, match="step 'a' uses server 'nope'"):
        load_pipeline(path)
    path.write_text("name: x\nsteps:\n  - {name: a, tool: distil, args: []}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"key 'steps\[0\]\.tool': expected one of 'distill'"):
        load_pipeline(path)
    cfg = load_pipeline(_write(tmp_path, "name: x\nsteps:\n  - {name: a, tool: judge, args: ['${nope}']}\n"))
    with pytest.raises(ConfigError, match=r"unknown placeholder \$\{nope\}"):
        Plan(cfg, REPO).args(cfg.steps[0])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nstepz: []\n", r"q.yaml: unknown key 'stepz' \(did you mean 'steps'\?"),
        ("name: x\nsteps:\n  - {name: a, tool: judge, args: [], sevrers: [j]}\n", r"'steps.0.sevrers' \(did you mean"),
        ("name: x\nservers:\n  j: {model: m, prot: 1}\nsteps: []\n", r"'servers.j.prot' \(did you mean 'port'"),
        ("name: x\nservers:\n  j: {model: m, external_url: 'http://x'}\nsteps: []\n", "either 'model'"),
        ("name: x\nenv: {HF_TOKEN: hf_x}\nsteps: []\n", "env.HF_TOKEN looks like a secret"),
    ],
)
def test_unknown_keys_name_the_file_and_the_fix(tmp_path, text, expected):
    with pytest.raises(ConfigError, match=expected) as exc:
        load_pipeline(_write(tmp_path, text))
    assert len(str(exc.value).splitlines()) == 1


def test_preflight_reports_missing_env_inputs_and_endpoint_before_work(pipeline_file, monkeypatch, tmp_path):
    cfg = load_pipeline(pipeline_file)
    plan = Plan(cfg, REPO)
    monkeypatch.delenv("DEMO_TEACHER_KEY", raising=False)
    with pytest.raises(ConfigError, match="DEMO_TEACHER_KEY"):
        preflight(plan)
    monkeypatch.setenv("DEMO_TEACHER_KEY", "sk-not-a-real-key-123456")
    with pytest.raises(EndpointError, match="server 'teacher'.*unreachable"):
        preflight(plan)  # port 9 (discard) on loopback refuses connections
    # A local input nobody can fetch for the user: one line with the command that gets it.
    steps = [s.model_dump() for s in cfg.steps]
    steps[0]["requires"] = [{"path": "data/sources/x", "fetch": "git clone https://example.invalid/x data/sources/x"}]
    needs = Plan(cfg.model_validate({**cfg.model_dump(), "steps": steps}), tmp_path)
    with pytest.raises(InputError, match=r"step 'distill' needs data/sources/x.*git clone https://example.invalid/x"):
        preflight(needs, check_endpoints=False)
    (tmp_path / "data/sources/x").mkdir(parents=True)
    preflight(needs, check_endpoints=False)
    # Containers bind-mount the data folders: a missing one is refused before any container starts.
    with pytest.raises(InputError, match=r"data folder .*evalsets \(mounted at /evalsets\) does not exist"):
        preflight(needs, runner="docker", check_endpoints=False)


def test_schedule_stops_servers_after_their_last_step(pipeline_file):
    plan = Plan(load_pipeline(pipeline_file), REPO)
    assert plan.schedule() == [
        ("run", "distill"),  # the teacher is an external API: nothing to start
        ("start", "judge-server"),
        ("run", "judge"),
        ("stop", "judge-server"),  # before SFT, which wants every GPU
        ("run", "sft"),
        ("start", "student"),
        ("run", "evaluate"),
        ("stop", "student"),
    ]


def test_server_refs_resolve_like_finr1_serve(pipeline_file, monkeypatch, tmp_path):
    monkeypatch.setenv("FINR1_CACHE", str(tmp_path / "cache"))
    cfg = load_pipeline(pipeline_file)
    local = LocalRunner(Plan(cfg, REPO))
    assert local.plan.server_refs == {
        "judge-server": "hf://Qwen/Qwen2.5-72B-Instruct",
        "student": str(REPO / "artifacts" / "sft"),  # a folder: absolute, as finr1-serve up reads it
    }
    assert local.plan.args(cfg.steps[3])[4] == str(REPO / "artifacts" / "sft")
    docker = DockerRunner(Plan(cfg, REPO), client=FakeClient())
    assert docker.plan.server_refs["student"] == "/work/artifacts/sft"
    embedded = load_pipeline(REPO / "configs" / "pipeline" / "embedded.yaml")
    # `embedded` is the same word for every runner (each tool resolves it), so local and container runs agree
    assert LocalRunner(Plan(embedded, REPO)).plan.server_refs["smollm2"] == "embedded"
    assert DockerRunner(Plan(embedded, REPO), client=FakeClient()).plan.server_refs["smollm2"] == "embedded"
    bad = _write(tmp_path, PIPELINE.replace("${servers.student.ref}", "${servers.teacher.ref}"), "bad.yaml")
    with pytest.raises(ConfigError, match=r"unknown placeholder \$\{servers.teacher.ref\}"):
        LocalRunner(Plan(load_pipeline(bad), REPO)).plan.args(load_pipeline(bad).steps[3])


def test_health_timeouts_are_per_server_with_defaults_that_fit(pipeline_file):
    cfg = load_pipeline(pipeline_file)
    assert cfg.servers["judge-server"].health_timeout() == 1800  # hf:// model: download + load
    assert cfg.servers["student"].health_timeout() == 120  # explicit
    embedded = load_pipeline(REPO / "configs" / "pipeline" / "embedded.yaml")
    assert embedded.servers["smollm2"].health_timeout() == 600


def test_container_spec_passes_env_by_name_reserves_gpus_and_mounts_data(pipeline_file, monkeypatch):
    monkeypatch.setenv("DEMO_TEACHER_KEY", "sk-secret-value-123456789")
    monkeypatch.setenv("HF_TOKEN", "hf_secretvalue123456789")
    cfg = load_pipeline(pipeline_file)
    runner = DockerRunner(Plan(cfg, REPO), client=FakeClient())
    plan = runner.plan
    distill = step_container_spec(plan, cfg.steps[0], runner.network)
    assert distill["image"] == image_tag(REPO, "distill") and not distill["image"].endswith(":latest")
    assert distill["command"][-1] == "/work/artifacts/distill"
    assert distill["command"][2] == "http://127.0.0.1:9/v1"  # external teacher URL kept
    assert distill["environment"]["DEMO_TEACHER_KEY"] == "sk-secret-value-123456789"
    assert distill["environment"]["HF_HOME"] == "/cache/huggingface"
    assert distill["volumes"]["finr1-hf-cache"]["bind"] == "/cache/huggingface"
    assert distill["device_requests"] == []
    # The data folders, read-only, where the same relative paths resolve from /work; --data paths too.
    volumes = {v["bind"]: (src, v["mode"]) for src, v in distill["volumes"].items()}
    assert volumes["/evalsets"] == (str(REPO.parent / "evalsets"), "ro")
    assert volumes["/more/finqa"] == (str(REPO.parent / "more" / "finqa"), "ro")
    assert volumes["/abs/tfns"] == ("/abs/tfns", "ro")
    assert volumes["/work/artifacts"][1] == "rw" and volumes["/work/configs"][1] == "ro"
    judge = step_container_spec(plan, cfg.steps[1], runner.network)
    assert "http://demo-judge-server:8001/v1" in judge["command"]
    assert "DEMO_TEACHER_KEY" not in judge["environment"]  # only the names a step lists
    sft = step_container_spec(plan, cfg.steps[2], runner.network)
    assert sft["device_requests"] == [{"count": -1, "capabilities": [["gpu"]]}]
    assert sft["entrypoint"] == ["accelerate"] and sft["command"][:3] == [
        "launch",
        "--config_file",
        "packages/train/recipes/accelerate/zero3.yaml",
    ]
    # The SDK accepts the plain form (it builds DeviceRequest(**item)); no SDK types in the spec.
    docker_types = pytest.importorskip("docker.types")
    assert docker_types.DeviceRequest(**sft["device_requests"][0])["Count"] == -1


def test_server_healthcheck_probes_the_port_served(pipeline_file):
    plan = bind_containers(Plan(load_pipeline(pipeline_file), REPO))
    spec = server_container_spec(plan, "judge-server", "demo-net")
    assert spec["command"][spec["command"].index("--port") + 1] == "8001"
    assert spec["healthcheck"]["test"] == [
        "CMD",
        "finr1-serve",
        "health",
        "--url",
        "http://127.0.0.1:8001/v1",
        "--timeout",
        "5",
    ]
    assert spec["healthcheck"]["start_period"] == 1800 * 10**9  # the server's health timeout, in ns
    assert spec["command"][spec["command"].index("--reasoning-parser") + 1] == "none"
    student = server_container_spec(plan, "student", "demo-net")
    assert student["healthcheck"]["start_period"] == 120 * 10**9
    assert student["command"][student["command"].index("--reasoning-parser") + 1] == "deepseek_r1"
    service = compose_project(plan, REPO / "compose")["services"]["judge-server"]
    assert service["healthcheck"]["test"] == spec["healthcheck"]["test"]
    assert service["healthcheck"]["start_period"] == "1800s"


def test_serve_image_healthcheck_follows_the_served_port():
    text = (REPO / "packages" / "serve" / "Dockerfile").read_text(encoding="utf-8")
    (healthcheck,) = [line for line in text.split("\nHEALTHCHECK")[1:]]
    probe = healthcheck.split("\n\n")[0]
    assert "8000" not in probe and "--url" not in probe  # `up` records its port in $FINR1_SERVE_STATE
    assert "FINR1_SERVE_STATE=" in text and "--start-period=1800s" in probe


class FakeContainer:
    def __init__(self, client, spec, exit_code=0, status="running", health="healthy"):
        self.client, self.spec, self.name, self.exit_code = client, spec, spec["name"], exit_code
        self.attrs = {"State": {"Status": status, "ExitCode": exit_code, "Health": {"Status": health}}}

    def logs(self, stream=False, follow=False, tail=None):
        if tail is not None:
            return b"CUDA out of memory\n"
        return iter([f"{self.name} says hello\n".encode()])

    def wait(self):
        return {"StatusCode": self.exit_code}

    def reload(self):
        pass

    def remove(self, force=False):
        self.client.events.append(("remove", self.name))

    def stop(self, timeout=10):
        self.client.events.append(("stop", self.name))


class FakeClient:
    """Stands in for docker.DockerClient: records the container specs and the order of runs and stops."""

    def __init__(self, fail_step=None, server_state=("running", "healthy")):
        self.runs, self.events, self.fail_step, self.server_state = [], [], fail_step, server_state
        self.networks = self
        self.containers = self
        self.created_networks = []

    def list(self, names):
        return []

    def create(self, name, driver):
        self.created_networks.append(name)

    def run(self, **spec):
        self.runs.append(spec)
        self.events.append(("run", spec["name"]))
        if "finr1.server" in spec["labels"]:
            status, health = self.server_state
            return FakeContainer(self, spec, exit_code=1 if status == "exited" else 0, status=status, health=health)
        failing = self.fail_step and spec["labels"].get("finr1.step") == self.fail_step
        return FakeContainer(self, spec, exit_code=3 if failing else 0)


def test_docker_runner_stops_servers_after_their_last_step_and_cleans_up(pipeline_file, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DEMO_TEACHER_KEY", "sk-secret-value-123456789")
    cfg = load_pipeline(pipeline_file).model_copy(update={"artifacts": str(tmp_path / "a")})
    client = FakeClient()
    results = DockerRunner(Plan(cfg, REPO), client=client, poll_s=0).run()
    assert [r.status for r in results] == ["ran", "ran", "ran", "ran"]
    runs = [name for event, name in client.events if event == "run"]
    assert runs == ["demo-distill", "demo-judge-server", "demo-judge", "demo-sft", "demo-student", "demo-evaluate"]
    events = client.events
    # The judge server is stopped and removed before SFT starts, not at the end.
    assert events.index(("stop", "demo-judge-server")) < events.index(("run", "demo-sft"))
    assert ("remove", "demo-student") in events[events.index(("run", "demo-evaluate")) :]
    assert client.created_networks == ["demo-net"]
    assert "demo-distill says hello" in capsys.readouterr().err
    assert _removed(client) == runs  # cleaned up: every container that ran was removed

    client = FakeClient(fail_step="judge")
    with pytest.raises(Finr1Error, match="step 'judge' exited with 3"):
        DockerRunner(Plan(cfg, REPO), client=client, poll_s=0).run()
    assert ("stop", "demo-judge-server") in client.events  # the server is stopped on failure too
    ran = [name for event, name in client.events if event == "run"]
    assert ran == ["demo-distill", "demo-judge-server", "demo-judge"] and _removed(client) == ran


def _removed(client):
    """Names of the containers the runner removed, in the order they were started."""
    order = [name for event, name in client.events if event == "run"]
    return sorted({name for event, name in client.events if event == "remove"}, key=order.index)


def test_docker_runner_reports_a_server_that_exits(pipeline_file, monkeypatch, tmp_path):
    monkeypatch.setenv("DEMO_TEACHER_KEY", "sk-secret-value-123456789")
    cfg = load_pipeline(pipeline_file).model_copy(update={"artifacts": str(tmp_path / "a")})
    client = FakeClient(server_state=("exited", "starting"))
    with pytest.raises(StageFailed, match=r"demo-judge-server exited with 1.*last lines:\nCUDA out of memory"):
        DockerRunner(Plan(cfg, REPO), client=client, poll_s=0).run()
    assert ("remove", "demo-judge-server") in client.events


def test_compose_runner_generates_from_the_pipeline_and_stops_servers(pipeline_file, monkeypatch, tmp_path):
    monkeypatch.setenv("DEMO_TEACHER_KEY", "sk-secret-value-123456789")
    cfg = load_pipeline(pipeline_file).model_copy(update={"artifacts": str(tmp_path / "a")})
    calls: list[list[str]] = []
    monkeypatch.setattr("finr1_pipeline.compose.subprocess.call", lambda cmd, **kw: calls.append(cmd) or 0)
    runner = ComposeRunner(Plan(cfg, REPO))
    runner.run()
    compose_file = tmp_path / "a" / "compose" / "demo.yaml"
    assert [c[:6] for c in calls] == [["docker", "compose", "-p", "demo", "-f", str(compose_file)]] * len(calls)
    assert [" ".join(c[6:]) for c in calls] == [
        "--profile jobs run --rm distill",
        "up --detach --wait judge-server",
        "--profile jobs run --rm judge",
        "rm --stop --force judge-server",
        "--profile jobs run --rm sft",
        "up --detach --wait student",
        "--profile jobs run --rm evaluate",
        "rm --stop --force student",
        "down",
    ]
    services = yaml.safe_load(compose_file.read_text(encoding="utf-8"))["services"]
    assert set(services) == {
        "judge-server",
        "student",
        "judge",
        "distill",
        "sft",
        "evaluate",
    }  # this pipeline's, not fin-r1's
    assert services["distill"]["environment"]["DEMO_TEACHER_KEY"] is None  # by name only
    assert "sk-secret-value" not in compose_file.read_text(encoding="utf-8")


def test_docker_dry_run_needs_no_docker_sdk(monkeypatch, capsys):
    from finr1_pipeline.cli import main

    monkeypatch.setitem(sys.modules, "docker", None)  # `import docker` raises ImportError
    monkeypatch.setitem(sys.modules, "docker.types", None)
    monkeypatch.chdir(REPO)
    code = main(["run", "--config", "configs/pipeline/fin-r1.yaml", "--runner", "docker", "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "start judge-server: finr1-serve up --model hf://Qwen/Qwen2.5-72B-Instruct" in out
    assert "gpus: 4" in out and "gpus: all" in out
    assert ":/shared/data:ro" in out and "finr1-hf-cache:/cache/huggingface:rw" in out
    assert "DEEPSEEK_API_KEY" in out and "stop  judge-server" in out


FAKE_SERVE = """#!{python}
import sys, time
if sys.argv[1] == "up":
    print("loading model ...", flush=True)
    print("RuntimeError: CUDA error: out of memory", flush=True)
    sys.exit(3)
if sys.argv[1] == "health":
    time.sleep(600)  # never healthy: only the server's exit can end the wait early
"""


@pytest.mark.timeout(120)
def test_local_runner_notices_a_server_that_exits_and_shows_its_log(pipeline_file, monkeypatch, tmp_path):
    fake = tmp_path / "finr1-serve"
    fake.write_text(FAKE_SERVE.format(python=sys.executable), encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setattr("finr1_pipeline.local.tool_executable", lambda tool: str(fake))
    cfg = load_pipeline(pipeline_file).model_copy(update={"artifacts": str(tmp_path / "a")})
    runner = LocalRunner(Plan(cfg, REPO))
    # The health wait is 1800 s for this hf:// model; the exit must end it at once, with the log's last lines.
    with pytest.raises(StageFailed) as exc:
        runner.start_server("judge-server")
    message = str(exc.value)
    assert "server 'judge-server' exited with code 3" in message
    assert "CUDA error: out of memory" in message and "server-judge-server.log" in message
    assert runner.procs == {}


def test_local_runner_passes_the_pipeline_env_and_stops_servers_in_order(pipeline_file, monkeypatch, tmp_path):
    cfg = load_pipeline(pipeline_file).model_copy(
        update={"artifacts": str(tmp_path / "a"), "env": {"HF_ENDPOINT": "http://127.0.0.1:1"}}
    )
    runner = LocalRunner(Plan(cfg, REPO))
    events: list[tuple[str, str]] = []
    envs: list[str | None] = []
    monkeypatch.setattr(runner, "start_server", lambda name: events.append(("start", name)))
    monkeypatch.setattr(runner, "stop_server", lambda name: events.append(("stop", name)))

    def run_step(step):
        events.append(("run", step.name))
        envs.append(runner._env().get("HF_ENDPOINT"))
        return 0

    monkeypatch.setattr(runner, "run_step", run_step)
    runner.run()
    assert events == [(a, n) for a, n in Plan(cfg, REPO).schedule()]
    assert set(envs) == {"http://127.0.0.1:1"}
