"""finr1_core.runner against the fake server: resume after kill -9 and Ctrl-C, faults, retries, budgets."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import finr1_core
from finr1_core.errors import ArtifactError, AuthError, EndpointError, InputError, TooFewUsableError
from finr1_core.runner import (
    ChatRequest,
    ChatResult,
    CompletionRequest,
    EndpointConfig,
    Reply,
    ResultLog,
    UsableCount,
    check_endpoint,
    check_usable,
    iter_results,
    parse_chat_response,
    parse_completions_response,
    read_results,
    run_chat,
    run_completions,
    split_reasoning,
)
from finr1_core.runner._http import HttpError, HttpxClient, LeanHttpClient, make_client
from finr1_core.testing.fake_openai import FakeAnswer, FakeOpenAIServer, http_date, retry_after_date

SRC = str(Path(finr1_core.__file__).resolve().parents[1])


def _requests(n: int, samples: int = 1) -> list[ChatRequest]:
    return [
        ChatRequest(f"item-{i}", s, [{"role": "user", "content": f"item-{i} sample-{s}"}])
        for i in range(n)
        for s in range(samples)
    ]


def _endpoint(server: FakeOpenAIServer, **kwargs) -> EndpointConfig:
    defaults = {"backoff_initial_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 5.0}
    return EndpointConfig(base_url=server.base_url, model="fake-model", **{**defaults, **kwargs})


def _lines(path: Path) -> list[dict]:
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), "the log must end with a whole line"
    return [json.loads(line) for line in data.splitlines()]


def _run(requests, server, path, **kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("concurrency", 8)
    endpoint = kwargs.pop("endpoint", None) or _endpoint(server)
    return run_chat(requests, endpoint, path, **kwargs)


# -- reasoning split -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "field", "expected"),
    [
        ("<think>\nstep 1\n</think>\n\nThe answer is \\boxed{4}", None, ("step 1", "The answer is \\boxed{4}")),
        ("\nstep 1\n</think>\n\nanswer", None, ("step 1", "answer")),  # template opened <think>, server stripped it
        ("answer only", "\nthe trace", ("the trace", "answer only")),
        ("  <think>cut off by max_tokens", None, ("cut off by max_tokens", "")),
        ("plain answer", None, ("", "plain answer")),
        (None, "trace", ("trace", "")),
        (None, None, ("", "")),
        ("<think>a</think>b</think>c", None, ("a", "b</think>c")),  # the first closing tag ends the trace
        ("<think>inline</think>ans", "field", ("field\ninline", "ans")),
    ],
)
def test_split_reasoning(content, field, expected) -> None:
    assert split_reasoning(content, field) == expected


@pytest.mark.parametrize("mode", ["field", "reasoning", "inline", "inline_no_open", "none"])
def test_reasoning_arrives_either_way(tmp_path: Path, mode: str) -> None:
    answer = FakeAnswer("The answer is \\boxed{7}.", reasoning="\nFirst, 3 + 4 = 7.")
    with FakeOpenAIServer([answer], reasoning_mode=mode) as server:  # type: ignore[arg-type]
        _run(_requests(1), server, tmp_path / "r.jsonl")
    (result,) = read_results(tmp_path / "r.jsonl").values()
    assert result.completion == "The answer is \\boxed{7}."
    assert result.reasoning == ("" if mode == "none" else "First, 3 + 4 = 7.")
    assert result.content is not None and "\\boxed{7}" in result.content
    assert ("</think>" in result.content) is mode.startswith("inline")
    assert result.finish_reason == "stop" and result.usage and result.usage["total_tokens"] > 0
    assert result.latency_s > 0 and result.attempts == 1 and result.model == "fake-model"


# -- basic run, resume, lazy input -----------------------------------------------------------------


def test_run_then_resume_sends_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "r.jsonl"
    with FakeOpenAIServer(latency_s=0.01) as server:
        first = _run(_requests(20, samples=2), server, path, concurrency=6)
        assert (first.succeeded, first.failed, first.skipped, first.attempts) == (40, 0, 0, 40)
        assert first.prompt_tokens == 80 and first.complete
        second = _run(_requests(20, samples=2), server, path)
        assert (second.succeeded, second.skipped) == (0, 40)
        stats = server.stats()
        assert stats.chat_requests == 40 and set(stats.by_item.values()) == {1}
        assert stats.max_in_flight <= 6
    rows = _lines(path)
    assert len(rows) == 40 and len({(r["item_id"], r["sample_index"]) for r in rows}) == 40
    assert {r["completion"] for r in rows if r["item_id"] == "item-3"} == {"item-3 sample-0", "item-3 sample-1"}


def test_without_a_bar_progress_is_logged_periodically(tmp_path: Path, monkeypatch, caplog) -> None:
    from finr1_core.runner import run as run_module

    monkeypatch.setattr(run_module._Progress, "LOG_EVERY_S", 0.0)  # every result, so the test is fast
    caplog.set_level("INFO", logger="finr1_core.runner.run")
    with FakeOpenAIServer(latency_s=0.0) as server:
        _run(_requests(5), server, tmp_path / "r.jsonl", progress=False)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("runner progress:")]
    assert len(lines) == 5 and lines[-1].startswith("runner progress: 5/5 requests")


def test_input_is_consumed_lazily(tmp_path: Path) -> None:
    pulled = 0
    first_result_at: list[int] = []

    def gen():
        nonlocal pulled
        for request in _requests(40):
            pulled += 1
            yield request

    with FakeOpenAIServer(latency_s=0.05) as server:
        summary = _run(
            gen(), server, tmp_path / "r.jsonl", concurrency=4, on_result=lambda r: first_result_at.append(pulled)
        )
    assert summary.succeeded == 40
    assert first_result_at[0] <= 5  # four workers, one request each: no task per item up front


def test_a_failing_input_stops_the_run_and_keeps_the_log(tmp_path: Path) -> None:
    def gen():
        yield from _requests(5)
        raise InputError("items.jsonl:6: missing field 'question'")

    with FakeOpenAIServer(latency_s=0.01) as server, pytest.raises(InputError, match="items.jsonl:6"):
        _run(gen(), server, tmp_path / "r.jsonl", concurrency=1)
    assert len(_lines(tmp_path / "r.jsonl")) == 5


# -- kill -9 and Ctrl-C ----------------------------------------------------------------------------

_CHILD = """
import sys
from finr1_core.runner import ChatRequest, EndpointConfig, run_chat
url, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
endpoint = EndpointConfig(base_url=url, model="fake-model", backoff_initial_s=0.05)
requests = (
    ChatRequest(f"item-{i}", s, [{"role": "user", "content": f"item-{i} sample-{s}"}]) for i in range(n) for s in range(2)
)
try:
    run_chat(requests, endpoint, out, concurrency=8, progress=False)
