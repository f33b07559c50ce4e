"""The loopback OpenAI-compatible fake server: answers, reasoning shapes, faults, counters, speed."""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

import finr1_core
from finr1_core.testing.fake_openai import (
    FakeAnswer,
    FakeOpenAIServer,
    both_verdicts_judge,
    echo_judge,
    http_date,
    rambling_judge,
    retry_after_date,
)

SRC = str(Path(finr1_core.__file__).resolve().parents[1])


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _post(server: FakeOpenAIServer, text: str, timeout: float = 5.0, **params) -> httpx.Response:
    body = {"model": "fake-model", "messages": _user(text), **params}
    return httpx.post(server.base_url + "/chat/completions", json=body, timeout=timeout)


def test_echo_with_reasoning_content_and_usage() -> None:
    with FakeOpenAIServer(default_reasoning="\nthink hard now") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused")
        r = client.chat.completions.create(model="fake-model", messages=_user("what is two plus two"))
    message = r.choices[0].message
    assert message.content == "what is two plus two"
    assert message.model_extra["reasoning_content"] == "\nthink hard now"
    assert r.choices[0].finish_reason == "stop"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (5, 8, 13)
    assert server.base_url.endswith("/v1")


def test_scripted_answers_callable_dict_list() -> None:
    with FakeOpenAIServer(lambda req: f"n={len(req['messages'])}") as server:
        assert _post(server, "x").json()["choices"][0]["message"]["content"] == "n=1"
    script = {"capital": "Paris", "sum": {"content": "\\boxed{4}", "reasoning": "2+2"}}
    with FakeOpenAIServer(script) as server:
        assert _post(server, "the capital of France").json()["choices"][0]["message"]["content"] == "Paris"
        message = _post(server, "a sum please").json()["choices"][0]["message"]
        assert (message["content"], message["reasoning_content"]) == ("\\boxed{4}", "2+2")
        assert _post(server, "no key matches").json()["choices"][0]["message"]["content"] == "no key matches"
    with FakeOpenAIServer(["a", FakeAnswer("b", reasoning="r", finish_reason="length")]) as server:
        got = [_post(server, "q").json()["choices"][0] for _ in range(3)]
    assert [c["message"]["content"] for c in got] == ["a", "b", "a"]
    assert got[1]["finish_reason"] == "length" and got[1]["message"]["reasoning_content"] == "r"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("inline", {"content": "<think>R</think>\n\nA"}),
        ("inline_no_open", {"content": "R</think>\n\nA"}),
        ("reasoning", {"content": "A", "reasoning": "R"}),
        ("field", {"content": "A", "reasoning_content": "R"}),
        ("none", {"content": "A"}),
    ],
)
def test_reasoning_modes(mode: str, expected: dict[str, str]) -> None:
    with FakeOpenAIServer([FakeAnswer("A", reasoning="R")], reasoning_mode=mode) as server:  # type: ignore[arg-type]
        message = _post(server, "q").json()["choices"][0]["message"]
    assert {k: v for k, v in message.items() if k != "role" and v is not None} == expected


def test_max_tokens_truncates_with_length() -> None:
    with FakeOpenAIServer([FakeAnswer("one two three four five", reasoning="r1 r2")]) as server:
        choice = _post(server, "q", max_tokens=4).json()["choices"][0]
        assert choice["finish_reason"] == "length"
        assert choice["message"]["content"] == "one two"
        assert _post(server, "q", max_tokens=40).json()["choices"][0]["finish_reason"] == "stop"


def test_streaming_with_the_sdk() -> None:
    with FakeOpenAIServer([FakeAnswer("The answer is 42.", reasoning="Thinking it over.")]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused")
        chunks = list(
            client.chat.completions.create(
                model="fake-model", messages=_user("q"), stream=True, stream_options={"include_usage": True}
            )
        )
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in chunks if c.choices
    )
    assert (content, reasoning) == ("The answer is 42.", "Thinking it over.")
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 7


