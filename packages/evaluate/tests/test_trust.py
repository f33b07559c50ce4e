"""Issue 14 for evaluate: failed runs fail, kills lose and repeat nothing, secrets stay out, messages are honest."""

from __future__ import annotations

import json
import logging
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
    # core's AuthError: the URL without credentials, the variable and the flag that names it, the status
    assert err.startswith(f"error: {server.base_url}/chat/completions refused the key in $FINR1_TEST_MODEL_KEY ")
    assert "(--api-key-env) (HTTP 401" in err and "fix the key and run again" in err
    assert "revoked-key-value-123" not in err
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
        assert f"{judge.base_url}/chat/completions refused requests without a key" in err
        assert "(set --judge-api-key-env to the variable holding it) (HTTP 401" in err
        judge.fault_fn = None  # the key is fixed
        model.reset_stats()
        assert _run(ev, model, out, *args) == 0
        assert model.stats().chat_requests == 0  # the generations were kept
    assert ev.read_results(out)["benchmarks"]["finance_instruct_500k"]["accuracy"] == 100.0


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
        assert f"only 0 of {len(items)} judge verdicts on finance_instruct_500k were usable" in err
        assert "call_failed" in err and "HTTP 500" in err and "nothing was written" in err
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
        log = _kill_when(proc, ".finr1-work/run/cache/judge-*/convfinqa.*.jsonl", out, 3)
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


def _judge_script(request):
    """The fair judge of conftest, answering a chat request (evaluate's judge always gets chat messages)."""
    from finr1_core.testing.fake_openai import FakeAnswer

    return FakeAnswer("the values agree.\n\\boxed{1}", reasoning="")


@pytest.mark.parametrize("api_mode", ["chat", "completions"])
@pytest.mark.parametrize("outcome", ["success", "judge_401", "model_500", "unreachable"])
def test_no_secret_reaches_any_file_or_stream(outcome, api_mode, ev, tmp_path, capfd):
    """Issue 14, "Leaks": distinctive keys in the environment and a password in both URLs, at debug level and JSON logs.

    Every file the run wrote (output, work dir with its result logs, report) and both streams are searched for
    the keys, their random parts and the URL password, on success and when the run fails (401, 500, dead server).
    """
    from finr1_core.testing.fake_openai import FakeAnswer
    from finr1_core.testing.leaks import assert_no_leaks, distinctive_secrets
    from finr1_evaluate.generation import render_prompt

    items = get_benchmark("finance_instruct_500k").load(samples=True)
    gold = ev.ScriptedModel(items, ev.gold_answer)
    raw = {render_prompt(it.messages): ev.gold_answer(it) for it in items}

    def model_script(request):
        if "prompt" in request:
            return FakeAnswer(raw.get(request["prompt"], "no idea"), reasoning="thinking")
        return gold(request)

    out = tmp_path / "out"
    cfg = tmp_path / "run.yaml"
    cfg.write_text("model:\n  max_retries: 0\njudge:\n  max_retries: 0\n", encoding="utf-8")
    with distinctive_secrets() as secrets:
        model_fault = (lambda r, a: "500") if outcome == "model_500" else None
        judge_fault = (lambda r, a: "401") if outcome == "judge_401" else None
        with (
            FakeOpenAIServer(model_script, model=MODEL, api_key=secrets.key, fault_fn=model_fault) as model,
            FakeOpenAIServer(_judge_script, model="judge", api_key=secrets.token, fault_fn=judge_fault) as judge,
        ):
            model_url = secrets.url(model.base_url if outcome != "unreachable" else "http://127.0.0.1:9/v1")
            argv = ["--log-level", "debug", "--log-format", "json", "run", "--config", str(cfg),
                    "--base-url", model_url, "--model", MODEL, "--api-key-env", secrets.key_env,
                    "--api-mode", api_mode, "--output", str(out), "--benchmark", "finance_instruct_500k",
                    "--samples", "--judge-base-url", secrets.url(judge.base_url), "--judge-model", "judge",
                    "--judge-api-key-env", secrets.token_env]  # fmt: skip
            rc = ev.run_cli(argv)
            streams = capfd.readouterr()
            if outcome == "success":
                assert rc == 0, streams.err[-2000:]
                assert ev.run_cli(argv) == 0  # left alone: the same lines again
                assert ev.run_cli(["--log-level", "debug", "report", str(out), "--output", str(tmp_path / "rep")]) == 0
                again = capfd.readouterr()
                streams = type(streams)(streams.out + again.out, streams.err + again.err)
                assert ev.read_results(out)["benchmarks"]["finance_instruct_500k"]["accuracy"] == 100.0
                assert f"{secrets.user}:<redacted>@" in ev.read_lineage(out)["config"]["model"]["base_url"]
            else:
                assert rc == 1
                final = json.loads(streams.err.strip().splitlines()[-1])  # --log-format json: the error line too
                assert final["level"] == "ERROR" and final["exit_code"] == 1
                expected = {
                    "judge_401": "refused the key in",
                    "model_500": "were usable",
                    "unreachable": "cannot reach",
                }
                assert expected[outcome] in final["message"]
                assert not (out / "lineage.json").exists()
    assert logging.getLogger().getEffectiveLevel() == logging.DEBUG  # the run logged at debug level
    if outcome == "model_500":  # the runner logs each failed call at debug: those lines were searched too
        assert '"level": "DEBUG", "logger": "finr1_core.runner.run"' in streams.err
    assert_no_leaks(secrets, paths=[tmp_path], texts={"stdout": streams.out, "stderr": streams.err})


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