except KeyboardInterrupt:
    sys.exit(130)
"""


def _spawn(server: FakeOpenAIServer, path: Path, n: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    args = [sys.executable, "-c", _CHILD, server.base_url, str(path), str(n)]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_lines(path: Path, count: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {count} lines")


def test_kill_9_mid_run_then_resume(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with FakeOpenAIServer(latency_s=0.1) as server:
        proc = _spawn(server, path, 100)
        _wait_for_lines(path, 40, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        finished = {(r["item_id"], r["sample_index"]) for r in _lines(path)}
        assert 40 <= len(finished) < 200
        with path.open("ab") as f:  # as if the kill had landed in the middle of a write
            f.write(b'{"item_id": "item-99", "sample_index": 1, "err')
        server.latency_s = 0.01
        summary = _run(_requests(100, samples=2), server, path, concurrency=8)
        stats = server.stats()
    rows = _lines(path)
    keys = Counter((r["item_id"], r["sample_index"]) for r in rows)
    assert len(rows) == 200 and set(keys.values()) == {1}  # exactly one row per (item, sample)
    assert summary.skipped == len(finished) and summary.succeeded == 200 - len(finished)
    for item_id, sample in finished:  # no finished call was requested again
        assert stats.by_item[f"{item_id} sample-{sample}"] == 1
    assert stats.chat_requests <= 200 + 8  # only the calls in flight at the kill were repeated


def test_ctrl_c_stops_cleanly_and_saves_in_flight_work(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with FakeOpenAIServer(latency_s=0.3) as server:
        proc = _spawn(server, path, 50)
        _wait_for_lines(path, 16, proc)
        requested = server.stats().chat_requests
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
        rows = _lines(path)
        stats = server.stats()
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr
        # Waited for the in-flight calls, started none of the rest: at most one round of the 8 workers can
        # have begun while the signal was on its way.
        assert stats.chat_requests <= requested + 8, (requested, stats.chat_requests)
        assert len(rows) < 100
        assert stats.ok == len(rows)  # every answer the server sent was saved
        server.latency_s = 0.01
        summary = _run(_requests(50, samples=2), server, path)
        assert summary.skipped == len(rows)
        assert set(server.stats().by_item.values()) == {1}  # nothing was requested twice
    assert len(_lines(path)) == 100


def test_a_second_ctrl_c_abandons_in_flight_calls(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with FakeOpenAIServer(latency_s=30) as server:
        proc = _spawn(server, path, 50)
        deadline = time.monotonic() + 120
        while server.stats().chat_requests < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        # The second Ctrl-C goes once the first was handled (two signals before the handler runs would merge).
        first: list[str] = []
        while not first or "interrupted: waiting for" not in first[-1]:
            first.append(proc.stderr.readline())  # type: ignore[union-attr]
            assert first[-1], "".join(first)  # EOF: the child ended without saying it was interrupted
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=120)
        stderr = "".join(first) + rest
    assert proc.returncode == 130 and "Traceback" not in stderr
    assert "abandoning 8 in-flight requests" in stderr
    assert path.read_bytes() == b""


def test_an_error_in_on_result_stops_the_run(tmp_path: Path) -> None:
    def explode(result: ChatResult) -> None:
        raise RuntimeError(f"callback failed on {result.item_id}")

    with FakeOpenAIServer(latency_s=0.01) as server, pytest.raises(RuntimeError, match="callback failed"):
        _run(_requests(100), server, tmp_path / "r.jsonl", concurrency=4, on_result=explode)
    assert len(_lines(tmp_path / "r.jsonl")) <= 4  # written before the callback ran; the rest was not sent


# -- faults, retries, Retry-After --------------------------------------------------------------------

# 401/402/403 are not here: they stop the whole run (test_auth_errors_stop_the_run_at_once).
ALL_FAULTS = {kind: 0.025 for kind in ("429", "500", "503", "400", "404", "hang", "malformed", "drop")}


@pytest.mark.parametrize("http_client", ["lean", "httpx"])
def test_twenty_percent_faults_of_every_kind(tmp_path: Path, http_client: str) -> None:
    path = tmp_path / "r.jsonl"
    n = 200
    with FakeOpenAIServer(latency_s=0.005, faults=ALL_FAULTS, retry_after=0, hang_s=3, seed=11) as server:
        endpoint = _endpoint(server, timeout_s=0.3, max_retries=4, http_client=http_client)
        summary = _run(_requests(n), server, path, concurrency=32, endpoint=endpoint)
        stats = server.stats()
        assert set(stats.faults) == set(ALL_FAULTS)  # every kind was injected
        rows = _lines(path)
        assert len(rows) == n and len({r["item_id"] for r in rows}) == n  # no item lost, none twice
        assert summary.succeeded + summary.failed == n
        failed = [r for r in rows if r["error"] is not None]
        assert len(failed) == summary.failed >= 1  # 400 and 404 are final
        for row in failed:
            if row["error"].startswith(("HTTP 400", "HTTP 404")):  # final at once, maybe after earlier faults
                assert "after" not in row["error"] and row["attempts"] <= 5
            else:
                assert row["attempts"] == 5 and "(after 5 attempts)" in row["error"]
        for row in rows:
            if row["error"] is None:
                assert row["completion"] == row["item_id"] + " sample-0"
        assert summary.attempts > n  # the retryable faults were retried

        # Resume: only the failed items are sent again (retry_failed defaults to True).
        server.faults = {}
        server.reset_stats()
        again = _run(_requests(n), server, path, endpoint=endpoint)
        assert again.skipped == n - len(failed) and again.succeeded == len(failed)
        assert sorted(server.stats().by_item) == sorted(f"{r['item_id']} sample-0" for r in failed)
    results = read_results(path)
    assert len(results) == n and all(r.ok for r in results.values())
    assert len(_lines(path)) == n + len(failed)  # the superseded failure lines stay, readers skip them


def test_failed_items_are_not_resent_with_retry_failed_false(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with FakeOpenAIServer(
        fault_fn=lambda req, attempt: "400" if "item-1 " in req["messages"][0]["content"] else None
    ) as server:
        _run(_requests(3), server, path)
        server.fault_fn = None
        summary = _run(_requests(3), server, path, retry_failed=False)
        assert (summary.skipped, summary.attempts) == (3, 0)
        assert server.requests_for("item-1 sample-0") == 1
    assert read_results(path)[("item-1", 0)].error == "HTTP 400: injected fault 400"


@pytest.mark.parametrize("kind", ["400", "404"])
def test_other_4xx_are_not_retried(tmp_path: Path, kind: str) -> None:
    with FakeOpenAIServer(fault_fn=lambda req, attempt: kind) as server:
        summary = _run(_requests(1), server, tmp_path / "r.jsonl")
        assert server.stats().chat_requests == 1
    (result,) = read_results(tmp_path / "r.jsonl").values()
    assert summary.failed == 1 and result.attempts == 1 and result.error.startswith(f"HTTP {kind}: injected fault")


def test_5xx_retried_until_the_budget_then_recorded(tmp_path: Path) -> None:
    with FakeOpenAIServer(faults={"503": 1.0}) as server:
        endpoint = _endpoint(server, max_retries=2)
        summary = _run(_requests(2), server, tmp_path / "r.jsonl", endpoint=endpoint)
        assert server.stats().chat_requests == 6
    assert summary.failed == 2 and summary.attempts == 6
    for result in read_results(tmp_path / "r.jsonl").values():
        assert result.attempts == 3 and result.error == "HTTP 503: injected fault 503 (after 3 attempts)"


def test_timeout_then_success(tmp_path: Path) -> None:
    with FakeOpenAIServer(fault_fn=lambda req, attempt: "hang" if attempt == 1 else None, hang_s=300) as server:
        start = time.monotonic()
        _run(_requests(1), server, tmp_path / "r.jsonl", endpoint=_endpoint(server, timeout_s=0.3))
        elapsed = time.monotonic() - start
    (result,) = read_results(tmp_path / "r.jsonl").values()
    assert result.ok and result.attempts == 2
    # Gave up on the hang after its timeout (0.3 s), far sooner than the server would have ended it (300 s).
    assert 0.3 <= elapsed < 150


def _gap_between_attempts(server: FakeOpenAIServer) -> float:
    times = [entry["time"] for entry in server.request_log]
    assert len(times) == 2
    return times[1] - times[0]


@pytest.mark.parametrize("retry_after", [1, "date"])
def test_retry_after_is_honoured(tmp_path: Path, retry_after) -> None:
    value = http_date(2) if retry_after == "date" else retry_after
    first_only = {"fault_fn": lambda req, attempt: "429" if attempt == 1 else None, "retry_after": value}
    with FakeOpenAIServer(**first_only) as server:
        # A 60 s backoff (at least 30 s with its jitter) would show if Retry-After were ignored.
        endpoint = _endpoint(server, backoff_initial_s=60, backoff_max_s=60)
        _run(_requests(1), server, tmp_path / "r.jsonl", endpoint=endpoint)
        gap = _gap_between_attempts(server)
    # An HTTP date has one-second resolution: "2 s from now" means between 1 and 2 s. The upper bound leaves
    # a loaded machine 18 s of slack and still tells Retry-After from the backoff.
    assert (1.0 <= gap < 20) if retry_after == 1 else (0.9 <= gap < 20), gap
    (result,) = read_results(tmp_path / "r.jsonl").values()
    assert result.ok and result.attempts == 2


def test_retry_after_is_capped(tmp_path: Path) -> None:
    with FakeOpenAIServer(fault_fn=lambda req, attempt: "429" if attempt == 1 else None, retry_after=3600) as server:
        _run(_requests(1), server, tmp_path / "r.jsonl", endpoint=_endpoint(server, max_retry_after_s=0.2))
        # Waited the cap (0.2 s, not the 3600 s asked for, nor the 0.01 s backoff); generous for a loaded machine.
        assert 0.2 <= _gap_between_attempts(server) < 60


def test_too_many_failures_in_a_row_stop_the_run(tmp_path: Path) -> None:
    with FakeOpenAIServer(faults={"400": 1.0}) as server:
        with pytest.raises(EndpointError, match="5 failed requests in a row"):
            _run(_requests(50), server, tmp_path / "r.jsonl", concurrency=1, max_consecutive_failures=5)
        assert server.stats().chat_requests == 5
    assert len(_lines(tmp_path / "r.jsonl")) == 5  # recorded, not dropped


# -- budgets ---------------------------------------------------------------------------------------


def test_max_requests_budget_then_resume(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with FakeOpenAIServer() as server:
        summary = _run(_requests(30), server, path, max_requests=10)
        assert summary.stopped_reason == "max_requests" and not summary.complete
        assert summary.succeeded == 10 and server.stats().chat_requests == 10
        rest = _run(_requests(30), server, path)
        assert rest.complete and rest.succeeded == 20 and server.stats().chat_requests == 30
    assert len(_lines(path)) == 30


def test_max_total_tokens_budget(tmp_path: Path) -> None:
    with FakeOpenAIServer([FakeAnswer("one two three four five", reasoning="six seven eight")]) as server:
        # Each call: 2 prompt + 8 completion = 10 tokens; one at a time, the budget of 35 stops after 4.
        summary = _run(_requests(20), server, tmp_path / "r.jsonl", concurrency=1, max_total_tokens=35)
    assert summary.stopped_reason == "max_total_tokens"
    assert (summary.succeeded, summary.total_tokens) == (4, 40)


# -- the log -----------------------------------------------------------------------------------------


def test_unfinished_last_line_is_cut_and_redone(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    done = [
        ChatResult(f"item-{i}", 0, completion="x", content="x", finish_reason="stop", attempts=1) for i in range(3)
    ]
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in done) + '{"item_id": "item-3", "sample_')
    assert len(read_results(path)) == 3  # readers ignore the unfinished line
    with FakeOpenAIServer() as server:
        summary = _run(_requests(5), server, path)
        assert summary.skipped == 3 and sorted(server.stats().by_item) == ["item-3 sample-0", "item-4 sample-0"]
    assert [r["item_id"] for r in _lines(path)][:3] == ["item-0", "item-1", "item-2"]
    assert len(_lines(path)) == 5


def test_a_corrupt_line_in_the_middle_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(
        '{"item_id": "a", "sample_index": 0, "error": null}\nnot json\n{"item_id": "b", "sample_index": 0}\n'
    )
    with pytest.raises(InputError, match=r"r\.jsonl:2: not a runner result row"):
        ResultLog(path).open()


def test_readers_prefer_success_then_the_last_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    rows = [
        ChatResult("a", 0, error="HTTP 500 (after 6 attempts)"),
        ChatResult("b", 0, error="first failure"),
        ChatResult("a", 0, completion="ok"),
        ChatResult("a", 0, error="a later failure"),
        ChatResult("b", 0, error="second failure"),
    ]
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in rows))
    results = list(iter_results(path))
    assert [(r.item_id, r.completion, r.error) for r in results] == [("a", "ok", None), ("b", "", "second failure")]
    with pytest.raises(InputError, match="does not exist"):
        read_results(tmp_path / "missing.jsonl")


def test_the_log_is_locked_while_a_run_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with ResultLog(path):
        with pytest.raises(ArtifactError, match="in use by another process"):
            ResultLog(path).open()
    ResultLog(path).open().close()  # released


# -- endpoint check and keys ------------------------------------------------------------------------


def test_check_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINR1_TEST_KEY", "sk-right-key-123456")
    with FakeOpenAIServer(model="served", api_key="sk-right-key-123456") as server:
        good = EndpointConfig(base_url=server.base_url, model="served", api_key_env="FINR1_TEST_KEY")
        assert check_endpoint(good) == ["served"]
        with pytest.raises(EndpointError, match="does not serve model 'other'"):
            check_endpoint(good.model_copy(update={"model": "other"}))
        monkeypatch.setenv("FINR1_TEST_KEY", "sk-wrong-key-654321")
        with pytest.raises(
            EndpointError, match=r"refused the key in \$FINR1_TEST_KEY \(endpoint.api_key_env\) \(HTTP 401"
        ) as refused:
            check_endpoint(good)
        assert "sk-wrong-key-654321" not in str(refused.value)
        monkeypatch.delenv("FINR1_TEST_KEY")
        with pytest.raises(EndpointError, match="environment variable FINR1_TEST_KEY .* is not set"):
            check_endpoint(good)
        port = server.port
    with pytest.raises(EndpointError, match=f"cannot reach http://127.0.0.1:{port}/v1/models") as unreachable:
        check_endpoint(EndpointConfig(base_url=f"http://127.0.0.1:{port}/v1", model="served"))
    assert "\n" not in str(unreachable.value)


def test_the_key_is_sent_and_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINR1_TEST_KEY", "sk-secret-abcdef123456")
    with FakeOpenAIServer(api_key="sk-secret-abcdef123456") as server:
        endpoint = _endpoint(server, api_key_env="FINR1_TEST_KEY")
        summary = _run(_requests(3), server, tmp_path / "r.jsonl", endpoint=endpoint)
    assert summary.succeeded == 3
    assert b"sk-secret" not in (tmp_path / "r.jsonl").read_bytes()
    assert "sk-secret" not in endpoint.model_dump_json()


def test_unreachable_endpoint_during_a_run_is_recorded(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        endpoint = _endpoint(server, max_retries=1)
    summary = run_chat(_requests(2), endpoint, tmp_path / "r.jsonl", check=False, progress=False)
    assert summary.failed == 2
    for result in read_results(tmp_path / "r.jsonl").values():
        assert result.error.startswith("connection error: cannot connect to 127.0.0.1") and result.attempts == 2


# -- the lean HTTP client on odd but legal responses ---------------------------------------------------

_BODY = b'{"ok": true}'
_RESPONSES = {
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n%s\r\n7;x=y\r\n%s\r\n0\r\n\r\n"
    % (_BODY[:5], _BODY[5:]),
    "gzip": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(gzip.compress(_BODY))
    + gzip.compress(_BODY),
    "close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + _BODY,
    "continue": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n" + _BODY,
}


@pytest.mark.parametrize("shape", sorted(_RESPONSES))
def test_lean_client_parses_fragmented_responses(shape: str) -> None:
    raw = _RESPONSES[shape]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2 if shape != "close" else 1):  # two requests on one connection when it stays open
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"POST /v1/x HTTP/1.1\r\n") and b"Host: 127.0.0.1:" in head
            await reader.readexactly(int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]))
            for i in range(0, len(raw), 3):  # three bytes at a time
                writer.write(raw[i : i + 3])
                await writer.drain()
                await asyncio.sleep(0)
        writer.close()

    async def main() -> list:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = LeanHttpClient(f"http://127.0.0.1:{port}/v1", {"Content-Type": "application/json"}, 5.0)
        try:
            return [await client.request("POST", "/v1/x", b"{}") for _ in range(2)]
        finally:
            await client.aclose()
            server.close()

    for response in asyncio.run(main()):
        assert (response.status, response.body) == (200, _BODY)


def test_lean_client_reports_a_refused_connection() -> None:
    async def main() -> None:
        client = LeanHttpClient("http://127.0.0.1:9/v1", {}, 2.0)
        await client.request("POST", "/v1/x", b"{}")

    with pytest.raises(HttpError, match="cannot connect to 127.0.0.1:9"):
        asyncio.run(main())


# -- TLS and proxies ---------------------------------------------------------------------------------


@pytest.fixture
def tls_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A server context with a self-signed certificate for 127.0.0.1, trusted through SSL_CERT_FILE."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.mark.parametrize("http_client", ["lean", "httpx"])
def test_https_endpoint(tmp_path: Path, tls_context: ssl.SSLContext, http_client: str) -> None:
    with FakeOpenAIServer(ssl_context=tls_context, reasoning_mode="inline") as server:
        assert server.base_url.startswith("https://127.0.0.1:")
        endpoint = _endpoint(server, http_client=http_client)
        summary = run_chat(_requests(5), endpoint, tmp_path / "r.jsonl", progress=False)  # check_endpoint included
    assert summary.succeeded == 5


def test_https_certificate_is_verified(tmp_path: Path, tls_context: ssl.SSLContext, monkeypatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    with FakeOpenAIServer(ssl_context=tls_context) as server:
        endpoint = _endpoint(server, max_retries=0)
        with pytest.raises(EndpointError, match="cannot reach .*CERTIFICATE_VERIFY_FAILED"):
            check_endpoint(endpoint)
        summary = run_chat(_requests(1), endpoint, tmp_path / "r.jsonl", progress=False, check=False)
    assert summary.failed == 1
    assert "CERTIFICATE_VERIFY_FAILED" in read_results(tmp_path / "r.jsonl")[("item-0", 0)].error


def test_a_proxy_switches_to_httpx_except_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert isinstance(make_client("https://api.deepseek.com", {}, 5.0), HttpxClient)
    assert isinstance(make_client("https://127.0.0.1:8443/v1", {}, 5.0), LeanHttpClient)
    assert isinstance(make_client("http://localhost:8000/v1", {}, 5.0, kind="lean"), LeanHttpClient)
    monkeypatch.setenv("NO_PROXY", "deepseek.com")
    assert isinstance(make_client("https://api.deepseek.com", {}, 5.0), LeanHttpClient)


# -- authentication and permission errors -------------------------------------------------------------


@pytest.mark.parametrize("status", ["401", "402", "403"])
def test_auth_errors_stop_the_run_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: str) -> None:
    monkeypatch.setenv("FINR1_TEST_KEY", "sk-distinctive-key-0123456789")
    fault = {"fault_fn": lambda req, attempt: status if "item-3 " in req["messages"][0]["content"] else None}
    with FakeOpenAIServer(**fault) as server:
        endpoint = _endpoint(server, api_key_env="FINR1_TEST_KEY")
        endpoint = endpoint.model_copy(update={"base_url": server.base_url.replace("://", "://user:pa55w0rd@")})
        with pytest.raises(AuthError) as err:
            _run(_requests(50), server, tmp_path / "r.jsonl", endpoint=endpoint, concurrency=1)
        assert server.stats().chat_requests == 4  # items 0-2 answered, item 3 refused, nothing after
    message = str(err.value)
    assert f"http://127.0.0.1:{server.port}/v1/chat/completions refused the key in $FINR1_TEST_KEY" in message
    assert f"HTTP {status}" in message and "\n" not in message
    assert "pa55w0rd" not in message and "user@" not in message and "sk-distinctive" not in message
    results = read_results(tmp_path / "r.jsonl")
    assert sorted(results) == [("item-0", 0), ("item-1", 0), ("item-2", 0), ("item-3", 0)]
    assert results[("item-3", 0)].error == f"HTTP {status}: injected fault {status}"  # written, sent again on resume


def test_a_key_revoked_mid_run_resumes_after_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with FakeOpenAIServer(revoke_after=5) as server:
        with pytest.raises(AuthError, match="refused requests without a key"):
            _run(_requests(20), server, path, concurrency=1, check=False)
    with FakeOpenAIServer() as server:
        summary = _run(_requests(20), server, path, concurrency=4)
        assert server.stats().chat_requests == 15  # the refused call is a logged failure: it is sent again
    assert summary.skipped == 5 and len(read_results(path)) == 20


def test_url_credentials_are_sent_as_basic_auth_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = EndpointConfig(base_url="http://alice:s3cr%40t-pass@127.0.0.1:9/v1", model="m")
    assert endpoint.request_headers()["Authorization"] == "Basic YWxpY2U6czNjckB0LXBhc3M="  # alice:s3cr@t-pass
    assert endpoint.display_url == "http://127.0.0.1:9/v1"
    with pytest.raises(EndpointError) as err:
        check_endpoint(endpoint)
    assert "s3cr" not in str(err.value) and "alice" not in str(err.value)
    assert str(err.value).startswith("cannot reach http://127.0.0.1:9/v1/models")
    monkeypatch.setenv("FINR1_TEST_KEY", "sk-bearer-wins-0123456789")
    keyed = endpoint.model_copy(update={"api_key_env": "FINR1_TEST_KEY"})
    assert keyed.request_headers()["Authorization"] == "Bearer sk-bearer-wins-0123456789"


# -- raw completions through the same runner --------------------------------------------------------------


def _prompts(n: int) -> list[CompletionRequest]:
    return [CompletionRequest(f"item-{i}", 0, f"prompt-{i}", {"max_tokens": 64}) for i in range(n)]


@pytest.mark.parametrize("custom_url", [False, True], ids=["v1", "custom-url"])
def test_raw_completions_run_through_the_runner(tmp_path: Path, custom_url: bool) -> None:
    path = tmp_path / "r.jsonl"
    with FakeOpenAIServer(lambda r: FakeAnswer(f"answer to {r['prompt']}", reasoning="think")) as server:
        # base_url ending in /v1 gets /completions; any other URL is posted to as given (a custom inference URL).
        base = server.base_url + "/completions" if custom_url else server.base_url
        endpoint = EndpointConfig(base_url=base, model="fake-model", backoff_initial_s=0.01)
        summary = run_completions(_prompts(5), endpoint, path, progress=False, concurrency=2)
        assert server.stats().chat_requests == 5 and summary.succeeded == 5
    results = read_results(path)
    assert results[("item-3", 0)].completion == "answer to prompt-3"
    assert results[("item-3", 0)].reasoning == "think"  # inline <think> split off as in chat mode


def test_raw_completions_honour_an_http_date_retry_after_and_resume(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with FakeOpenAIServer(
        fault_fn=lambda req, attempt: "429" if attempt == 1 else None, retry_after=retry_after_date(2)
    ) as server:
        endpoint = _endpoint(server, backoff_initial_s=10, backoff_max_s=10)  # a backoff would take 10 s
        run_completions(_prompts(1), endpoint, path, progress=False)
        gap = _gap_between_attempts(server)
        assert 0.9 <= gap < 2.5, gap  # the date's one-second resolution, not the 10 s backoff
        server.reset_stats()
        again = run_completions(_prompts(3), endpoint, path, progress=False)
        assert again.skipped == 1 and server.stats().chat_requests == 2 + 2  # two new items, each 429 once


def test_parsers_of_both_routes() -> None:
    chat = {"choices": [{"message": {"content": "a", "reasoning_content": "r"}, "finish_reason": "stop"}]}
    assert parse_chat_response(chat) == Reply("a", "r", "stop", None, None)
    assert parse_completions_response({"choices": [{"text": "t", "finish_reason": "length"}]}).content == "t"
    assert parse_completions_response({"response": "custom server"}).content == "custom server"
    with pytest.raises(KeyError):
        parse_completions_response({"nothing": 1})
    with pytest.raises(TypeError):
        parse_chat_response({"choices": [{"message": {"content": 5}}]})


# -- the shared min_usable rule -----------------------------------------------------------------------------


def test_check_usable_fails_below_the_share_with_one_line(tmp_path: Path) -> None:
    count = UsableCount()
    for i in range(10):
        count.add(i < 4, None if i < 4 else "request_failed", "HTTP 500: boom (after 6 attempts)")
    check_usable(count, 0.4, what="teacher calls")  # 40% is not below 40%
    check_usable(UsableCount(), 0.9, what="teacher calls")  # nothing counted: nothing to decide
    check_usable(count, 0.0, what="teacher calls")  # 0 disables it
    with pytest.raises(TooFewUsableError) as err:
        check_usable(count, 0.5, what="teacher calls", setting="--min-usable", resume_dir=tmp_path)
    message = str(err.value)
    assert message.startswith("only 4 of 10 teacher calls were usable (40%, below --min-usable 50%)")
    assert "request_failed 6 (e.g. HTTP 500: boom" in message and str(tmp_path) in message and "\n" not in message
