"""The raw HTTP mode: a prompt *string* POSTed to a completions endpoint (no chat template on the server).

Fin-R1's evaluation added a mode that posted the prompt itself instead of chat messages. finr1's
version: ``api_mode: completions`` POSTs ``{"model", "prompt", temperature, top_p, max_tokens, ...}``
to ``{base_url}/completions`` when ``base_url`` ends in ``/v1`` (vLLM, ``transformers serve``, any
OpenAI-compatible server), or to ``base_url`` itself otherwise (a custom inference URL). The answer is
read from ``choices[0].text`` (or ``choices[0].message.content``, or a top-level ``text``/``response``/
``output`` string). The prompt string is built from the messages by ``prompt_format``:

- ``plain``: the turns' contents joined by blank lines; with more than one turn each is prefixed by
  its role (``User:``/``Assistant:``) and the prompt ends with ``Assistant:``;
- ``chatml``: Qwen's ``<|im_start|>role\\n…<|im_end|>`` layout ending with an open assistant turn
  (without Qwen's default system prompt, which the chat template would add).

Resumable like the runner, and in its log format: every finished request is appended to a
:class:`~finr1_core.runner.ResultLog` as a :class:`~finr1_core.runner.ChatResult` keyed by
``(item_id, sample_index)``; a rerun skips the keys that succeeded and retries failed ones. Transport
retries follow the runner's policy (``EndpointConfig``): connection errors, timeouts, malformed
bodies, 408, 429 (``Retry-After`` honoured) and 5xx are retried with exponential backoff and jitter;
other 4xx are final. Reasoning inline in the text (``<think>…</think>``) is split off as in chat mode.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from finr1_core.errors import EndpointError
from finr1_core.runner import ChatResult, EndpointConfig, ResultLog, split_reasoning

logger = logging.getLogger(__name__)


def completions_url(base_url: str) -> str:
    """``…/v1`` -> ``…/v1/completions``; any other URL is used as given (a custom raw endpoint)."""
    url = base_url.rstrip("/")
    return url + "/completions" if url.endswith("/v1") else url


def render_prompt(messages: Sequence[Mapping[str, str]], prompt_format: str = "plain") -> str:
    """Turn chat messages into one prompt string (see the module docstring for the layouts)."""
    if prompt_format == "chatml":
        parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
        return "".join(parts) + "<|im_start|>assistant\n"
    if prompt_format != "plain":
        raise ValueError(f"unknown prompt_format {prompt_format!r}")
    if len(messages) == 1:
        return messages[0]["content"]
    names = {"system": "System", "user": "User", "assistant": "Assistant"}
    body = "\n\n".join(f"{names.get(m['role'], m['role'])}: {m['content']}" for m in messages)
    return body + "\n\nAssistant:"


def _parse_answer(payload: Any) -> tuple[str, str | None, str | None, dict[str, Any] | None]:
    """Return (text, reasoning, finish_reason, usage) from a completions-style or simple JSON body."""
    if not isinstance(payload, dict):
        raise ValueError("response body is not a JSON object")
    usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else None
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        text = choice.get("text")
        if text is None:
            text = message.get("content")
        reasoning = choice.get("reasoning_content") or message.get("reasoning_content") or message.get("reasoning")
        if isinstance(text, str):
            return text, reasoning, choice.get("finish_reason"), usage
    for key in ("text", "response", "output", "generated_text"):
        if isinstance(payload.get(key), str):
            return payload[key], None, payload.get("finish_reason"), usage
    raise ValueError("no text in the response (expected choices[0].text or a 'text'/'response'/'output' field)")


def check_raw_endpoint(base_url: str, timeout_s: float = 10.0) -> None:
    """Fail fast when nothing listens at the raw endpoint's host and port (no request is sent)."""
    import socket

    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError(f"model base URL {base_url!r} is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise EndpointError(
            f"model endpoint {base_url} is unreachable ({exc.strerror or exc}); start the server or fix --base-url"
        ) from None


@dataclass
class RawRequest:
    """One prompt to send in raw mode."""

    item_id: str
    sample_index: int
    prompt: str


