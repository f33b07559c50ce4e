"""Generation: the requests of a benchmark, sent through core's runner, and the replies read back.

Each request is keyed ``<item id>@<hash of the exact prompt>`` in the log ``cache/<key>/<benchmark>.jsonl``
of the run's work dir, where ``key`` (:meth:`EvalConfig.cache_key`) hashes the model name and the weights'
revision when known, sampling, prompt variant, system prompt and API mode. A killed run resumes from the
log; a finished call is never made again; a changed prompt is a new request.

Both API modes go through :mod:`finr1_core.runner`, with its guarantees (bounded concurrency, retries with
backoff and ``Retry-After`` in seconds or as an HTTP date, budgets, progress, a clean stop on Ctrl-C, and
401/402/403 stopping the run at once with :class:`~finr1_core.errors.AuthError`):

- ``chat``: messages to ``{base_url}/chat/completions`` (:func:`~finr1_core.runner.run_chat`);
- ``completions`` (Fin-R1's raw mode, no chat template on the server): one prompt string to
  ``{base_url}/completions`` when ``base_url`` ends in ``/v1``, else to ``base_url`` itself (a custom
  inference URL) (:func:`~finr1_core.runner.run_completions`). :func:`render_prompt` builds the string.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from finr1_core.errors import EndpointError
from finr1_core.runner import ChatRequest, ChatResult, CompletionRequest, UsableCount, read_results
from finr1_core.schemas import EvalSample
from finr1_evaluate.config import EvalConfig, ModelEndpoint

logger = logging.getLogger(__name__)

# Why a generation is unusable (UsableCount reasons; the names distill uses for the same failures).
REQUEST_FAILED = "request_failed"
EMPTY_ANSWER = "empty_answer"
NOT_GENERATED = "not_generated"


def unusable_reason(result: ChatResult | None) -> str | None:
    """Why a generation does not count (``None`` when it does).

    It counts when the call succeeded with an answer, or was cut off at ``max_tokens`` (the model answering
    at length is a result, scored as it stands). An empty final answer that was not cut off is the endpoint
    failing, not the model answering: a vLLM server running a reasoning parser on a model that does not write
    ``<think>`` moves the whole answer into ``reasoning_content`` and sends ``content`` null (issue 11, item 1).
    """
    if result is None:
        return NOT_GENERATED
    if not result.ok:
        return REQUEST_FAILED
    if not result.completion.strip() and result.finish_reason != "length":
        return EMPTY_ANSWER
    return None


def count_usable(results: Sequence[ChatResult | None]) -> UsableCount:
    """The usable generations of one benchmark, with why the others failed (for ``check_usable``)."""
    count = UsableCount()
    for result in results:
        reason = unusable_reason(result)
        example = None
        if reason == REQUEST_FAILED and result is not None:
            example = result.error
        elif reason == EMPTY_ANSWER and result is not None and result.answer_in_reasoning_only:
            example = (
                "content null, the whole answer in reasoning_content (a reasoning parser on a non-reasoning model?)"
            )
        count.add(reason is None, reason, example)
    return count


def prompt_messages(cfg: EvalConfig, item: Any) -> list[dict[str, str]]:
    """The messages sent for ``item``: its prompt, with the run's system prompt (if any) in front."""
    messages = [_as_dict(m) for m in item.messages]
    if cfg.system_prompt:
        messages = [{"role": "system", "content": cfg.system_prompt}, *[m for m in messages if m["role"] != "system"]]
    return messages


def _as_dict(message: Any) -> dict[str, str]:
    if isinstance(message, Mapping):
        return {"role": str(message["role"]), "content": str(message["content"])}
    return {"role": message.role, "content": message.content}


def request_key(item_id: str, messages: Sequence[Mapping[str, str]]) -> str:
    """The cache key of one item's request: its id plus a hash of the exact prompt."""
    digest = hashlib.sha256(json.dumps(list(messages), ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:10]
    return f"{item_id}@{digest}"


def render_prompt(messages: Sequence[Mapping[str, str]], prompt_format: str = "plain") -> str:
    """Turn chat messages into one prompt string for the completions mode.

    - ``plain``: the turns' contents joined by blank lines; with more than one turn each is prefixed by
      its role (``User:``/``Assistant:``) and the prompt ends with ``Assistant:``;
    - ``chatml``: Qwen's ``<|im_start|>role\\n…<|im_end|>`` layout ending with an open assistant turn
      (without Qwen's default system prompt, which the chat template would add).
    """
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


def check_reachable(endpoint: ModelEndpoint, timeout_s: float = 10.0) -> None:
    """Fail fast when nothing listens at a custom raw URL's host and port (no request is sent).

    A custom inference URL (completions mode, a ``base_url`` not ending in ``/v1``) has no models list for
    :func:`~finr1_core.runner.check_endpoint` to ask, so only the connection is checked.
    """
    from finr1_core.redaction import display_url

    shown = display_url(endpoint.base_url)
    parts = urlsplit(endpoint.base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError(
            f"{endpoint.setting_name('base_url')} {shown!r} is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)"
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise EndpointError(
            f"cannot reach {shown}: {exc.strerror or exc}; is the server running and "
            f"{endpoint.setting_name('base_url')} right?"
        ) from None


def generate(
    cfg: EvalConfig, requests: Mapping[str, list[dict[str, str]]], log_path: Path, *, progress: bool
) -> dict[str, ChatResult]:
    """Send the requests not yet in ``log_path`` (none with ``--rescore``) and return every logged reply.

    Raises:
        AuthError: the endpoint refused the key (401/402/403): the run stops at once.
    """
    from finr1_core.runner import run_chat, run_completions

    if not cfg.rescore and requests:
        params = cfg.sampling.request_params()
        # The endpoint was checked once at start (check=False); the log makes finished keys free on a rerun.
        options: dict[str, Any] = {"concurrency": cfg.concurrency, "progress": progress, "check": False}
        if cfg.model.api_mode == "completions":
            prompt_format = cfg.model.prompt_format
            raw = [
                CompletionRequest(key, 0, render_prompt(msgs, prompt_format), params) for key, msgs in requests.items()
            ]
            run_completions(raw, cfg.model, log_path, **options)
        else:
            chat = [ChatRequest(key, 0, msgs, params) for key, msgs in requests.items()]
            run_chat(chat, cfg.model, log_path, **options)
    if not log_path.is_file():
        return {}
    return {key: r for (key, _), r in read_results(log_path).items() if key in requests}


def responses_from_samples(
    samples: Sequence[EvalSample], truncated_ids: Sequence[str], wanted: Mapping[str, Any]
) -> dict[str, ChatResult]:
    """The replies stored in an artifact's sample rows, keyed like the cache (for ``--rescore``).

    A row counts only when its stored prompt is exactly the one this run would send (same key) and its call
    succeeded; ``truncated_ids`` restores the ``finish_reason`` of replies cut off at ``max_tokens``.
    """
    truncated = set(truncated_ids)
    out: dict[str, ChatResult] = {}
    for sample in samples:
        if (sample.error or "").startswith("generation_error"):
            continue
        key = request_key(sample.id, [m.model_dump() for m in sample.messages])
        if key in wanted:
            out[key] = ChatResult(
                item_id=key,
                sample_index=0,
                reasoning=sample.reasoning or "",
                completion=sample.response or "",
                content=sample.response,
                finish_reason="length" if sample.id in truncated else "stop",
                usage=sample.usage.model_dump() if sample.usage else None,
                latency_s=sample.latency_s or 0.0,
            )
    return out
