"""Caching, --rescore, resume after a kill or failures, sampled-id reuse, and the raw HTTP completions mode."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

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
    # core's check_usable: the counts, why (with an example), nothing written, where the paid calls are kept
    assert "only 5 of 8 model answers on tfns were usable (62%, below --min-usable 90%)" in err
    assert "request_failed 3 (e.g. HTTP 500" in err and "nothing was written" in err
    assert str(out / ".finr1-work") in err and "resumes without paying twice" in err
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
    assert f"only 0 of {len(items)} model answers on tfns were usable" in err
    assert f"empty_answer {len(items)} (e.g. content null, the whole answer in reasoning_content" in err
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


# --- the raw completions mode: a prompt string through core's runner ------------------------------------------

RAW_REASONING = "raw-mode reasoning \\boxed{424242}"


class _RawModel:
    """A completions-route answer script: the gold of the item whose rendered prompt it receives; bodies kept."""

    def __init__(self, ev, items, prompt_format: str = "chatml") -> None:
        from finr1_evaluate.generation import render_prompt

        self.answers = {render_prompt(it.messages, prompt_format): ev.gold_answer(it) for it in items}
        self.bodies: list[dict] = []

    def __call__(self, request: dict):
        from finr1_core.testing.fake_openai import FakeAnswer

        self.bodies.append(request)
        assert "messages" not in request  # a prompt string, never chat messages
        return FakeAnswer(self.answers.get(request["prompt"], "no idea"), reasoning=RAW_REASONING)


def _raw_args(base_url: str, output, *extra: str) -> list[str]:
    return ["run", "--base-url", base_url, "--model", MODEL, "--api-mode", "completions", "--prompt-format",
            "chatml", "--benchmark", "ant_finance", "--samples", "--output", str(output), *extra]  # fmt: skip


@pytest.mark.parametrize("route", ["v1", "custom"])
def test_raw_completions_mode(route, ev, tmp_path):
    """`--api-mode completions`: a rendered prompt to {base_url}/completions (…/v1) or to a custom URL as given."""
    items = get_benchmark("ant_finance").load(samples=True)
    raw = _RawModel(ev, items)
    with FakeOpenAIServer(raw, model=MODEL) as server:
        # the fake serves POST /v1/completions: "…/v1" gets the route appended, a custom URL is posted to as is
        base = server.base_url if route == "v1" else server.base_url + "/completions"
        assert ev.run_cli(_raw_args(base, tmp_path)) == 0
        assert server.stats().chat_requests == len(raw.bodies) == len(items)
        body = raw.bodies[0]
        assert body["model"] == MODEL and body["stream"] is False
        assert body["prompt"].startswith("<|im_start|>user\n") and body["prompt"].endswith("<|im_start|>assistant\n")
        assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.6, 0.95, 4096)
        # cached like chat mode
        server.reset_stats()
        assert ev.run_cli(_raw_args(base, tmp_path)) == 0 and server.stats().chat_requests == 0
    results = ev.read_results(tmp_path)
    assert results["benchmarks"]["ant_finance"]["accuracy"] == 100.0
    assert results["endpoint"]["api_mode"] == "completions"
    rows = ev.read_samples(tmp_path)
    # reasoning inline in the text is split off as in chat mode, and usage is kept
    assert all(row["reasoning"] == RAW_REASONING and "424242" not in row["extracted"] for row in rows)
    assert all(row["usage"]["completion_tokens"] > 0 for row in rows)


def test_raw_mode_waits_out_a_retry_after_given_as_an_http_date(ev, tmp_path):
    """Raw mode retries through core's runner: a 429's ``Retry-After: <HTTP date>`` is honoured, not replaced by backoff.

    The evaluate-only raw client read only delta-seconds and retried after its own ~1 s backoff, before the date.
    """
    import email.utils

    raw = _RawModel(ev, get_benchmark("ant_finance").load(samples=True))
    dates: list[str] = []
    arrivals: dict[str, list[float]] = {}

    def retry_after() -> str:
        dates.append(email.utils.formatdate(time.time() + 3, usegmt=True))  # whole seconds: 2-3 s from now
        return dates[-1]

    def fault(request, attempt):
        arrivals.setdefault(request["prompt"], []).append(time.time())
        return "429" if attempt == 1 else None

    with FakeOpenAIServer(raw, model=MODEL, fault_fn=fault, retry_after=retry_after) as server:
        rc = ev.run_cli(_raw_args(server.base_url, tmp_path, "--limit", "2"))
        assert rc == 0 and server.stats().faults == {"429": 2} and len(arrivals) == 2
    not_before = min(email.utils.parsedate_to_datetime(d).timestamp() for d in dates)
    assert all(len(times) == 2 and times[1] >= not_before for times in arrivals.values()), (arrivals, dates)
    assert ev.read_results(tmp_path)["benchmarks"]["ant_finance"]["accuracy"] == 100.0
