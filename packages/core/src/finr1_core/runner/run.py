"""The async runner: bounded concurrency, retries, resumable result log, budgets, clean Ctrl-C.

One runner for every model call: chat (:func:`run_chat`, ``/chat/completions``) and raw completions
(:func:`run_completions`, a prompt string to ``/completions`` or a custom URL). Both take a ``route``
and a response parser (:data:`~finr1_core.runner.records.ResponseParser`), so another
OpenAI-compatible route is one parser away.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from finr1_core.errors import EndpointError
from finr1_core.redaction import redact_text
from finr1_core.runner._http import HttpClient, HttpError, Response, make_client
from finr1_core.runner.endpoint import (
    AUTH_STATUSES,
    EndpointConfig,
    _snippet,
    auth_error,
    check_endpoint,
    completions_route,
)
from finr1_core.runner.records import (
    ChatResult,
    Request,
    ResponseParser,
    RunSummary,
    parse_chat_response,
    parse_completions_response,
    split_reasoning,
)
from finr1_core.runner.results import ResultLog

CHAT_ROUTE = "/chat/completions"

logger = logging.getLogger(__name__)

_RETRY_STATUS = {408, 429}  # 408 is the server's own request timeout; all other 4xx are final


class _Refused(Exception):
    """A 401/402/403: the failed result to write, and the error that stops the run."""

    def __init__(self, result: ChatResult, error: Exception) -> None:
        super().__init__(str(error))
        self.result = result
        self.error = error


class RunInterrupted(KeyboardInterrupt):
    """Raised by :func:`run_chat` after a clean stop on Ctrl-C; ``summary`` holds the counts so far."""

    def __init__(self, summary: RunSummary) -> None:
        super().__init__("interrupted")
        self.summary = summary


class _Progress:
    """tqdm bar with rate, ETA, tokens, errors and retries; postfix refreshed at most twice a second.

    Without a bar (pipelines, containers with JSON logs) a long run still reports: one INFO line every
    ``LOG_EVERY_S`` seconds with the requests done, the rate, tokens and errors.
    """

    LOG_EVERY_S = 30.0

    def __init__(self, enabled: bool, total: int | None, desc: str) -> None:
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="req", dynamic_ncols=True, mininterval=0.5, smoothing=0.05)
        self._last = 0.0
        self._total = total
        self._done = 0
        self._started = self._logged = time.monotonic()

    def skip(self) -> None:
        if self._total:
            self._total -= 1
        if self.bar is not None and self.bar.total:
            self.bar.total -= 1

    def update(self, summary: RunSummary, retries: int) -> None:
        self._done += 1
        if self.bar is None:
            now = time.monotonic()
            if now - self._logged >= self.LOG_EVERY_S:
                self._logged = now
                of = f"/{self._total}" if self._total else ""
                rate = self._done / max(now - self._started, 1e-9)
                logger.info(
                    "runner progress: %d%s requests, %.2f req/s, %d tokens, %d failed, %d retries",
                    self._done, of, rate, summary.total_tokens, summary.failed, retries,
                )  # fmt: skip
            return
        self.bar.update(1)
        now = time.monotonic()
        if now - self._last > 0.5:
            self._last = now
            self._postfix(summary, retries)

    def _postfix(self, summary: RunSummary, retries: int) -> None:
        assert self.bar is not None
        tokens = summary.total_tokens
        shown = f"{tokens / 1e6:.2f}M" if tokens >= 1e6 else f"{tokens / 1e3:.1f}k"
        self.bar.set_postfix_str(f"tok={shown} err={summary.failed} retries={retries}", refresh=False)

    def close(self, summary: RunSummary, retries: int) -> None:
        if self.bar is not None:
            self._postfix(summary, retries)
            self.bar.close()


def _retry_after(headers: dict[str, str]) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), or ``None``."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _Run:
    """State of one run; workers share it (one event loop, no locks needed)."""

    def __init__(
        self,
        requests: Iterable[Request],
        endpoint: EndpointConfig,
        log: ResultLog,
        *,
        route: str,
        parse: ResponseParser,
        concurrency: int,
        progress: bool,
        retry_failed: bool,
        max_requests: int | None,
        max_total_tokens: int | None,
        max_consecutive_failures: int | None,
        on_result: Callable[[ChatResult], None] | None,
        total: int | None,
    ) -> None:
        self.requests: Iterator[Request] = iter(requests)
        self.endpoint = endpoint
        self.log = log
        self.concurrency = concurrency
        self.retry_failed = retry_failed
        self.max_requests = max_requests
        self.max_total_tokens = max_total_tokens
        self.max_consecutive_failures = max_consecutive_failures
        self.on_result = on_result
        self.summary = RunSummary(results_path=str(log.path))
        self.started = 0
        self.retries = 0
        self.consecutive_failures = 0
        self.last_error: str | None = None
        self.in_flight: set[tuple[str, int]] = set()
        self.stopping = False
        self.sigints = 0
        self.stop_event = asyncio.Event()
        self.error: BaseException | None = None
        self.workers: list[asyncio.Task[None]] = []
        self.progress = _Progress(progress, total, desc=endpoint.model)
        self.url = endpoint.url(route)
        self.path = _path_of(self.url)
        self.parse = parse
        self.timeout_s = endpoint.timeout_s

    # -- control -------------------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """Stop taking new requests; in-flight ones finish and are written."""
        if not self.stopping:
            self.stopping = True
            self.summary.stopped_reason = reason
            self.stop_event.set()

    def abandon(self) -> None:
        """Cancel in-flight requests now (nothing half-written: lines are written whole or not at all)."""
        for task in self.workers:
            task.cancel()

    def on_sigint(self) -> None:
        self.sigints += 1
        if self.sigints == 1:
            self.stopping = True
            self.summary.stopped_reason = "interrupted"  # also when a budget was already stopping the run
            self.stop_event.set()
            logger.warning(
                "interrupted: waiting for %d in-flight requests to finish and be saved (Ctrl-C again to abandon them)",
                len(self.in_flight),
            )
        else:
            logger.warning("abandoning %d in-flight requests; they will be sent again on resume", len(self.in_flight))
            self.abandon()

    # -- work ----------------------------------------------------------------------------------

    def _next_request(self) -> Request | None:
        done = self.log.done
        while not self.stopping:
            if self.max_requests is not None and self.started >= self.max_requests:
                self.stop("max_requests")
                return None
            if self.max_total_tokens is not None and self.summary.total_tokens >= self.max_total_tokens:
                self.stop("max_total_tokens")
                return None
            try:
                request = next(self.requests)
            except StopIteration:
                return None
            key = (request.item_id, request.sample_index)
            state = done.get(key)
            if state is not None and (state or not self.retry_failed):
                self.summary.skipped += 1
                self.progress.skip()
                continue
            if key in self.in_flight:
                logger.warning("duplicate request %s in the input while it is in flight; skipped", key)
                self.progress.skip()
                continue
            self.started += 1
            self.in_flight.add(key)
            return request
        return None

    async def worker(self, client: HttpClient) -> None:
        try:
            while True:
                request = self._next_request()
                if request is None:
                    return
                key = (request.item_id, request.sample_index)
                try:
                    try:
                        result = await self.call(client, request)
                    except _Refused as refused:
                        # The refused call is written like any failure (and on_result sees it, so a caller may
                        # raise its own message first); then the whole run stops: no further request can work.
                        self.record(refused.result)
                        raise refused.error from None
                    if result is not None:  # None: stopped while waiting to retry; sent again on resume
                        self.record(result)
                finally:
                    self.in_flight.discard(key)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # bad input row, full disk, a failing on_result: stop everyone, re-raise
            if self.error is None:
                self.error = exc
            self.stop("error")
            self.summary.stopped_reason = "error"
            self.abandon()

    def record(self, result: ChatResult) -> None:
        self.log.append(result)
        summary = self.summary
        if result.error is None:
            summary.succeeded += 1
            usage = result.usage or {}
            summary.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            summary.completion_tokens += int(usage.get("completion_tokens") or 0)
            self.consecutive_failures = 0
        else:
            summary.failed += 1
            self.consecutive_failures += 1
            self.last_error = result.error
            logger.debug("item %s sample %d failed: %s", result.item_id, result.sample_index, result.error)
            if self.max_consecutive_failures and self.consecutive_failures >= self.max_consecutive_failures:
                self.stop("too_many_failures")
        self.progress.update(summary, self.retries)
        if self.on_result is not None:
            self.on_result(result)

    async def call(self, client: HttpClient, request: Request) -> ChatResult | None:
        """One request with its retries: the result to log, or ``None`` when the run stopped meanwhile.

        Raises:
            AuthError: The endpoint refused the credentials (401/402/403): the whole run stops.
        """
        payload = json.dumps(request.body(self.endpoint.model), ensure_ascii=False).encode("utf-8")
        attempt = 0
        while True:
            attempt += 1
            self.summary.attempts += 1
            start = time.monotonic()
            outcome = await self._attempt(client, request, payload, attempt)
            if isinstance(outcome, ChatResult):
                return outcome
            error, delay, final = outcome
            latency = time.monotonic() - start
            if final:
                return _failure(request, error, attempt, latency)
            if attempt > self.endpoint.max_retries:
                return _failure(request, f"{error} (after {attempt} attempts)", attempt, latency)
            if not await self._wait_to_retry(request, error, attempt, delay):
                return None

    async def _attempt(
        self, client: HttpClient, request: Request, payload: bytes, attempt: int
    ) -> ChatResult | tuple[str, float | None, bool]:
        """One HTTP exchange: a result, or ``(error, server-asked delay or None, final?)``."""
        start = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await client.request("POST", self.path, payload)
        except TimeoutError:
            return f"timeout: no complete answer within {self.timeout_s:g}s", None, False
        except HttpError as exc:
            return f"connection error: {exc}", None, False
        latency = time.monotonic() - start
        if response.status == 200:
            result = _parse_result(request, response, self.parse, latency, attempt)
            return result if isinstance(result, ChatResult) else (result, None, False)
        if response.status in AUTH_STATUSES:
            error = f"HTTP {response.status}: {_snippet(response.body)}"
            failure = _failure(request, error, attempt, latency)
            raise _Refused(failure, auth_error(self.endpoint, self.url, response.status, response.body))
        error = f"HTTP {response.status}: {_snippet(response.body)}"
        if response.status < 500 and response.status not in _RETRY_STATUS:
            return error, None, True  # other 4xx: the request itself is wrong, retrying cannot help
        delay = _retry_after(response.headers)
        if delay is not None:
            # At least what the server asked; up to 10% more so waiting workers do not return in one burst.
            delay = min(delay, self.endpoint.max_retry_after_s) * random.uniform(1.0, 1.1)
        return error, delay, False

    async def _wait_to_retry(self, request: Request, error: str, attempt: int, delay: float | None) -> bool:
        """Sleep before the next attempt; ``False`` when the run is stopping (the request is sent again on resume)."""
        endpoint = self.endpoint
        if delay is None:
            base = min(endpoint.backoff_max_s, endpoint.backoff_initial_s * 2 ** (attempt - 1))
            delay = base / 2 + random.uniform(0, base / 2)  # "equal jitter": spread, yet never near zero
        self.retries += 1
        logger.debug("item %s sample %d: %s; retry %d in %.2fs", *request.key, error, attempt, delay)
        if self.stopping and self.summary.stopped_reason in ("interrupted", "error"):
            return False
        wait_start = time.monotonic()
        try:
            await asyncio.wait_for(self.stop_event.wait(), timeout=delay)
        except TimeoutError:
            return True
        if self.summary.stopped_reason in ("interrupted", "error"):
            return False
        # A budget stop lets in-flight work finish, retries included: wait out the rest of the delay.
        await asyncio.sleep(max(0.0, delay - (time.monotonic() - wait_start)))
        return True

    async def execute(self) -> RunSummary:
        begin = time.monotonic()
        client = make_client(
            self.endpoint.base_url,
            self.endpoint.request_headers(),
            self.endpoint.connect_timeout_s,
            self.endpoint.http_client,
        )
        try:
            self.workers = [asyncio.create_task(self.worker(client)) for _ in range(self.concurrency)]
            outcomes = await asyncio.gather(*self.workers, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
                    raise outcome
        finally:
            for task in self.workers:
                task.cancel()
            await client.aclose()
            self.progress.close(self.summary, self.retries)
            self.summary.elapsed_s = time.monotonic() - begin
        if self.error is not None:
            raise self.error
        summary = self.summary
        logger.info(
            "runner: %d ok, %d failed, %d already done, %d HTTP requests, %d tokens in %.1fs (%.1f req/s)%s",
            summary.succeeded,
            summary.failed,
            summary.skipped,
            summary.attempts,
            summary.total_tokens,
            summary.elapsed_s,
            summary.requests_per_s,
            f"; stopped: {summary.stopped_reason}" if summary.stopped_reason else "",
        )
        if summary.stopped_reason == "too_many_failures":
            raise EndpointError(
                f"stopped after {self.consecutive_failures} failed requests in a row to {self.endpoint.display_url} "
                f"(last: {self.last_error}); fix the endpoint and run again to resume"
            )
        return summary


def _path_of(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _failure(request: Request, error: str, attempts: int, latency: float) -> ChatResult:
    return ChatResult(
        item_id=request.item_id,
        sample_index=request.sample_index,
        error=redact_text(" ".join(error.split())),
        attempts=attempts,
        latency_s=round(latency, 4),
    )


def _parse_result(
    request: Request, response: Response, parse: ResponseParser, latency: float, attempt: int
) -> ChatResult | str:
    """A result from a 200 body, or the error string when the body is not a valid answer (retried)."""
    try:
        reply = parse(json.loads(response.body))
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return f"malformed response ({type(exc).__name__}: {exc}): {_snippet(response.body, 120)}"
    reasoning, completion = split_reasoning(reply.content, reply.reasoning)
    return ChatResult(
        item_id=request.item_id,
        sample_index=request.sample_index,
        reasoning=reasoning,
        completion=completion,
        content=reply.content,
        finish_reason=reply.finish_reason,
        usage=reply.usage,
        latency_s=round(latency, 4),
        error=None,
        attempts=attempt,
        model=reply.model,
    )


async def arun_chat(
    requests: Iterable[Request],
    endpoint: EndpointConfig,
    results_path: str | Path,
    *,
    route: str = CHAT_ROUTE,
    parse_response: ResponseParser = parse_chat_response,
    concurrency: int = 32,
    progress: bool = True,
    retry_failed: bool = True,
    max_requests: int | None = None,
    max_total_tokens: int | None = None,
    max_consecutive_failures: int | None = 100,
    fsync: bool = False,
    total: int | None = None,
    on_result: Callable[[ChatResult], None] | None = None,
    _run_hook: Callable[[Any], None] | None = None,
) -> RunSummary:
    """Async core of :func:`run_chat` (same arguments, no endpoint check, no signal handling).

    Cancelling the task that awaits it cancels in-flight requests; finished results are already
    in the log.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    if total is None and hasattr(requests, "__len__"):
        total = len(requests)  # type: ignore[arg-type]
    with ResultLog(results_path, fsync=fsync) as log:
        run = _Run(
            requests,
            endpoint,
            log,
            route=route,
            parse=parse_response,
            concurrency=concurrency,
            progress=progress,
            retry_failed=retry_failed,
            max_requests=max_requests,
            max_total_tokens=max_total_tokens,
            max_consecutive_failures=max_consecutive_failures,
            on_result=on_result,
            total=total,
        )
        if _run_hook is not None:
            _run_hook(run)
        return await run.execute()


