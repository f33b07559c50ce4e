"""Issue 14 for evaluate: failed runs fail, kills lose and repeat nothing, secrets stay out, messages are honest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finr1_core.testing.fake_openai import FakeOpenAIServer
from finr1_evaluate.benchmarks import get_benchmark

MODEL = "m-under-test"


def _run(ev, server, output, *extra: str) -> int:
    return ev.run_cli(["run", "--base-url", server.base_url, "--model", MODEL, "--output", str(output), *extra])


def _judge(server) -> list[str]:
    return ["--judge-base-url", server.base_url, "--judge-model", "judge"]


# --- 401/402/403 stop at once -----------------------------------------------------------------------------------


def test_a_refused_key_mid_run_stops_at_once_naming_endpoint_and_variable(ev, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FINR1_TEST_MODEL_KEY", "revoked-key-value-123")
    items = get_benchmark("tfns").load(samples=True)
    # /v1/models accepts the key (the start-up check passes); every chat request answers 401, as after a revocation
    with FakeOpenAIServer(ev.ScriptedModel(items, ev.gold_answer), model=MODEL, fault_fn=lambda r, a: "401") as server:
        args = ["--benchmark", "tfns", "--samples", "--api-key-env", "FINR1_TEST_MODEL_KEY", "--concurrency", "1"]
        assert _run(ev, server, tmp_path / "out", *args) == 1
        assert server.stats().chat_requests == 1  # not one per item (nor 100 in a row)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: {server.base_url} refused a request with HTTP 401; stopped at once")
    assert "$FINR1_TEST_MODEL_KEY (--api-key-env)" in err
    assert not (tmp_path / "out" / "lineage.json").exists()


def test_a_refused_judge_key_stops_at_once_and_keeps_the_generations(ev, tmp_path, capsys):
    items = get_benchmark("finance_instruct_500k").load(samples=True)
    out = tmp_path / "out"
    with (
        FakeOpenAIServer(ev.ScriptedModel(items, ev.gold_answer), model=MODEL) as model,
        FakeOpenAIServer(ev.fair_judge, model="judge", fault_fn=lambda r, a: "401") as judge,
    ):
        args = ["--benchmark", "finance_instruct_500k", "--samples", *_judge(judge)]
        assert _run(ev, model, out, *args, "--concurrency", "1") == 1
        assert judge.stats().chat_requests == 1
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert f"{judge.base_url} refused a request with HTTP 401" in err and "--judge-api-key-env" in err
        judge.fault_fn = None  # the key is fixed
        model.reset_stats()
        assert _run(ev, model, out, *args) == 0
        assert model.stats().chat_requests == 0  # the generations were kept
    assert ev.read_results(out)["benchmarks"]["finance_instruct_500k"]["accuracy"] == 100.0


@pytest.mark.parametrize(("error", "status"), [("HTTP 401: no", 401), ("HTTP 402: pay", 402), ("HTTP 403: x", 403)])
def test_auth_statuses(error, status):
    from finr1_evaluate.usable import auth_status

    assert auth_status(error) == status
    assert auth_status("HTTP 400: bad request") is None and auth_status("HTTP 500 (after 6 attempts)") is None


# --- too few usable verdicts -------------------------------------------------------------------------------------


def test_too_few_usable_verdicts_fail_without_lineage_and_a_fixed_judge_resumes(ev, tmp_path, capsys):
    items = get_benchmark("finance_instruct_500k").load(samples=True)
    out = tmp_path / "out"
    cfg = tmp_path / "judge.yaml"
    cfg.write_text("judge:\n  max_retries: 0\n", encoding="utf-8")
    with (
        FakeOpenAIServer(ev.ScriptedModel(items, ev.gold_answer), model=MODEL) as model,
        FakeOpenAIServer(ev.fair_judge, model="judge", fault_fn=lambda r, a: "500") as judge,
    ):
        args = ["--benchmark", "finance_instruct_500k", "--samples", "--config", str(cfg), *_judge(judge)]
        assert _run(ev, model, out, *args) == 1
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert f"finance_instruct_500k: only 0 of {len(items)} verdicts are usable" in err
        assert "min_usable.verdicts" in err and "nothing was written" in err
        assert not (out / "lineage.json").exists()
        judge.fault_fn = None
        model.reset_stats()
        judge.reset_stats()
        assert _run(ev, model, out, *args) == 0
        assert model.stats().chat_requests == 0 and judge.stats().chat_requests == len(items)
    assert ev.read_results(out)["benchmarks"]["finance_instruct_500k"]["judge_failures"] == 0


# --- kill -9 ---------------------------------------------------------------------------------------------------


def _spawn(server_url: str, out: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "finr1_evaluate.cli", "run", "--base-url", server_url, "--model", MODEL,
           "--output", str(out), "--no-progress", *extra]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_when(proc: subprocess.Popen, pattern: str, out: Path, lines: int) -> Path:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        logs = list(out.glob(pattern))
        if logs and len(logs[0].read_text(encoding="utf-8").splitlines()) >= lines:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            return logs[0]
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode()[-2000:])
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("no progress before the deadline")


def _keys(log: Path) -> list[tuple[str, int]]:
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.endswith("}")]
    return [(r["item_id"], r["sample_index"]) for r in rows]


def test_kill_at_concurrency_4_resumes_without_losing_or_repeating_finished_calls(ev, tmp_path):
    items = get_benchmark("convfinqa").load(samples=True)
    out = tmp_path / "out"
    with FakeOpenAIServer(ev.ScriptedModel(items, ev.gold_answer), model=MODEL, latency_s=0.3) as server:
        proc = _spawn(server.base_url, out, "--benchmark", "convfinqa", "--samples", "--concurrency", "4")
        log = _kill_when(proc, ".finr1-work/run/cache/*/convfinqa.jsonl", out, 4)
        done = _keys(log)
        assert len(done) == len(set(done)) and 4 <= len(done) < len(items)
        assert not (out / "lineage.json").exists()
        answered_before = server.stats().ok  # includes the requests in flight when the process died
        server.reset_stats()
        server.latency_s = 0.0
        assert _run(ev, server, out, "--benchmark", "convfinqa", "--samples", "--concurrency", "4") == 0
        # exactly the calls whose results were not logged are made again: none finished is repeated
        assert server.stats().chat_requests == len(items) - len(done)
        assert {key for key in server.stats().by_item} == {
            it.messages[-1]["content"] for it in items if it.id not in {k.split("@")[0] for k, _ in done}
        }
    assert answered_before - len(done) <= 4  # lost in flight: at most the concurrency
    entry = ev.read_results(out)["benchmarks"]["convfinqa"]
    assert entry["n"] == len(items) and entry["accuracy"] == 100.0 and entry["generation_errors"] == 0


def test_kill_during_judging_resumes_without_generating_or_judging_again(ev, tmp_path):
    items = get_benchmark("convfinqa").load(samples=True)
    out = tmp_path / "out"
    judged: list[str] = []

    def judge_fn(request):
        judged.append(request["messages"][-1]["content"])
        return ev.fair_judge(request)

    # wrong answers: the rules score 0, so every item goes to the judge (rule_then_judge)
    with (
        FakeOpenAIServer(ev.ScriptedModel(items, ev.wrong_answer), model=MODEL) as model,
        FakeOpenAIServer(judge_fn, model="judge", latency_s=0.3) as judge,
    ):
        args = ["--benchmark", "convfinqa", "--samples", "--concurrency", "3", *_judge(judge)]
        proc = _spawn(model.base_url, out, *args)
        log = _kill_when(proc, ".finr1-work/run/cache/judge-*/convfinqa.jsonl", out, 3)
        done = _keys(log)
        assert len(done) == len(set(done)) and 3 <= len(done) < len(items)
        assert model.stats().chat_requests == len(items)
        model.reset_stats()
        judge.reset_stats()
        judge.latency_s = 0.0
        assert _run(ev, model, out, *args) == 0
        assert model.stats().chat_requests == 0
        assert judge.stats().chat_requests == len(items) - len(done)
    entry = ev.read_results(out)["benchmarks"]["convfinqa"]
    assert entry["judge"]["calls"] == len(items) and entry["accuracy"] == 0.0 and entry["judge_failures"] == 0


# --- secrets ---------------------------------------------------------------------------------------------------


def _all_text(folder: Path) -> str:
    parts = []
    for path in folder.rglob("*"):
        if path.is_file():
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


def test_a_password_in_an_endpoint_url_never_reaches_outputs_or_console(ev, tmp_path, capsys, monkeypatch):
    password = "Pa55wordInUrl9"
    key = "sk-evalkey0123456789abcdef"
    monkeypatch.setenv("FINR1_TEST_JUDGE_KEY", key)
    items = get_benchmark("finance_instruct_500k").load(samples=True)
    out = tmp_path / "out"
    with (
        FakeOpenAIServer(ev.ScriptedModel(items, ev.gold_answer), model=MODEL) as model,
        FakeOpenAIServer(ev.fair_judge, model="judge") as judge,
    ):
        url = model.base_url.replace("http://", f"http://evaluser:{password}@")
        judge_url = judge.base_url.replace("http://", f"http://judgeuser:{password}@")
        argv = ["--log-level", "DEBUG", "run", "--base-url", url, "--model", MODEL, "--output", str(out),
                "--benchmark", "finance_instruct_500k", "--samples", "--judge-base-url", judge_url,
                "--judge-model", "judge", "--judge-api-key-env", "FINR1_TEST_JUDGE_KEY"]  # fmt: skip
        assert ev.run_cli(argv) == 0
        assert ev.run_cli(argv) == 0  # left alone: the same lines again
        assert ev.run_cli(["report", str(out), "--output", str(tmp_path / "report")]) == 0
    console = capsys.readouterr()
    written = _all_text(out) + _all_text(tmp_path / "report")
    for text in (console.out, console.err, written):
        assert password not in text and key not in text
    assert "evaluser:<redacted>@" in ev.read_lineage(out)["config"]["model"]["base_url"]
    # an error line naming such an endpoint is redacted too
    dead = f"http://evaluser:{password}@127.0.0.1:9/v1"
    assert ev.run_cli(["run", "--base-url", dead, "--model", MODEL, "--output", str(tmp_path / "x"),
                       "--benchmark", "tfns", "--samples"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "cannot reach" in err and password not in err


# --- honest messages ------------------------------------------------------------------------------------------


def test_no_scored_items_print_n_a_not_none_percent(ev, tmp_path, capsys):
    items = get_benchmark("tfns").load(samples=True)
    cfg = tmp_path / "lenient.yaml"
    cfg.write_text("model:\n  max_retries: 0\nmin_usable:\n  generations: 0\n", encoding="utf-8")
    with FakeOpenAIServer(ev.ScriptedModel(items, ev.gold_answer), model=MODEL, fault_fn=lambda r, a: "500") as server:
        assert _run(ev, server, tmp_path / "out", "--benchmark", "tfns", "--samples", "--config", str(cfg)) == 0
    console = capsys.readouterr()
    assert "None%" not in console.out + console.err
    assert "tfns  n/a  (no scored items, n=0, rule-only n/a" in console.out
    assert "tfns: accuracy n/a (n=0, rule-only n/a" in console.err


def test_a_changed_config_on_a_complete_output_names_the_keys_and_needs_force(ev, tmp_path, capsys):
    items = get_benchmark("tfns").load(samples=True)
    out = tmp_path / "out"
    with FakeOpenAIServer(ev.ScriptedModel(items, ev.gold_answer), model=MODEL) as server:
        assert _run(ev, server, out, "--benchmark", "tfns", "--samples") == 0
        lineage = (out / "lineage.json").read_bytes()
        server.reset_stats()
        capsys.readouterr()
        assert _run(ev, server, out, "--benchmark", "tfns", "--samples", "--temperature", "0.1", "--seed", "7") == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err
        assert "(sampling.temperature, seed); pass --force to replace it" in err
        assert server.stats().chat_requests == 0 and (out / "lineage.json").read_bytes() == lineage
        # settings that do not change the evaluation (concurrency, timeouts) leave a complete output complete
        assert _run(ev, server, out, "--benchmark", "tfns", "--samples", "--concurrency", "3") == 0
        assert server.stats().chat_requests == 0
        assert _run(ev, server, out, "--benchmark", "tfns", "--samples", "--temperature", "0.1", "--force") == 0
        assert server.stats().chat_requests == len(items)
    assert ev.read_lineage(out)["config"]["sampling"]["temperature"] == 0.1


def test_a_local_output_finr1_did_not_write_is_refused_before_any_request(ev, tmp_path, capsys):
    out = tmp_path / "old"
    out.mkdir()
    (out / "results.json").write_text("{}", encoding="utf-8")  # an evaluation folder written by finr1-evaluate 0.1
    with FakeOpenAIServer(model=MODEL) as server:
        assert _run(ev, server, out, "--benchmark", "tfns", "--samples") == 1
        assert server.stats().chat_requests == 0
    assert (
        "holds files finr1 did not write as an artifact (an evaluation written by finr1-evaluate 0.1"
        in capsys.readouterr().err
    )
    assert os.listdir(out) == ["results.json"]
