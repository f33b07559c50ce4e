"""Caching, --rescore, resume after a kill or failures, sampled-id reuse, and the raw HTTP completions mode."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from finr1_core.testing.fake_openai import FakeOpenAIServer
from finr1_evaluate.benchmarks import get_benchmark

MODEL = "m-under-test"


def _run(ev, server, output, *extra: str) -> int:
    return ev.run_cli(["run", "--base-url", server.base_url, "--model", MODEL, "--output", str(output), *extra])


def test_second_run_makes_no_model_requests_and_rescore_uses_a_new_judge(ev, tmp_path, capsys):
    items = get_benchmark("finqa").load(samples=True)
    script = ev.ScriptedModel(items, ev.wrong_answer)
    with FakeOpenAIServer(script, model=MODEL) as server:
        assert _run(ev, server, tmp_path, "--benchmark", "finqa", "--samples") == 0
        assert server.stats().chat_requests == len(items)
        lineage = (tmp_path / "lineage.json").read_bytes()
        server.reset_stats()
        capsys.readouterr()
        assert _run(ev, server, tmp_path, "--benchmark", "finqa", "--samples") == 0
        assert server.stats().chat_requests == 0  # the output is complete for this config: left alone
        assert "left alone" in capsys.readouterr().out
        assert (tmp_path / "lineage.json").read_bytes() == lineage  # not rewritten
        first = ev.read_results(tmp_path)["benchmarks"]["finqa"]
        assert first["accuracy"] == 0.0
        url = server.base_url
    # The model server is gone: --rescore needs no model endpoint; it scores the responses stored in the
    # artifact again, here with a new (lenient) judge. Another judge is another config: --force replaces it.
    rescore = ["run", "--model", MODEL, "--output", str(tmp_path), "--benchmark", "finqa", "--samples", "--rescore"]
    with FakeOpenAIServer(lambda r: "\\boxed{1}", model="judge2") as judge:
        judge_args = ["--judge-base-url", judge.base_url, "--judge-model", "judge2"]
        assert ev.run_cli([*rescore, *judge_args]) == 1
        assert "judge.model" in capsys.readouterr().err and judge.stats().chat_requests == 0
        assert ev.run_cli([*rescore, *judge_args, "--force"]) == 0
        assert judge.stats().chat_requests == len(items)
        judge.reset_stats()
        # rescoring again with the same judge: the output is complete for it, nothing is asked
        assert ev.run_cli([*rescore, *judge_args]) == 0 and judge.stats().chat_requests == 0
    rescored = ev.read_results(tmp_path)["benchmarks"]["finqa"]
    assert rescored["rule_only"]["accuracy"] == 0.0 and rescored["accuracy"] == 100.0
    assert rescored["sampled_ids"] == first["sampled_ids"]
    # a different sampling config has no cache: --rescore refuses in one line
    rc = ev.run_cli(
        [
            "run",
            "--model",
            MODEL,
            "--output",
            str(tmp_path),
            "--benchmark",
            "finqa",
            "--samples",
            "--rescore",
            "--force",
            "--temperature",
            "0.1",
            "--base-url",
            url,
        ]
    )
    assert rc == 1
    assert "--rescore: no responses" in capsys.readouterr().err


def test_failed_requests_are_retried_on_the_next_run_only(ev, tmp_path):
    items = get_benchmark("tfns").load(samples=True)
    script = ev.ScriptedModel(items, ev.gold_answer)
    failing = {items[0].messages[-1]["content"]}
    cfg = tmp_path / "no-retries.yaml"
    cfg.write_text("model:\n  max_retries: 0\nmin_usable:\n  generations: 0.8\n", encoding="utf-8")
    out = tmp_path / "out"

    def fault(request, attempt):
        return "500" if request["messages"][-1]["content"] in failing else None

    with FakeOpenAIServer(script, model=MODEL, fault_fn=fault) as server:
        assert _run(ev, server, out, "--benchmark", "tfns", "--samples", "--config", str(cfg)) == 0
    entry = ev.read_results(out)["benchmarks"]["tfns"]
    assert entry["generation_errors"] == 1 and entry["n_scored"] == len(items) - 1 and entry["accuracy"] == 100.0
    errors = [r for r in ev.read_samples(out) if r["error"]]
    assert len(errors) == 1 and errors[0]["error"].startswith("generation_error")
    # complete (7 of 8 usable is above the 0.8 asked for): the same command leaves it alone; --force redoes it
    with FakeOpenAIServer(script, model=MODEL) as server:
        assert _run(ev, server, out, "--benchmark", "tfns", "--samples", "--config", str(cfg)) == 0
        assert server.stats().chat_requests == 0
        assert _run(ev, server, out, "--benchmark", "tfns", "--samples", "--config", str(cfg), "--force") == 0
        assert server.stats().chat_requests == len(items)
    entry = ev.read_results(out)["benchmarks"]["tfns"]
    assert entry["generation_errors"] == 0 and entry["n_scored"] == len(items)


def test_too_few_usable_generations_fail_without_lineage_and_resume(ev, tmp_path, capsys):
    """Issue 14: a run whose usable share is below min_usable exits 1, writes no lineage, keeps the cache."""
    items = get_benchmark("tfns").load(samples=True)
    script = ev.ScriptedModel(items, ev.gold_answer)
    failing = {it.messages[-1]["content"] for it in items[:3]}  # 5 of 8 usable: 62% < 90%
    cfg = tmp_path / "no-retries.yaml"
    cfg.write_text("model:\n  max_retries: 0\n", encoding="utf-8")
    out = tmp_path / "out"

    def fault(request, attempt):
        return "500" if request["messages"][-1]["content"] in failing else None

    with FakeOpenAIServer(script, model=MODEL, fault_fn=fault) as server:
        assert _run(ev, server, out, "--benchmark", "tfns", "--samples", "--config", str(cfg)) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "tfns: only 5 of 8 generations are usable" in err and "min_usable.generations" in err
    assert "HTTP 500" in err and "run the same command again" in err
    assert not (out / "lineage.json").exists() and ev.read_evaluation(out) is None
    with FakeOpenAIServer(script, model=MODEL) as server:
        assert _run(ev, server, out, "--benchmark", "tfns", "--samples", "--config", str(cfg)) == 0
        assert server.stats().chat_requests == 3  # only the three failures are sent again
        assert set(server.stats().by_item) == failing
    entry = ev.read_results(out)["benchmarks"]["tfns"]
    assert entry["generation_errors"] == 0 and entry["n_scored"] == len(items) and entry["accuracy"] == 100.0


def test_empty_answers_are_not_usable_generations(ev, tmp_path, capsys):
    """A reasoning parser on a non-reasoning model sends content null: 0% with 100% extraction failures is a failure."""
    from finr1_core.testing.fake_openai import FakeAnswer

    items = get_benchmark("tfns").load(samples=True)
    with FakeOpenAIServer(lambda r: FakeAnswer("", reasoning="The answer is Bullish."), model=MODEL) as server:
        assert _run(ev, server, tmp_path / "out", "--benchmark", "tfns", "--samples") == 1
        assert server.stats().chat_requests == len(items)
    err = capsys.readouterr().err
    assert f"only 0 of {len(items)} generations are usable" in err and "empty answers" in err
    assert not (tmp_path / "out" / "lineage.json").exists()


def test_killed_run_resumes_without_repeating_finished_requests(ev, tmp_path):
    items = get_benchmark("convfinqa").load(samples=True)
    script = ev.ScriptedModel(items, ev.gold_answer)
    out = tmp_path / "out"
    with FakeOpenAIServer(script, model=MODEL, latency_s=0.25) as server:
        cmd = [
            sys.executable,
            "-m",
            "finr1_evaluate.cli",
            "run",
            "--base-url",
            server.base_url,
            "--model",
            MODEL,
            "--output",
            str(out),
            "--benchmark",
            "convfinqa",
            "--samples",
            "--concurrency",
            "1",
            "--no-progress",
        ]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        deadline = time.monotonic() + 60
        log = None
        while time.monotonic() < deadline:
            logs = list(out.glob(".finr1-work/run/cache/*/convfinqa.jsonl"))
            if logs and len(logs[0].read_text(encoding="utf-8").splitlines()) >= 3:
                log = logs[0]
                break
            time.sleep(0.05)
        assert log is not None, proc.stderr.read().decode() if proc.poll() is not None else "no progress"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        done_before = {json.loads(line)["item_id"] for line in log.read_text(encoding="utf-8").splitlines()}
        assert 3 <= len(done_before) < len(items)
        assert not (out / "lineage.json").exists()
        server.reset_stats()
        server.latency_s = 0.0
        assert _run(ev, server, out, "--benchmark", "convfinqa", "--samples", "--concurrency", "1") == 0
        resent = server.stats().chat_requests
    # only the unfinished items are asked again (plus at most the one in flight when killed)
    assert len(items) - len(done_before) <= resent <= len(items) - len(done_before) + 1
    entry = ev.read_results(out)["benchmarks"]["convfinqa"]
    assert entry["n"] == len(items) and entry["accuracy"] == 100.0


def test_sampled_ids_are_saved_and_reused(ev, tmp_path):
    data = ev.shared_path("tfns")
    items = get_benchmark("tfns").load(data)
    script = ev.ScriptedModel(items, ev.gold_answer)
    with FakeOpenAIServer(script, model=MODEL) as server:
        args = ["--benchmark", "tfns", "--data", str(data), "--limit", "30"]
        assert _run(ev, server, tmp_path / "a", *args) == 0
        ids_a = ev.read_results(tmp_path / "a")["benchmarks"]["tfns"]["sampled_ids"]
        assert len(ids_a) == 30
        # same seed, fresh folder: same ids; another seed: other ids
        assert _run(ev, server, tmp_path / "b", *args) == 0
        assert ev.read_results(tmp_path / "b")["benchmarks"]["tfns"]["sampled_ids"] == ids_a
        assert _run(ev, server, tmp_path / "c", *args, "--seed", "7") == 0
        assert ev.read_results(tmp_path / "c")["benchmarks"]["tfns"]["sampled_ids"] != ids_a
        # a forced re-run into the same folder reuses the saved ids, even if they were edited to a subset
        lineage_a = ev.read_lineage(tmp_path / "a")
        lineage_a["evaluation"]["benchmarks"]["tfns"]["sampled_ids"] = ids_a[:10]
        (tmp_path / "a" / "lineage.json").write_text(json.dumps(lineage_a), encoding="utf-8")
        server.reset_stats()
        assert _run(ev, server, tmp_path / "a", *args, "--max-tokens", "100", "--force") == 0
        assert ev.read_results(tmp_path / "a")["benchmarks"]["tfns"]["sampled_ids"] == ids_a[:10]
        assert server.stats().chat_requests == 10
        # --ids-from evaluates exactly another run's items (e.g. a second model on the same sample): the
        # artifact folder, and a results.json of finr1-evaluate 0.1
        assert (
            _run(
                ev,
                server,
                tmp_path / "d",
                "--benchmark",
                "tfns",
                "--data",
                str(data),
                "--ids-from",
                str(tmp_path / "c"),
            )
            == 0
        )
        ids_c = ev.read_results(tmp_path / "c")["benchmarks"]["tfns"]["sampled_ids"]
        assert ev.read_results(tmp_path / "d")["benchmarks"]["tfns"]["sampled_ids"] == ids_c
        inputs = {r["ref"]: r["revision_sha"] for r in ev.read_lineage(tmp_path / "d")["inputs"]}
        assert inputs[str(tmp_path / "c")] == ev.read_evaluation(tmp_path / "c")[1].revision_sha
        legacy = tmp_path / "legacy" / "results.json"
        legacy.parent.mkdir()
        legacy.write_text(
            json.dumps({"schema": "finr1-evaluate/results/v1", "benchmarks": {"tfns": {"sampled_ids": ids_a[:5]}}})
        )
        assert (
            _run(ev, server, tmp_path / "e", "--benchmark", "tfns", "--data", str(data), "--ids-from", str(legacy))
            == 0
        )
        assert ev.read_results(tmp_path / "e")["benchmarks"]["tfns"]["sampled_ids"] == ids_a[:5]


class _CompletionsHandler(BaseHTTPRequestHandler):
    """A bare /v1/completions server: answers the gold of the item whose prompt string it receives."""

    answers: dict[str, str] = {}
    bodies: list[dict] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append({"path": self.path, **body})
        text = type(self).answers.get(body["prompt"], "no idea")
        payload = json.dumps(
            {
                "choices": [{"text": f"<think>{ev_marker}</think>\n{text}", "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


ev_marker = "raw-mode reasoning \\boxed{424242}"


def test_raw_completions_mode(ev, tmp_path):
    from finr1_evaluate.rawhttp import render_prompt

    items = get_benchmark("ant_finance").load(samples=True)
    _CompletionsHandler.answers = {render_prompt(it.messages, "chatml"): ev.gold_answer(it) for it in items}
    _CompletionsHandler.bodies = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _CompletionsHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        rc = ev.run_cli(
            [
                "run",
                "--base-url",
                base,
                "--model",
                MODEL,
                "--api-mode",
                "completions",
                "--prompt-format",
                "chatml",
                "--benchmark",
                "ant_finance",
                "--samples",
                "--output",
                str(tmp_path),
            ]
        )
        assert rc == 0
        assert len(_CompletionsHandler.bodies) == len(items)
        body = _CompletionsHandler.bodies[0]
        assert body["path"] == "/v1/completions" and body["model"] == MODEL
        assert body["prompt"].startswith("<|im_start|>user\n") and body["prompt"].endswith("<|im_start|>assistant\n")
        assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.6, 0.95, 4096)
        # cached like chat mode
        _CompletionsHandler.bodies = []
        rc = ev.run_cli(
            [
                "run",
                "--base-url",
                base,
                "--model",
                MODEL,
                "--api-mode",
                "completions",
                "--prompt-format",
                "chatml",
                "--benchmark",
                "ant_finance",
                "--samples",
                "--output",
                str(tmp_path),
            ]
        )
        assert rc == 0 and _CompletionsHandler.bodies == []
    finally:
        httpd.shutdown()
        httpd.server_close()
    results = ev.read_results(tmp_path)
    assert results["benchmarks"]["ant_finance"]["accuracy"] == 100.0
    assert results["endpoint"]["api_mode"] == "completions"
    rows = ev.read_samples(tmp_path)
    assert all(row["reasoning"] == ev_marker and "424242" not in row["extracted"] for row in rows)