def run_chat(
    requests: Iterable[Request],
    endpoint: EndpointConfig,
    results_path: str | Path,
    *,
    route: str = CHAT_ROUTE,
    parse_response: ResponseParser = parse_chat_response,
    concurrency: int = 32,
    progress: bool = True,
    retry_failed: bool = True,
    max_requests: int | None = None,
    max_total_tokens: int | None = None,
    max_consecutive_failures: int | None = 100,
    fsync: bool = False,
    check: bool = True,
    total: int | None = None,
    on_result: Callable[[ChatResult], None] | None = None,
) -> RunSummary:
    """Send every request to ``endpoint`` and append one result per (item_id, sample_index) to ``results_path``.

    Resumable: results already in the log are not requested again, so a run killed at any moment
    (``kill -9`` included) continues where it stopped when called again with the same arguments.
    Requests are pulled lazily from ``requests`` by ``concurrency`` workers, and results go to the
    log as they arrive, not to memory: read them with :func:`~finr1_core.runner.iter_results`.

    Retries (up to ``endpoint.max_retries``, exponential backoff with jitter, or the server's
    ``Retry-After`` in seconds or as an HTTP date) cover connection errors, timeouts, malformed 200
    bodies, 408, 429 and 5xx; other 4xx fail at once. A call that still fails is written with its
    ``error``, never dropped. 401, 402 and 403 stop the whole run at once with
    :class:`~finr1_core.errors.AuthError` (every further request would be refused the same way):
    the refused call is written as a failure (``on_result`` sees it) and sent again by a run with the
    fixed key; requests in flight are abandoned and sent again too.

    Ctrl-C stops taking requests and waits for the in-flight ones to be written (a second Ctrl-C
    abandons them), then raises :class:`RunInterrupted` (a ``KeyboardInterrupt``).

    Args:
        requests: Any iterable of :class:`ChatRequest` (or :class:`CompletionRequest` with the
            completions route; a generator keeps memory flat). Keys must be unique; a duplicate is
            skipped only when already logged or in flight.
        endpoint: Where to send them.
        results_path: The JSONL result log (created if missing, locked while the run lasts).
        route: Path after ``endpoint.base_url`` (``"/chat/completions"``; ``""`` posts to ``base_url``).
        parse_response: Turns a 200 body into a :class:`~finr1_core.runner.Reply`
            (:func:`~finr1_core.runner.parse_chat_response` by default).
        concurrency: Requests in flight at once.
        progress: Show a tqdm bar on stderr (rate, ETA, tokens, errors, retries).
        retry_failed: On resume, send again the keys whose logged result is a failure
            (``False``: treat them as done).
        max_requests: Start at most this many requests in this run (retries not counted).
        max_total_tokens: Start no new request once this run's results used this many tokens
            (requests in flight finish, so the total can exceed it by their share).
        max_consecutive_failures: Stop with :class:`EndpointError` after this many failed results
            in a row (an endpoint that went away); ``None`` never stops.
        fsync: ``fsync`` the log after each line (power-loss safety; see :mod:`.results`).
        check: Call :func:`check_endpoint` first.
        total: Number of requests, for the progress bar's ETA (taken from ``len(requests)`` if
            it has one).
        on_result: Called with each result after it is written.

    Returns:
        Counts for this run; ``stopped_reason`` says whether a budget stopped it early.

    Raises:
        AuthError: The endpoint refused the key (at start or during the run).
        EndpointError: Unreachable endpoint or unknown model at start; too many failures in a row.
        ArtifactError: Another process holds the result log.
        InputError: The result log has a corrupt line (other than an unfinished last line).
        RunInterrupted: After a clean stop on Ctrl-C.
    """
    if check:
        check_endpoint(endpoint)
    options = {
        "route": route,
        "parse_response": parse_response,
        "concurrency": concurrency,
        "progress": progress,
        "retry_failed": retry_failed,
        "max_requests": max_requests,
        "max_total_tokens": max_total_tokens,
        "max_consecutive_failures": max_consecutive_failures,
        "fsync": fsync,
        "total": total,
        "on_result": on_result,
    }
    summary = _run_with_sigint(lambda hook: arun_chat(requests, endpoint, results_path, **options, _run_hook=hook))
    if summary.stopped_reason == "interrupted":
        raise RunInterrupted(summary)
    return summary