def run_raw(
    requests: Sequence[RawRequest],
    endpoint: EndpointConfig,
    results_path: Path,
    *,
    params: Mapping[str, Any],
    concurrency: int = 16,
    on_result: Callable[[ChatResult], None] | None = None,
) -> dict[str, int]:
    """Send the requests not yet finished in ``results_path``; returns ``{"sent", "skipped", "errors"}``.

    ``endpoint.base_url`` is the URL given by the user (see :func:`completions_url`); the key, the
    timeout and the retry budget come from ``endpoint`` as for the chat runner. Results are
    :class:`~finr1_core.runner.ChatResult` lines in the runner's log format, so
    :func:`~finr1_core.runner.read_results` reads them. ``on_result`` is called with each result after it
    is written, as the runner does; an exception it raises stops the run (the others in flight are cancelled).
    """
    return asyncio.run(_run_raw(list(requests), endpoint, Path(results_path), dict(params), concurrency, on_result))


async def _run_raw(
    requests: list[RawRequest],
    endpoint: EndpointConfig,
    results_path: Path,
    params: dict[str, Any],
    concurrency: int,
    on_result: Callable[[ChatResult], None] | None,
) -> dict[str, int]:
    import httpx

    headers = endpoint.request_headers()  # reads the key from $api_key_env; never logged
    url = completions_url(endpoint.base_url)
    counts = {"sent": 0, "skipped": 0, "errors": 0}
    with ResultLog(results_path) as log:
        todo = [r for r in requests if not log.done.get((r.item_id, r.sample_index), False)]
        counts["skipped"] = len(requests) - len(todo)
        if not todo:
            return counts
        semaphore = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        timeout = httpx.Timeout(endpoint.timeout_s, connect=endpoint.connect_timeout_s)
        async with httpx.AsyncClient(timeout=timeout, limits=limits, headers=headers) as client:

            async def one(request: RawRequest) -> None:
                async with semaphore:
                    body = {"model": endpoint.model, "prompt": request.prompt, **params}
                    result = await _send(client, url, body, request, endpoint)
                log.append(result)  # one write(2) per line, on the event loop thread: no interleaving
                counts["sent"] += 1
                counts["errors"] += int(result.error is not None)
                if on_result is not None:
                    on_result(result)

            await asyncio.gather(*(one(r) for r in todo))
    if counts["errors"]:
        logger.warning("raw mode: %d of %d requests failed after retries", counts["errors"], counts["sent"])
    return counts


def _retry_delay(endpoint: EndpointConfig, attempt: int, retry_after: str | None) -> float:
    if retry_after:
        try:
            return min(max(0.0, float(retry_after)), endpoint.max_retry_after_s)
        except ValueError:
            pass
    delay = min(endpoint.backoff_max_s, endpoint.backoff_initial_s * 2**attempt)
    return delay * (0.5 + random.random() / 2)


async def _send(
    client: Any, url: str, body: dict[str, Any], request: RawRequest, endpoint: EndpointConfig
) -> ChatResult:
    import httpx

    error = "no attempt made"
    latency = 0.0
    attempts = endpoint.max_retries + 1
    for attempt in range(attempts):
        started = time.monotonic()
        retry_after = None
        try:
            response = await client.post(url, json=body)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}".strip()
        else:
            latency = time.monotonic() - started
            status = response.status_code
            if status in (408, 429) or status >= 500:
                error = f"HTTP {status}"
                retry_after = response.headers.get("retry-after")
            elif status >= 400:
                return ChatResult(
                    request.item_id,
                    request.sample_index,
                    error=f"HTTP {status}: {response.text[:200]}",
                    attempts=attempt + 1,
                    latency_s=round(latency, 3),
                )
            else:
                try:
                    text, reasoning_field, finish, usage = _parse_answer(response.json())
                except ValueError as exc:  # json.JSONDecodeError is a ValueError
                    error = f"malformed response: {exc}"
                else:
                    reasoning, completion = split_reasoning(text, reasoning_field)
                    return ChatResult(
                        request.item_id,
                        request.sample_index,
                        reasoning=reasoning,
                        completion=completion,
                        content=text,
                        finish_reason=finish,
                        usage=usage,
                        latency_s=round(latency, 3),
                        attempts=attempt + 1,
                        model=body.get("model"),
                    )
        latency = time.monotonic() - started
        if attempt + 1 < attempts:
            await asyncio.sleep(_retry_delay(endpoint, attempt, retry_after))
    return ChatResult(
        request.item_id, request.sample_index, error=error, attempts=attempts, latency_s=round(latency, 3)
    )
