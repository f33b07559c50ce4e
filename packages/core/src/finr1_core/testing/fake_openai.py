"""A loopback OpenAI-compatible fake server for tests and benchmarks.

:class:`FakeOpenAIServer` speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) on
plain asyncio to stand in for vLLM, ``transformers serve`` or the DeepSeek API:

- ``POST /v1/chat/completions``, non-streaming and streaming (``"stream": true``, SSE);
- ``POST /v1/completions`` (a prompt string, the raw mode; ``choices[0].text``);
- ``GET /v1/models`` and ``GET /health``;
- ``GET /_fake/stats`` (counters as JSON, for a server running in another process).

Answers are scripted (a callable ``(request_json) -> answer``, a dict keyed by a substring of the
last user message, or a list taken in turn) or echo the last user message. An answer is a ``str``,
a :class:`FakeAnswer` or a dict with :class:`FakeAnswer`'s fields. Reasoning is returned in
``reasoning_content`` (DeepSeek, vLLM's reasoning parser), ``reasoning`` (newer vLLM), inline as
``<think>…</think>`` in the content, inline with the opening tag stripped (what some chat templates
do), not at all, or — ``"all_reasoning"`` — the way vLLM's reasoning parser mangles a model that never
writes ``</think>`` (an instruct model wrongly served with ``--reasoning-parser``): ``content`` null and
the whole answer in ``reasoning_content``. ``usage`` counts whitespace-separated words; ``max_tokens``
truncates the answer with ``finish_reason: "length"``.

Judges that misbehave the way small or misconfigured models do are ready-made answer scripts:
:func:`echo_judge` (repeats its prompt), :func:`rambling_judge` (talks, never decides) and
:func:`both_verdicts_judge` (``\\boxed{1}`` and ``\\boxed{0}`` in one reply).

Services that refuse keys: ``api_key`` makes every request without ``Bearer <api_key>`` a 401;
``revoke_after=N`` (or :meth:`FakeOpenAIServer.revoke_key`) revokes the key after N answered chat
requests, so every later request — ``/v1/models`` included — is a 401, as when a key is revoked mid-run.

Faults are injected at configurable rates (``faults={"429": 0.05, "hang": 0.02, ...}``) or by a
callable ``(request_json, attempt) -> kind | None``: ``429`` (with ``Retry-After`` in seconds, or as an
HTTP date with ``retry_after=retry_after_date(s)``), ``500``, ``502``, ``503``, ``400``, ``404``, ``401``,
``402`` (payment required), ``403``, ``hang`` (no answer for ``hang_s``, past the client's timeout),
``malformed`` (200 with a truncated JSON body) and ``drop`` (the connection is closed without an
answer). Requests are counted in total, per fault kind and per item (the item key is the last user
message, or what ``item_key(request_json)`` returns).

One event loop serves every connection (no thread per request), so 256 concurrent requests at
1 s latency cost a few percent of one core. Use it in a background thread of the test process::

    with FakeOpenAIServer(latency_s=0.01, reasoning_mode="inline") as server:
        client = OpenAI(base_url=server.base_url, api_key="x")

or as a separate process (benchmarks, kill -9 tests)::

    python -m finr1_core.testing.fake_openai --port 0 --latency 1 --fault 429=0.05
    # prints "READY http://127.0.0.1:PORT/v1" on stdout once it accepts connections
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import email.utils
import json
import random
import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

ReasoningMode = Literal["field", "reasoning", "inline", "inline_no_open", "none", "all_reasoning"]
REASONING_MODES = ("field", "reasoning", "inline", "inline_no_open", "none", "all_reasoning")
FAULT_KINDS = ("429", "500", "502", "503", "400", "404", "401", "402", "403", "hang", "malformed", "drop")
_STATUS_FAULTS = ("500", "502", "503", "400", "404", "401", "402", "403")

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_MAX_HEAD = 64 * 1024


@dataclass
class FakeAnswer:
    """One scripted answer.

    Attributes:
        content: The final answer text (what follows ``</think>``).
        reasoning: The reasoning trace; ``None`` uses the server's ``default_reasoning``.
        finish_reason: ``"stop"`` unless ``max_tokens`` cuts the answer (then ``"length"``).
    """

    content: str
    reasoning: str | None = None
    finish_reason: str = "stop"


AnswerScript = Callable[[dict[str, Any]], "str | FakeAnswer | Mapping[str, Any]"] | Mapping[str, Any] | Sequence[Any]


@dataclass
class FakeStats:
    """Request counters (a snapshot; the server keeps counting)."""

    requests: int = 0
    chat_requests: int = 0
    ok: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    by_item: dict[str, int] = field(default_factory=dict)
    max_in_flight: int = 0
    refused: int = 0  # requests answered 401 for their key (wrong, missing or revoked), on any route


def _last_user_text(request: Mapping[str, Any]) -> str:
    """The last user message of a chat request, or the prompt of a completions request."""
    if "messages" not in request and "prompt" in request:
        prompt = request["prompt"]
        return prompt if isinstance(prompt, str) else " ".join(map(str, prompt or []))
    messages = request.get("messages") or []
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return _text_of(messages[-1].get("content")) if messages and isinstance(messages[-1], dict) else ""


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI "content parts"
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def _count_tokens(text: str) -> int:
    return len(text.split())


def _truncate_words(text: str, n: int) -> str:
    return " ".join(text.split()[: max(n, 0)])


def echo_judge(request: Mapping[str, Any]) -> FakeAnswer:
    """A judge that repeats its prompt word for word (small or misconfigured models do), with no reasoning.

    Whatever verdict examples the prompt holds (``\\boxed{1}``) come back in the reply.
    """
    return FakeAnswer(_last_user_text(request), reasoning="")


def rambling_judge(request: Mapping[str, Any]) -> FakeAnswer:
    """A judge that talks about the task, quotes numbers, and never gives a verdict."""
    return FakeAnswer(
        "Let me look at this carefully. The correct answer mentions a value, and the answer to be scored "
        "mentions 3 numbers: 12, 0.5 and 1998. Both discuss the same company. There are several aspects to "
        "consider here, such as rounding and units, and it depends on how strictly one reads the rules.",
        reasoning="",
    )


def both_verdicts_judge(request: Mapping[str, Any]) -> FakeAnswer:
    """A judge that hedges: ``\\boxed{1}`` first, then ``\\boxed{0}`` (and C-lines both ways for round 2)."""
    lines = "\n".join(f"C{i}: 1" for i in range(1, 8)) + "\n" + "\n".join(f"C{i}: 0" for i in range(1, 8))
    return FakeAnswer(
        f"If the values agree this is correct: \\boxed{{1}}\n{lines}\nOn reflection they may not: \\boxed{{0}}",
        reasoning="",
    )


def retry_after_date(seconds: float) -> Callable[[], str]:
    """A ``retry_after`` value that sends an HTTP date ``seconds`` after each 429 (computed when sent)."""
    return lambda: http_date(seconds)


class FakeOpenAIServer:
    """An OpenAI-compatible chat server on loopback with scripted answers, latency and faults.

    Args:
        answers: ``None`` (echo the last user message), a callable ``(request_json) -> answer``,
            a dict ``{substring: answer}`` matched against the last user message (first key found
            wins; no match echoes), or a list of answers taken in turn (cycling).
        latency_s: Delay before every successful answer: a number, or ``(low, high)`` for a
            uniform draw.
        reasoning_mode: Where the reasoning goes: ``"field"`` (``reasoning_content``),
            ``"reasoning"`` (``reasoning``), ``"inline"`` (``<think>…</think>`` in content),
            ``"inline_no_open"`` (content starts with the reasoning and contains ``</think>``) or
            ``"none"``.
        default_reasoning: Reasoning used when an answer does not carry its own.
        model: Model id reported by ``/v1/models`` and in answers.
        api_key: When set, requests without ``Authorization: Bearer <api_key>`` get 401.
        revoke_after: Revoke the key after this many answered chat/completions requests: every later
            request gets 401 (a key revoked mid-run; also :meth:`revoke_key`).
        faults: Fault kind -> probability per chat request (kinds in ``FAULT_KINDS``).
        fault_fn: Alternative to ``faults``: ``(request_json, attempt) -> kind | None``, where
            ``attempt`` counts this item's chat requests so far (1 for the first).
        retry_after: Value of the ``Retry-After`` header on 429: seconds as a number, a string sent
            verbatim, or a callable returning either when the 429 is sent (:func:`retry_after_date`
            gives an HTTP date relative to that moment); ``None`` sends no header.
        hang_s: How long a ``hang`` fault keeps the request open without answering.
        fault_latency_s: Delay before a 4xx/5xx/malformed/drop fault.
        item_key: Maps a request to the key counted in ``stats().by_item`` (default: the last user
            message).
        seed: Seed of the fault and latency draws.
        host: Interface to bind (loopback by default).
        port: Port to bind (0 picks a free one).
        ssl_context: Serve HTTPS with this server-side context (``base_url`` then starts with https).
    """

    def __init__(
        self,
        answers: AnswerScript | None = None,
        *,
        latency_s: float | tuple[float, float] = 0.0,
        reasoning_mode: ReasoningMode = "field",
        default_reasoning: str = "\nLet me think step by step about the question.",
        model: str = "fake-model",
        api_key: str | None = None,
        revoke_after: int | None = None,
        faults: Mapping[str, float] | None = None,
        fault_fn: Callable[[dict[str, Any], int], str | None] | None = None,
        retry_after: float | str | Callable[[], float | str] | None = 1,
        hang_s: float = 3600.0,
        fault_latency_s: float = 0.0,
        item_key: Callable[[dict[str, Any]], str] | None = None,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        for kind in faults or {}:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if sum((faults or {}).values()) > 1.0:
            raise ValueError("fault rates add up to more than 1")
        self.answers = answers
        self.latency_s = latency_s
        self.reasoning_mode = reasoning_mode
        self.default_reasoning = default_reasoning
        self.model = model
        if reasoning_mode not in REASONING_MODES:
            raise ValueError(
                f"unknown reasoning_mode {reasoning_mode!r}; expected one of {', '.join(REASONING_MODES)}"
            )
        self.api_key = api_key
        self.revoke_after = revoke_after
        self.revoked = False
        self.faults = dict(faults or {})
        self.fault_fn = fault_fn
        self.retry_after = retry_after
        self.hang_s = hang_s
        self.fault_latency_s = fault_latency_s
        self.item_key = item_key or _last_user_text
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self._rng = random.Random(seed)
        self._list_index = 0
        self._lock = threading.Lock()
        self._stats = FakeStats()
        self._attempts: collections.Counter[str] = collections.Counter()
        self._in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._protocols: set[_HttpProtocol] = set()
        self.request_log: collections.deque[dict[str, Any]] = collections.deque(maxlen=1000)
        """The last 1000 chat requests as ``{"time", "item", "fault"}`` (for timing assertions)."""

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``, the value to give an OpenAI client as ``base_url``."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}/v1"

    async def start_async(self) -> None:
        """Start serving on the running event loop (for use inside an asyncio program)."""
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(
            lambda: _HttpProtocol(self), self.host, self.port, backlog=4096, reuse_address=True, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop_async(self) -> None:
        """Stop accepting, abort open connections and cancel their handlers."""
        if self._server is not None:
            self._server.close()
            for protocol in list(self._protocols):
                protocol.abort()
            await self._server.wait_closed()
            self._server = None

    def start(self) -> FakeOpenAIServer:
        """Serve from a background daemon thread with its own event loop; returns self."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def _serve() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:  # reported to the starting thread
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop_async())
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=_serve, name="fake-openai", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        """Stop the background thread started by :meth:`start`."""
        if self._thread is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- counters ----------------------------------------------------------------------------

    def stats(self) -> FakeStats:
        """A snapshot of the counters."""
        with self._lock:
            s = self._stats
            return FakeStats(
                s.requests, s.chat_requests, s.ok, dict(s.faults), dict(s.by_item), s.max_in_flight, s.refused
            )

    def requests_for(self, item: str) -> int:
        """How many chat requests carried ``item`` as their item key."""
        with self._lock:
            return self._stats.by_item.get(item, 0)

    def revoke_key(self) -> None:
        """From now on every request gets 401, whatever key it sends (a key revoked mid-run)."""
        self.revoked = True

    def reset_stats(self) -> None:
        """Zero every counter (the answer list position and fault draws continue)."""
        with self._lock:
            self._stats = FakeStats()
            self._attempts.clear()
            self.request_log.clear()

    # -- request handling --------------------------------------------------------------------

    async def _handle(
        self, proto: _HttpProtocol, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> None:
        path = urlsplit(target).path.rstrip("/")
        with self._lock:
            self._stats.requests += 1
        if path in ("/health", "/v1/health"):
            proto.respond(200, b"{}")
            return
        if path == "/_fake/stats":
            query = parse_qs(urlsplit(target).query)
            snap = self.stats().__dict__.copy()
            if query.get("items", ["0"])[0] in ("0", "false"):
                snap.pop("by_item")
            proto.respond(200, json.dumps(snap).encode())
            return
        if self.revoked or (self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}"):
            message = "This API key has been revoked." if self.revoked else "Incorrect API key provided."
            with self._lock:
                self._stats.refused += 1
            proto.respond(401, _error_body(message, "invalid_request_error", 401))
            return
        if path == "/v1/models":
            payload = {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "finr1"}]}
            proto.respond(200, json.dumps(payload).encode())
            return
        if path not in ("/v1/chat/completions", "/v1/completions"):
            proto.respond(404, _error_body(f"no route {path}", "not_found", 404))
            return
        if method != "POST":
            proto.respond(405, _error_body("use POST", "invalid_request_error", 405))
            return
        completions = path == "/v1/completions"
        try:
            request = json.loads(body)
            if not isinstance(request, dict):
                raise ValueError("the body must be a JSON object")
            if completions and not isinstance(request.get("prompt"), str | list):
                raise ValueError("prompt must be a string")
            if not completions and not isinstance(request.get("messages"), list):
                raise ValueError("messages must be a list")
        except ValueError as exc:
            proto.respond(400, _error_body(f"bad request body: {exc}", "invalid_request_error", 400))
            return
        await self._chat(proto, request, completions=completions)

    async def _chat(self, proto: _HttpProtocol, request: dict[str, Any], *, completions: bool = False) -> None:
        item = self.item_key(request)
        with self._lock:
            stats = self._stats
            stats.chat_requests += 1
            stats.by_item[item] = stats.by_item.get(item, 0) + 1
            self._attempts[item] += 1
            attempt = self._attempts[item]
            fault = self._draw_fault(request, attempt)
            if fault:
                stats.faults[fault] = stats.faults.get(fault, 0) + 1
            self._in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, self._in_flight)
            self.request_log.append({"time": time.monotonic(), "item": item, "fault": fault})
        try:
            if fault:
                await self._fault(proto, fault)
                return
            answer = self._answer_for(request)
            delay = self._draw_latency()
            if delay > 0:
                await asyncio.sleep(delay)
            if completions:
                body = json.dumps(self._text_completion(request, answer), ensure_ascii=False)
            else:
                body = (
                    None
                    if request.get("stream")
                    else json.dumps(self._completion(request, answer), ensure_ascii=False)
                )
            # Count before the bytes leave: a client that reads its answer and then asks for the stats must see it.
            with self._lock:
                self._stats.ok += 1
                if self.revoke_after is not None and self._stats.ok >= self.revoke_after:
                    self.revoked = True
            if body is None:
                self._stream(proto, request, answer)
            else:
                proto.respond(200, body.encode())
        finally:
            with self._lock:
                self._in_flight -= 1

    def _draw_fault(self, request: dict[str, Any], attempt: int) -> str | None:
        if self.fault_fn is not None:
            return self.fault_fn(request, attempt)
        if not self.faults:
            return None
        x = self._rng.random()
        for kind, rate in self.faults.items():
            if x < rate:
                return kind
            x -= rate
        return None

    def _draw_latency(self) -> float:
        if isinstance(self.latency_s, tuple):
            with self._lock:
                return self._rng.uniform(*self.latency_s)
        return float(self.latency_s)

    async def _fault(self, proto: _HttpProtocol, kind: str) -> None:
        if kind == "hang":
            await asyncio.sleep(self.hang_s)
            proto.abort()
            return
        if self.fault_latency_s:
            await asyncio.sleep(self.fault_latency_s)
        if kind == "429":
            value = self.retry_after() if callable(self.retry_after) else self.retry_after
            extra = {} if value is None else {"Retry-After": _format_retry_after(value)}
            proto.respond(429, _error_body("Rate limit reached.", "rate_limit_exceeded", 429), extra)
        elif kind in _STATUS_FAULTS:
            proto.respond(int(kind), _error_body(f"injected fault {kind}", "fake_fault", int(kind)))
        elif kind == "malformed":
            proto.respond(200, b'{"id": "chatcmpl-broken", "choices": [{"index": 0, "message": {"role": "assis')
        elif kind == "drop":
            proto.abort()
        else:  # pragma: no cover - validated in __init__
            raise ValueError(kind)

    def _answer_for(self, request: dict[str, Any]) -> FakeAnswer:
        script = self.answers
        raw: Any
        if script is None:
            raw = _last_user_text(request)
        elif callable(script):
            raw = script(request)
        elif isinstance(script, Mapping):
            text = _last_user_text(request)
            raw = next((answer for key, answer in script.items() if key in text), text)
        elif isinstance(script, Sequence) and not isinstance(script, str) and script:
            with self._lock:
                raw = script[self._list_index % len(script)]
                self._list_index += 1
        else:
            raise TypeError(f"unsupported answers script {type(script).__name__}")
        if isinstance(raw, FakeAnswer):
            return raw
        if isinstance(raw, Mapping):
            return FakeAnswer(**raw)
        return FakeAnswer(str(raw))

    def _shape(self, request: dict[str, Any], answer: FakeAnswer) -> tuple[str, str, str, int]:
        """Apply ``max_tokens``; returns (reasoning, content, finish_reason, completion_tokens)."""
        reasoning = self.default_reasoning if answer.reasoning is None else answer.reasoning
        if self.reasoning_mode == "none":
            reasoning = ""
        content = answer.content
        finish = answer.finish_reason
        r_tokens, c_tokens = _count_tokens(reasoning), _count_tokens(content)
        limit = request.get("max_tokens") or request.get("max_completion_tokens")
        if isinstance(limit, int) and r_tokens + c_tokens > limit:
            finish = "length"
            if r_tokens >= limit:
                reasoning, content = _truncate_words(reasoning, limit), ""
            else:
                content = _truncate_words(content, limit - r_tokens)
            r_tokens, c_tokens = _count_tokens(reasoning), _count_tokens(content)
        return reasoning, content, finish, r_tokens + c_tokens

    def _completion(self, request: dict[str, Any], answer: FakeAnswer) -> dict[str, Any]:
        reasoning, content, finish, completion_tokens = self._shape(request, answer)
        message: dict[str, Any] = {"role": "assistant"}
        mode = self.reasoning_mode
        if mode == "field":
            message["content"] = content
            message["reasoning_content"] = reasoning or None
        elif mode == "reasoning":
            message["content"] = content
            message["reasoning"] = reasoning or None
        elif mode == "inline":
            message["content"] = f"<think>{reasoning}</think>\n\n{content}" if reasoning else content
        elif mode == "inline_no_open":
            message["content"] = f"{reasoning}</think>\n\n{content}" if reasoning else content
        elif mode == "all_reasoning":  # vLLM's parser found no </think>: everything is "reasoning"
            message["content"] = None
            message["reasoning_content"] = "\n".join(p for p in (reasoning, content) if p) or None
        else:
            message["content"] = content
        prompt_tokens = sum(
            _count_tokens(_text_of(m.get("content"))) for m in request["messages"] if isinstance(m, dict)
        )
        return {
            "id": f"chatcmpl-{self._rng.getrandbits(48):012x}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model") or self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _text_completion(self, request: dict[str, Any], answer: FakeAnswer) -> dict[str, Any]:
        """A ``/v1/completions`` body: the raw text, reasoning inline as ``<think>…</think>`` (no parser there)."""
        reasoning, content, finish, completion_tokens = self._shape(request, answer)
        text = f"<think>{reasoning}</think>\n\n{content}" if reasoning else content
        prompt_tokens = _count_tokens(_last_user_text(request))
        return {
            "id": f"cmpl-{self._rng.getrandbits(48):012x}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": request.get("model") or self.model,
            "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _stream(self, proto: _HttpProtocol, request: dict[str, Any], answer: FakeAnswer) -> None:
        full = self._completion(request, answer)
        reasoning, content, finish, _ = self._shape(request, answer)
        base = {
            "id": full["id"],
            "object": "chat.completion.chunk",
            "created": full["created"],
            "model": full["model"],
        }
        field_name = {
            "field": "reasoning_content",
            "reasoning": "reasoning",
            "all_reasoning": "reasoning_content",
        }.get(self.reasoning_mode)
        if self.reasoning_mode == "all_reasoning":
            reasoning, content = full["choices"][0]["message"]["reasoning_content"] or "", ""
        if field_name is None:  # inline modes: the content already carries the think block
            content, reasoning = full["choices"][0]["message"]["content"], ""
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        deltas += [{field_name: piece} for piece in _pieces(reasoning)] if field_name else []
        deltas += [{"content": piece} for piece in _pieces(content)]
        events = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if (request.get("stream_options") or {}).get("include_usage"):
            events.append({**base, "choices": [], "usage": full["usage"]})
        chunks = [f"data: {json.dumps(e, ensure_ascii=False)}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]
        proto.respond_chunked(200, chunks, content_type="text/event-stream")


def _pieces(text: str, n: int = 3) -> list[str]:
    if not text:
        return []
    step = max(1, -(-len(text) // n))
    return [text[i : i + step] for i in range(0, len(text), step)]


def _error_body(message: str, kind: str, code: int) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": code}}).encode()


def _format_retry_after(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


def http_date(seconds_from_now: float) -> str:
    """An HTTP date ``seconds_from_now`` in the future (for a ``Retry-After`` given as a date)."""
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


class _HttpProtocol(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; requests on it are answered in order."""

    def __init__(self, server: FakeOpenAIServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.task: asyncio.Task[None] | None = None
        self.keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server._protocols.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._protocols.discard(self)
        self.transport = None
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._next()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _next(self) -> None:
        if self.task is not None or self.transport is None:
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > _MAX_HEAD:
                self._fail(400)
            return
        try:
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        except ValueError:
            self._fail(400)
            return
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._fail(411)  # clients send JSON with Content-Length; chunked uploads are not needed
            return
        length = int(headers.get("content-length") or 0)
        if len(self.buffer) < end + 4 + length:
            return
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        connection = headers.get("connection", "").lower()
        self.keep_alive = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
        self.task = asyncio.get_running_loop().create_task(self._run(method, target, headers, body))

    async def _run(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        try:
            await self.server._handle(self, method, target, headers, body)
        except asyncio.CancelledError:
            return
        except Exception:  # a bug in a scripted answer: answer 500 so the client sees it
            import traceback

            traceback.print_exc()
            self.respond(500, _error_body("fake server error", "server_error", 500))
        self.task = None
        if self.transport is not None:
            if not self.keep_alive:
                self.transport.close()
            elif self.buffer:
                self._next()

    def _head(self, status: int, headers: Mapping[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append("Connection: keep-alive" if self.keep_alive else "Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def respond(self, status: int, body: bytes, extra: Mapping[str, str] | None = None) -> None:
        if self.transport is None:
            return
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), **(extra or {})}
        self.transport.write(self._head(status, headers) + body)

    def respond_chunked(self, status: int, chunks: list[bytes], content_type: str) -> None:
        if self.transport is None:
            return
        parts = [self._head(status, {"Content-Type": content_type, "Transfer-Encoding": "chunked"})]
        parts += [b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c]
        parts.append(b"0\r\n\r\n")
        self.transport.write(b"".join(parts))

    def _fail(self, status: int) -> None:
        self.keep_alive = False
        self.respond(status, _error_body(_REASONS.get(status, "error"), "invalid_request_error", status))
        if self.transport is not None:
            self.transport.close()


def _parse_faults(values: Sequence[str]) -> dict[str, float]:
    faults = {}
    for value in values:
        kind, _, rate = value.partition("=")
        faults[kind] = float(rate)
    return faults


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake server in the foreground until SIGINT/SIGTERM (for benchmarks and subprocess tests)."""
    parser = argparse.ArgumentParser(prog="python -m finr1_core.testing.fake_openai", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--latency-max", type=float, default=None, help="draw latency uniformly up to this")
    parser.add_argument("--reasoning-mode", default="field", choices=list(REASONING_MODES))
    parser.add_argument("--model", default="fake-model")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--revoke-after", type=int, default=None, help="401 for everything after N answers")
    parser.add_argument(
        "--answers",
        default="echo",
        choices=["echo", "echo_judge", "rambling_judge", "both_verdicts_judge"],
        help="answer script (echo: the last user message or prompt)",
    )
    parser.add_argument(
        "--fault", action="append", default=[], metavar="KIND=RATE", help=f"kinds: {', '.join(FAULT_KINDS)}"
    )
    parser.add_argument("--retry-after", default="1")
    parser.add_argument("--retry-after-date", type=float, default=None, help="send Retry-After as an HTTP date")
    parser.add_argument("--hang-s", type=float, default=3600.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    latency: float | tuple[float, float] = args.latency
    if args.latency_max is not None:
        latency = (args.latency, args.latency_max)
    scripts = {"echo_judge": echo_judge, "rambling_judge": rambling_judge, "both_verdicts_judge": both_verdicts_judge}
    retry_after: Any = args.retry_after if args.retry_after_date is None else retry_after_date(args.retry_after_date)
    server = FakeOpenAIServer(
        scripts.get(args.answers),
        latency_s=latency,
        reasoning_mode=args.reasoning_mode,
        model=args.model,
        api_key=args.api_key,
        revoke_after=args.revoke_after,
        faults=_parse_faults(args.fault),
        retry_after=retry_after,
        hang_s=args.hang_s,
        seed=args.seed,
        host=args.host,
        port=args.port,
    )

    async def _serve() -> None:
        await server.start_async()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        sys.stdout.write(f"READY {server.base_url}\n")
        sys.stdout.flush()
        await stop.wait()
        await server.stop_async()

    asyncio.run(_serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