def run_completions(
    requests: Iterable[Request],
    endpoint: EndpointConfig,
    results_path: str | Path,
    **options: Any,
) -> RunSummary:
    """:func:`run_chat` for raw completions: :class:`CompletionRequest` prompts to the completions route.

    The route is :func:`~finr1_core.runner.completions_route` of ``endpoint.base_url``
    (``…/v1/completions``, or the URL itself for a custom inference server), and bodies are read with
    :func:`~finr1_core.runner.parse_completions_response`. Every other argument, guarantee and error
    is :func:`run_chat`'s (resume, retries with Retry-After, budgets, progress, Ctrl-C, AuthError).
    """
    options.setdefault("route", completions_route(endpoint.base_url))
    options.setdefault("parse_response", parse_completions_response)
    return run_chat(requests, endpoint, results_path, **options)


def _run_with_sigint(start: Callable[[Callable[[Any], None]], Any]) -> RunSummary:
    """Run one runner coroutine on a fresh event loop; Ctrl-C asks the run to stop cleanly.

    ``start(hook)`` builds the coroutine; ``hook`` receives the :class:`_Run` so the signal handler can
    reach it. The handler is installed only on the main thread (signals are delivered there).
    """
    holder: list[_Run] = []

    async def _main() -> RunSummary:
        loop = asyncio.get_running_loop()
        handle_sigint = threading.current_thread() is threading.main_thread()
        if handle_sigint:
            loop.add_signal_handler(signal.SIGINT, lambda: holder[0].on_sigint() if holder else None)
        try:
            return await start(holder.append)
        finally:
            if handle_sigint:
                loop.remove_signal_handler(signal.SIGINT)

    return asyncio.run(_main())