def test_models_health_routes_and_api_key() -> None:
    with FakeOpenAIServer(model="m1", api_key="sk-test-0123456789") as server:
        root = server.base_url.removesuffix("/v1")
        assert httpx.get(root + "/health").status_code == 200
        assert httpx.get(server.base_url + "/models").status_code == 401
        good = openai.OpenAI(base_url=server.base_url, api_key="sk-test-0123456789")
        assert [m.id for m in good.models.list()] == ["m1"]
        assert good.chat.completions.create(model="m1", messages=_user("hi")).choices[0].message.content == "hi"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=server.base_url, api_key="wrong", max_retries=0).models.list()
        headers = {"Authorization": "Bearer sk-test-0123456789"}
        assert httpx.get(server.base_url + "/nope", headers=headers).status_code == 404
        bad = httpx.post(server.base_url + "/chat/completions", content=b"{not json", headers=headers)
        assert bad.status_code == 400


@pytest.mark.parametrize("kind", ["429", "500", "502", "503", "400", "404", "401", "402", "403"])
def test_status_faults(kind: str) -> None:
    with FakeOpenAIServer(fault_fn=lambda req, attempt: kind if attempt == 1 else None, retry_after=7) as server:
        first, second = _post(server, "q"), _post(server, "q")
        assert server.stats().faults == {kind: 1}
    assert first.status_code == int(kind)
    assert "error" in first.json()
    assert (first.headers.get("retry-after") == "7") is (kind == "429")
    assert second.status_code == 200


def test_retry_after_http_date_is_sent_verbatim() -> None:
    date = http_date(30)
    with FakeOpenAIServer(faults={"429": 1.0}, retry_after=date) as server:
        assert _post(server, "q").headers["retry-after"] == date


def test_malformed_drop_and_hang_faults() -> None:
    with FakeOpenAIServer(fault_fn=lambda req, attempt: _user_text(req), hang_s=120) as server:
        malformed = _post(server, "malformed")
        assert malformed.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(malformed.content)
        with pytest.raises(httpx.TransportError):
            _post(server, "drop")
        with pytest.raises(httpx.ReadTimeout):  # only the client's own 0.3 s read timeout raises this
            _post(server, "hang", timeout=0.3)  # the server would hold it for 120 s
        assert server.stats().faults == {"malformed": 1, "drop": 1, "hang": 1}
        assert _post(server, "fine").status_code == 200  # the server still serves after all that


def _user_text(req: dict) -> str | None:
    text = req["messages"][-1]["content"]
    return text if text in ("malformed", "drop", "hang") else None


def test_fault_rates_are_counted_and_seeded() -> None:
    def run() -> tuple[list[int], dict[str, int]]:
        with FakeOpenAIServer(faults={"500": 0.3, "503": 0.2}, seed=3) as server, httpx.Client() as client:
            url = server.base_url + "/chat/completions"
            codes = [client.post(url, json={"messages": _user(f"q{i}")}).status_code for i in range(100)]
            return codes, server.stats().faults

    codes, faults = run()
    assert faults == {"500": codes.count(500), "503": codes.count(503)}
    assert 15 <= faults["500"] <= 45 and 8 <= faults["503"] <= 35
    assert run()[0] == codes  # same seed, same faults


def test_counters_per_item_and_reset() -> None:
    with FakeOpenAIServer(item_key=lambda req: req["messages"][-1]["content"].split()[0]) as server:
        for text in ["a 1", "a 2", "b 1"]:
            _post(server, text)
        stats = server.stats()
        assert (stats.requests, stats.chat_requests, stats.ok) == (3, 3, 3)
        assert stats.by_item == {"a": 2, "b": 1}
        assert server.requests_for("a") == 2 and server.requests_for("zzz") == 0
        server.reset_stats()
        assert server.stats().chat_requests == 0


def test_bad_configuration() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        FakeOpenAIServer(faults={"418": 0.1})
    with pytest.raises(ValueError, match="more than 1"):
        FakeOpenAIServer(faults={"500": 0.7, "503": 0.7})


