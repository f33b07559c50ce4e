"""finr1-serve: engine command lines, the alias proxy, health, ask, and one real CPU round trip (slow)."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from finr1_core.errors import EndpointError
from finr1_core.testing.fake_openai import FakeAnswer, FakeOpenAIServer, ReasoningMode
from finr1_serve import engines
from finr1_serve.alias import AliasProxy, supervise
from finr1_serve.ask import FIN_R1_SYSTEM_PROMPT, ask, split_reply
from finr1_serve.cli import main
from finr1_serve.health import api_base_url, wait_healthy


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A folder that looks like a model to the planner (only config.json is read)."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps({"model_type": "qwen2", "num_attention_heads": 4, "max_position_embeddings": 32768})
    )
    return folder


def fake_machine(monkeypatch: pytest.MonkeyPatch, gpus: int, vllm: bool, bf16: bool = True) -> None:
    monkeypatch.setattr(engines, "cuda_device_count", lambda: gpus)
    monkeypatch.setattr(engines, "vllm_available", lambda: vllm)
    monkeypatch.setattr(engines, "cpu_has_bf16", lambda: bf16)
    monkeypatch.setattr(engines, "transformers_serving_available", lambda: True)


def dry_run(capsys: pytest.CaptureFixture[str], *argv: str) -> list[list[str]]:
    code, out, err = run_cli(capsys, "up", "--dry-run", *argv)
    assert code == 0, err
    return [shlex.split(line) for line in out.splitlines() if line and not line.startswith("#")]


# --- up --dry-run -------------------------------------------------------------------------------------------


def test_vllm_command_has_the_fin_r1_flags(monkeypatch: pytest.MonkeyPatch, capsys, model_dir: Path) -> None:
    fake_machine(monkeypatch, gpus=2, vllm=True)
    [command] = dry_run(capsys, "--model", str(model_dir))
    assert Path(command[0]).name == "vllm"
    assert command[1:] == [
        "serve",
        str(model_dir.resolve()),
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--served-model-name",
        "Fin-R1",
        "--tensor-parallel-size",
        "2",
        "--max-model-len",
        "16384",
        "--gpu-memory-utilization",
        "0.9",
    ]  # an instruct model (no <think> in its template, lineage or name): no reasoning parser


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


def test_reasoning_parser_only_for_models_that_write_think(
    monkeypatch: pytest.MonkeyPatch, capsys, model_dir: Path
) -> None:
    fake_machine(monkeypatch, gpus=1, vllm=True)

    def parser(*argv: str) -> str | None:
        [command] = dry_run(capsys, "--model", str(model_dir), *argv)
        return command[command.index("--reasoning-parser") + 1] if "--reasoning-parser" in command else None

    # Qwen2.5-Instruct-like: its template has no <think>; a parser would empty every answer's content.
    _write_json(
        model_dir / "tokenizer_config.json", {"chat_template": "{% for m in messages %}<|im_start|>{% endfor %}"}
    )
    assert parser() is None
    assert parser("--reasoning-parser", "deepseek_r1") == "deepseek_r1"  # explicit wins
    # DeepSeek-R1 distills and QwQ open the reply with <think> in their template.
    _write_json(model_dir / "tokenizer_config.json", {"chat_template": "{{'<|Assistant|><think>\\n'}}"})
    assert parser() == "deepseek_r1"
    assert parser("--reasoning-parser", "none") is None  # explicit none wins
    (model_dir / "tokenizer_config.json").unlink()
    (model_dir / "chat_template.jinja").write_text("{% if enable_thinking %}<think>{% endif %}", encoding="utf-8")
    config = json.loads((model_dir / "config.json").read_text())
    _write_json(model_dir / "config.json", {**config, "model_type": "qwen3"})
    assert parser() == "qwen3"  # vLLM's parser for Qwen3
    (model_dir / "chat_template.jinja").unlink()
    _write_json(model_dir / "config.json", config)
    # A finr1 student keeps Qwen2.5's template but is trained on R1 traces: its lineage says finr1-train.
    _write_json(model_dir / "lineage.json", {"tool": "finr1-train", "tool_version": "0.1.0"})
    assert parser() == "deepseek_r1"
    _write_json(model_dir / "lineage.json", {"tool": "finr1-judge", "tool_version": "0.1.0"})
    assert parser() is None


def test_reasoning_parser_follows_the_hub_name(monkeypatch: pytest.MonkeyPatch, capsys, model_dir: Path) -> None:
    fake_machine(monkeypatch, gpus=1, vllm=True)
    snapshot = model_dir.parent / "0123abcd"  # HF cache snapshots are named by commit: the ref carries the name
    model_dir.rename(snapshot)

    def resolve_model_ref(ref: str) -> tuple[Path, dict[str, str]]:
        return snapshot, {"ref": ref}

    monkeypatch.setitem(sys.modules, "finr1_core.refs", types.SimpleNamespace(resolve_model_ref=resolve_model_ref))
    for ref, expected in [
        ("hf://SUFE-AIFLM-Lab/Fin-R1", "deepseek_r1"),
        ("hf://my-org/fin-r1-repro@grpo", "deepseek_r1"),
        ("hf://deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "deepseek_r1"),
        ("hf://Qwen/Qwen2.5-72B-Instruct", None),
        ("hf://Qwen/Qwen2.5-7B-Instruct", None),
        ("hf://someone/r10-model", None),
    ]:
        [command] = dry_run(capsys, "--model", ref)
        got = command[command.index("--reasoning-parser") + 1] if "--reasoning-parser" in command else None
        assert got == expected, ref


def test_vllm_defaults_follow_gpus_and_model(monkeypatch: pytest.MonkeyPatch, capsys, model_dir: Path) -> None:
    fake_machine(monkeypatch, gpus=3, vllm=True)
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 8192}))
    [command] = dry_run(capsys, "--model", str(model_dir), "--dtype", "bfloat16", "--", "--enable-prefix-caching")
    flags = dict(zip(command[3::2], command[4::2], strict=False))
    assert flags["--tensor-parallel-size"] == "2"  # 3 GPUs, but 4 heads split only 1, 2 or 4 ways
    assert flags["--max-model-len"] == "8192"  # the model's own context is shorter than 16384
    assert flags["--dtype"] == "bfloat16"
    assert command[-1] == "--enable-prefix-caching"
    [explicit] = dry_run(capsys, "--model", str(model_dir), "--tensor-parallel-size", "1", "--max-model-len", "4096")
    flags = dict(zip(explicit[3::2], explicit[4::2], strict=False))
    assert flags["--tensor-parallel-size"] == "1" and flags["--max-model-len"] == "4096"


def test_transformers_command_behind_the_alias(monkeypatch: pytest.MonkeyPatch, capsys, model_dir: Path) -> None:
    fake_machine(monkeypatch, gpus=0, vllm=False, bf16=True)
    code, out, _ = run_cli(capsys, "up", "--dry-run", "--model", str(model_dir), "--port", "8123")
    assert code == 0
    command_line, alias_line = out.strip().splitlines()
    command = shlex.split(command_line)
    assert Path(command[0]).name == "transformers" and command[1] == "serve"
    assert command[-1] == str(model_dir.resolve())
    flags = command[2:-1]
    assert flags[:2] == ["--host", "127.0.0.1"]  # the engine is private; the proxy owns the public port
    upstream_port = int(flags[flags.index("--port") + 1])
    assert upstream_port != 8123
    assert "--continuous-batching" in flags
    assert flags[flags.index("--dtype") + 1] == "bfloat16"
    assert flags[flags.index("--cb-num-blocks") + 1] == "128"  # 32768 tokens / 256 per block
    assert alias_line.startswith("# finr1-serve alias proxy on 0.0.0.0:8123 -> http://127.0.0.1:")
    assert "'Fin-R1'" in alias_line


def test_transformers_command_options(monkeypatch: pytest.MonkeyPatch, capsys, model_dir: Path) -> None:
    fake_machine(monkeypatch, gpus=0, vllm=False, bf16=False)
    [command] = dry_run(
        capsys, "--model", str(model_dir), "--no-alias", "--no-continuous-batching", "--host", "127.0.0.1"
    )
    assert command[2:] == ["--host", "127.0.0.1", "--port", "8000", str(model_dir.resolve())]
    # A GPU without vLLM: transformers serve on CUDA keeps its own dtype and cache sizing.
    fake_machine(monkeypatch, gpus=1, vllm=False, bf16=True)
    [command] = dry_run(capsys, "--model", str(model_dir), "--no-alias")
    assert "--dtype" not in command and "--cb-num-blocks" not in command and "--continuous-batching" in command


def test_config_file_then_flags(monkeypatch: pytest.MonkeyPatch, capsys, model_dir: Path, tmp_path: Path) -> None:
    fake_machine(monkeypatch, gpus=1, vllm=True)
    config = tmp_path / "serve.yaml"
    config.write_text(f"model: {model_dir}\nport: 9000\nserved_model_name: Student\n")
    [command] = dry_run(capsys, "--config", str(config), "--port", "9100")
    flags = dict(zip(command[3::2], command[4::2], strict=False))
    assert flags["--port"] == "9100" and flags["--served-model-name"] == "Student"
    config.write_text("model: x\nprot: 9000\n")
    code, _, err = run_cli(capsys, "up", "--dry-run", "--config", str(config))
    assert code == 1 and "prot" in err and len(err.strip().splitlines()) == 1


def test_engine_and_model_errors_are_one_line(monkeypatch: pytest.MonkeyPatch, capsys, model_dir: Path) -> None:
    fake_machine(monkeypatch, gpus=0, vllm=False)
    for argv, expected in [
        (["--model", str(model_dir), "--engine", "vllm"], "vLLM is not installed"),
        (["--model", str(model_dir.parent / "missing")], "neither a folder nor hf://"),
        ([], "no model given"),
    ]:
        code, _, err = run_cli(capsys, "up", "--dry-run", *argv)
        assert code == 1 and expected in err and len(err.strip().splitlines()) == 1, err
    (model_dir / "config.json").unlink()
    code, _, err = run_cli(capsys, "up", "--dry-run", "--model", str(model_dir))
    assert code == 1 and "has no config.json" in err


def test_embedded_and_hub_refs_are_resolved(monkeypatch: pytest.MonkeyPatch, capsys, model_dir: Path) -> None:
    fake_machine(monkeypatch, gpus=1, vllm=True)
    import finr1_core.models

    monkeypatch.setattr(finr1_core.models, "embedded_model_path", lambda cache_dir=None: model_dir)
    [command] = dry_run(capsys, "--model", "embedded")
    assert command[2] == str(model_dir)
    seen: list[str] = []

    def resolve_model_ref(ref: str) -> tuple[Path, dict[str, str]]:
        seen.append(ref)
        return model_dir, {"ref": ref, "revision": "abc123"}

    monkeypatch.setitem(sys.modules, "finr1_core.refs", types.SimpleNamespace(resolve_model_ref=resolve_model_ref))
    [command] = dry_run(capsys, "--model", "hf://SUFE-AIFLM-Lab/Fin-R1@main")
    assert seen == ["hf://SUFE-AIFLM-Lab/Fin-R1@main"] and command[2] == str(model_dir)


# --- health -------------------------------------------------------------------------------------------------


class _Scripted(ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture
def scripted_server() -> Iterator[Callable[[dict[str, list[int]]], str]]:
    """Start a loopback server whose routes answer a scripted list of status codes (the last one repeats)."""
    servers: list[_Scripted] = []

    def start(routes: dict[str, list[int]]) -> str:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                codes = routes.get(self.path)
                status = (codes.pop(0) if len(codes) > 1 else codes[0]) if codes else 404
                body = b'{"status": "ok"}'
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = _Scripted(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_health_waits_for_the_server(scripted_server) -> None:
    url = scripted_server({"/health": [503, 503, 200]})
    route, waited = wait_healthy(url, timeout_s=120, interval_s=0.05)
    assert route == "/health" and waited >= 0.1


def test_health_falls_back_to_models(scripted_server, capsys) -> None:
    url = scripted_server({"/v1/models": [200]})
    code, out, _ = run_cli(capsys, "health", "--url", url, "--timeout", "5", "--interval", "0.05")
    assert code == 0 and "/v1/models answered" in out


def test_health_timeout_is_one_clear_line(capsys) -> None:
    url = f"http://127.0.0.1:{engines.free_port()}/v1"
    started = time.monotonic()
    code, _, err = run_cli(capsys, "health", "--url", url, "--timeout", "0.5", "--interval", "0.1")
    assert code == 1 and time.monotonic() - started < 120  # --timeout 0.5 was honoured, not the 600 s default
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "not healthy after 0.5 s" in lines[0] and "ConnectError" in lines[0]


def test_health_without_url_probes_the_port_up_recorded(
    monkeypatch: pytest.MonkeyPatch, capsys, scripted_server, model_dir: Path, tmp_path: Path
) -> None:
    url = scripted_server({"/health": [200]})
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    state = tmp_path / "state" / "finr1-serve.json"
    monkeypatch.setenv("FINR1_SERVE_STATE", str(state))
    # `up` records the port it serves before it starts the engine (here: launch is a stub).
    fake_machine(monkeypatch, gpus=1, vllm=True)
    monkeypatch.setattr(engines, "launch", lambda plan: 0)
    code, _, err = run_cli(capsys, "up", "--model", str(model_dir), "--port", str(port))
    assert code == 0, err
    assert json.loads(state.read_text()) == {"url": f"http://127.0.0.1:{port}/v1"}
    code, out, err = run_cli(capsys, "health", "--timeout", "5", "--interval", "0.05")
    assert code == 0 and f"127.0.0.1:{port}/health answered" in out, err
    # Nothing recorded (no variable, or `up` has not started yet): the default URL.
    from finr1_serve.health import served_url

    state.unlink()
    assert served_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    monkeypatch.delenv("FINR1_SERVE_STATE")
    assert served_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"


def test_url_forms() -> None:
    assert api_base_url("http://h:8000") == api_base_url("http://h:8000/v1/") == "http://h:8000/v1"
    with pytest.raises(EndpointError, match="not an http"):
        api_base_url("h:8000")


# --- ask ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["field", "reasoning", "inline", "inline_no_open"])
def test_ask_prints_reasoning_and_answer(mode: ReasoningMode, capsys) -> None:
    requests: list[dict[str, Any]] = []

    def answer(request: dict[str, Any]) -> FakeAnswer:
        requests.append(request)
        return FakeAnswer("<answer>\n\\boxed{4}\n</answer>", reasoning="2 plus 2 is 4.")

    with FakeOpenAIServer(answer, reasoning_mode=mode, model="Fin-R1") as server:
        code, out, err = run_cli(capsys, "ask", "What is 2+2?", "--url", server.base_url)
    assert code == 0, err
    assert out.splitlines()[:4] == ["--- reasoning ---", "2 plus 2 is 4.", "--- answer ---", "\\boxed{4}"]
    [request] = requests
    assert request["model"] == "Fin-R1"
    assert request["messages"] == [
        {"role": "system", "content": FIN_R1_SYSTEM_PROMPT},
        {"role": "user", "content": "What is 2+2?"},
    ]
    preset = {k: request[k] for k in ("temperature", "top_p", "max_tokens", "repetition_penalty")}
    assert preset == {"temperature": 0.7, "top_p": 0.8, "max_tokens": 4000, "repetition_penalty": 1.05}


def test_ask_json_and_errors(capsys) -> None:
    with FakeOpenAIServer(
        ["plain answer"], reasoning_mode="none", fault_fn=lambda r, n: "400" if n > 1 else None
    ) as server:
        code, out, _ = run_cli(capsys, "ask", "q", "--url", server.base_url, "--json", "--no-system-prompt")
        assert code == 0
        reply = json.loads(out)
        assert reply["answer"] == "plain answer" and reply["reasoning"] == ""
        code, _, err = run_cli(capsys, "ask", "q", "--url", server.base_url)
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert code == 1 and len(errors) == 1 and "answered HTTP 400: injected fault 400" in errors[0]
    code, _, err = run_cli(capsys, "ask", "q", "--url", f"http://127.0.0.1:{engines.free_port()}", "--timeout", "2")
    assert code == 1 and "cannot reach" in err


def test_split_reply() -> None:
    assert split_reply("<think>\nr\n</think>\n<answer>\na\n</answer>", None) == ("r", "a")
    assert split_reply("r</think>\n\nfinal", None) == ("r", "final")
    assert split_reply("final", "from the field") == ("from the field", "final")
    assert split_reply("no tags at all", None) == ("", "no tags at all")
    assert split_reply("<answer>a</answer> and more", None) == ("", "<answer>a</answer> and more")
    # the format contract's split (finr1_core.answers.format): junk before <think>, the last </think>, cut-off thinking
    assert split_reply("<|im_start|>assistant\n<think>\nr\n</think>\n<answer>\na\n</answer>", None) == ("r", "a")
    assert split_reply("<think>\nstill thinking, maybe 42", None) == ("still thinking, maybe 42", "")


# --- the alias proxy ------------------------------------------------------------------------------------------


@pytest.fixture
def proxied() -> Iterator[tuple[AliasProxy, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    def answer(request: dict[str, Any]) -> FakeAnswer:
        seen.append(request)
        return FakeAnswer("The answer is 4.", reasoning="think")

    with FakeOpenAIServer(answer, model="/models/tiny") as upstream:
        root = upstream.base_url.removesuffix("/v1")
        with AliasProxy("127.0.0.1", 0, root, "Fin-R1", "/models/tiny") as proxy:
            yield proxy, seen


def test_alias_maps_the_model_name(proxied, request) -> None:
    import openai

    proxy, seen = proxied
    client = openai.OpenAI(base_url=proxy.base_url, api_key="EMPTY", max_retries=0)
    request.addfinalizer(client.close)  # its keep-alive connection would hold one of the proxy's threads
    response = client.chat.completions.create(
        model="Fin-R1",
        messages=[{"role": "user", "content": "2+2?"}],
        max_tokens=50,
        extra_body={"repetition_penalty": 1.05, "top_k": 20},
    )
    assert response.model == "Fin-R1" and response.choices[0].message.content == "The answer is 4."
    upstream_request = seen[-1]
    assert upstream_request["model"] == "/models/tiny"
    assert upstream_request["frequency_penalty"] == pytest.approx(0.05)
    assert "repetition_penalty" not in upstream_request and "top_k" not in upstream_request

    stream = client.chat.completions.create(
        model="Fin-R1", messages=[{"role": "user", "content": "2+2?"}], stream=True
    )
    chunks = list(stream)
    assert chunks and {chunk.model for chunk in chunks} == {"Fin-R1"}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "The answer is 4."

    with pytest.raises(openai.NotFoundError, match="The model `gpt-4` does not exist"):
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "x"}])
    assert [m.id for m in client.models.list()] == ["Fin-R1"]


def test_alias_health_follows_the_upstream() -> None:
    with AliasProxy("127.0.0.1", 0, f"http://127.0.0.1:{engines.free_port()}", "Fin-R1", "/m") as proxy:
        root = proxy.base_url.removesuffix("/v1")
        assert httpx.get(root + "/health").status_code == 503
        with pytest.raises(EndpointError, match="not healthy"):
            wait_healthy(proxy.base_url, timeout_s=0.3, interval_s=0.1)
    with FakeOpenAIServer() as upstream:
        with AliasProxy("127.0.0.1", 0, upstream.base_url.removesuffix("/v1"), "Fin-R1", "/m") as proxy:
            assert wait_healthy(proxy.base_url, timeout_s=120)[0] == "/health"


def test_alias_port_in_use_is_one_line() -> None:
    with AliasProxy("127.0.0.1", 0, "http://127.0.0.1:9", "Fin-R1", "/m") as first:
        with pytest.raises(EndpointError, match=f"cannot listen on 127.0.0.1:{first.port}"):
            AliasProxy("127.0.0.1", first.port, "http://127.0.0.1:9", "Fin-R1", "/m").start()


def test_supervise_returns_the_child_exit_code() -> None:
    proxy = AliasProxy("127.0.0.1", 0, "http://127.0.0.1:9", "Fin-R1", "/m")
    code = supervise([sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ), proxy)
    assert code == 3
    with pytest.raises(httpx.ConnectError):  # the proxy stopped with its child
        httpx.get(f"http://127.0.0.1:{proxy.port}/health")


# --- one real CPU round trip: up (transformers serve + alias) -> health -> ask ------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("torch", "transformers", "fastapi", "uvicorn")),
    reason="needs finr1-serve[cpu] and finr1-core[models]",
)
def test_up_health_ask_with_a_tiny_model(tmp_path: Path) -> None:
    from finr1_core.testing.tiny import make_tiny_qwen2

    model = make_tiny_qwen2(tmp_path / "tiny")
    port = engines.free_port()
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "finr1_serve.cli", "up", "--model", str(model), "--host", "127.0.0.1"]
    log = tmp_path / "up.log"
    with log.open("wb") as sink:
        server = subprocess.Popen([*command, "--port", str(port)], env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        try:
            wait_healthy(url, timeout_s=240, interval_s=0.5)
        except EndpointError:
            server.kill()
            pytest.fail(log.read_text(errors="replace")[-3000:])
        reply = ask("What is 2+2?", url, params={"max_tokens": 8, "temperature": 0.0})
        assert reply.model == "Fin-R1"
        assert reply.usage["completion_tokens"] >= 1 and reply.finish_reason in ("stop", "length")
        response = httpx.post(url + "/chat/completions", json={"model": "other", "messages": []}, timeout=30)
        assert response.status_code == 404
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert code in (0, 128 + signal.SIGTERM), code