def test_256_concurrent_requests_at_half_a_second() -> None:
    """One event loop serves 256 slow requests at once (no thread per request)."""

    async def one(port: int) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = json.dumps({"model": "m", "messages": _user("x")}).encode()
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        status = int((await reader.readline()).split()[1])
        writer.close()
        return status

    async def main(port: int) -> list[int]:
        return await asyncio.gather(*(one(port) for _ in range(256)))

    with FakeOpenAIServer(latency_s=0.5) as server:
        statuses = asyncio.run(main(server.port))
        # All 256 were held at once (a counter, not a stopwatch: a loaded machine cannot make this flake).
        assert server.stats().max_in_flight == 256
    assert statuses == [200] * 256


def test_subprocess_mode_and_stats_endpoint() -> None:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "finr1_core.testing.fake_openai", *"--port 0 --fault 503=1.0 --model m2".split()]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("READY http://127.0.0.1:") and line.strip().endswith("/v1")
        base_url = line.split()[1]
        assert httpx.get(base_url + "/models").json()["data"][0]["id"] == "m2"
        assert httpx.post(base_url + "/chat/completions", json={"messages": _user("q")}).status_code == 503
        stats = httpx.get(base_url.removesuffix("/v1") + "/_fake/stats?items=1").json()
        assert stats["faults"] == {"503": 1} and stats["by_item"] == {"q": 1}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_retry_after_as_a_date_computed_when_the_429_is_sent() -> None:
    with FakeOpenAIServer(faults={"429": 1.0}, retry_after=retry_after_date(3600)) as server:
        sent = email.utils.parsedate_to_datetime(_post(server, "q").headers["retry-after"]).timestamp()
    assert 3590 < sent - time.time() <= 3601


def test_a_key_revoked_mid_run_refuses_every_later_request() -> None:
    with FakeOpenAIServer(api_key="sk-test-0123456789", revoke_after=2) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-test-0123456789", max_retries=0)
        for _ in range(2):
            client.chat.completions.create(model="fake-model", messages=_user("hi"))
        with pytest.raises(openai.AuthenticationError, match="revoked"):
            client.chat.completions.create(model="fake-model", messages=_user("hi"))
        with pytest.raises(openai.AuthenticationError):
            client.models.list()
        assert (server.stats().ok, server.stats().refused) == (2, 2)
    with FakeOpenAIServer() as server:
        server.revoke_key()
        assert _post(server, "q").status_code == 401


def test_a_reasoning_parser_on_an_instruct_model_puts_everything_in_reasoning_content() -> None:
    with FakeOpenAIServer(lambda r: FakeAnswer("The answer is B.", reasoning=""), reasoning_mode="all_reasoning") as s:
        message = _post(s, "q").json()["choices"][0]["message"]
        stream = openai.OpenAI(base_url=s.base_url, api_key="x").chat.completions.create(
            model="fake-model", messages=_user("q"), stream=True
        )
        deltas = [c.choices[0].delta for c in stream if c.choices]
    assert message["content"] is None and message["reasoning_content"] == "The answer is B."
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == "The answer is B."
    assert not "".join(d.content or "" for d in deltas)


def test_raw_completions_route() -> None:
    with FakeOpenAIServer(lambda r: FakeAnswer("4", reasoning="2+2")) as server:
        body = httpx.post(server.base_url + "/completions", json={"model": "m", "prompt": "2+2="}).json()
        assert server.requests_for("2+2=") == 1
        bad = httpx.post(server.base_url + "/completions", json={"model": "m", "messages": []})
    assert body["object"] == "text_completion" and body["choices"][0]["text"] == "<think>2+2</think>\n\n4"
    assert bad.status_code == 400


def test_confused_judge_scripts() -> None:
    request = {"messages": _user("Rules first. Output only \\boxed{1} or \\boxed{0}.\nCorrect answer: 3")}
    assert echo_judge(request).content == request["messages"][0]["content"]
    assert "boxed" not in rambling_judge(request).content
    both = both_verdicts_judge(request).content
    assert "\\boxed{1}" in both and "\\boxed{0}" in both and "C7: 1" in both and "C7: 0" in both
