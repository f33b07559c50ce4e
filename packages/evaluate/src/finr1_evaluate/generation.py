"""Generation: the requests of a benchmark, sent through the resumable runner, and the replies read back.

Each request is keyed ``<item id>@<hash of the exact prompt>`` in the log ``cache/<key>/<benchmark>.jsonl``
of the run's work dir, where ``key`` (:meth:`EvalConfig.cache_key`) hashes the model name and the weights'
revision when known, sampling, prompt variant, system prompt and API mode. A killed run resumes from the
log; a finished call is never made again; a changed prompt is a new request.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finr1_core.schemas import EvalSample
from finr1_evaluate.config import EvalConfig
from finr1_evaluate.usable import stop_on_auth_error

logger = logging.getLogger(__name__)


@dataclass
class Response:
    """A model or judge reply as the evaluation uses it (from the runner, the raw HTTP mode or an artifact)."""

    content: str | None
    reasoning: str | None
    finish_reason: str | None
    usage: dict[str, Any] | None
    latency_s: float | None
    error: str | None

    @property
    def usable(self) -> bool:
        """A generation that counts: the call succeeded with an answer, or was cut off at ``max_tokens``.

        An empty final answer that was not cut off is the endpoint failing, not the model answering: a vLLM
        server running a reasoning parser on a model that does not write ``<think>`` moves the whole answer
        into ``reasoning_content`` and sends ``content`` null (issue 11, item 1).
        """
        return self.error is None and (bool((self.content or "").strip()) or self.finish_reason == "length")


def from_chat_result(result: Any) -> Response:
    """A runner ``ChatResult`` (reasoning already split from the answer) as a :class:`Response`."""
    return Response(
        content=result.completion if result.error is None else None,
        reasoning=result.reasoning or None,
        finish_reason=result.finish_reason,
        usage=result.usage,
        latency_s=result.latency_s,
        error=result.error,
    )


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


def endpoint_config(base_url: str, model: str, api_key_env: str | None, timeout_s: float, max_retries: int) -> Any:
    """A core :class:`~finr1_core.runner.EndpointConfig` for the model or the judge."""
    from finr1_core.runner import EndpointConfig

    return EndpointConfig(
        base_url=base_url, model=model, api_key_env=api_key_env, timeout_s=timeout_s, max_retries=max_retries
    )


def model_endpoint(cfg: EvalConfig) -> Any:
    """The endpoint of the model under test."""
    m = cfg.model
    return endpoint_config(m.base_url or "", m.model or "", m.api_key_env, m.timeout_s, m.max_retries)


def generate(
    cfg: EvalConfig, requests: Mapping[str, list[dict[str, str]]], log_path: Path, *, progress: bool
) -> dict[str, Response]:
    """Send the requests not yet in ``log_path`` (none with ``--rescore``) and return every logged reply.

    Raises:
        EndpointError: the endpoint refused the key (401/402/403): the run stops at once.
    """
    from finr1_core.runner import ChatRequest, read_results, run_chat

    if not cfg.rescore and requests:
        endpoint = model_endpoint(cfg)
        params = cfg.sampling.request_params()
        on_result = stop_on_auth_error(endpoint.base_url, endpoint.api_key_env, "--api-key-env")
        if cfg.model.api_mode == "completions":
            from finr1_evaluate.rawhttp import RawRequest, render_prompt, run_raw

            raw = [RawRequest(key, 0, render_prompt(msgs, cfg.model.prompt_format)) for key, msgs in requests.items()]
            run_raw(raw, endpoint, log_path, params=params, concurrency=cfg.concurrency, on_result=on_result)
        else:
            chat = [
                ChatRequest(item_id=key, sample_index=0, messages=msgs, params=params)
                for key, msgs in requests.items()
            ]
            # The endpoint was checked once at start; the log makes finished keys free on a rerun.
            run_chat(
                chat,
                endpoint,
                log_path,
                concurrency=cfg.concurrency,
                progress=progress,
                check=False,
                on_result=on_result,
            )
    if not log_path.is_file():
        return {}
    return {key: from_chat_result(r) for (key, _), r in read_results(log_path).items() if key in requests}


def responses_from_samples(
    samples: Sequence[EvalSample], truncated_ids: Sequence[str], wanted: Mapping[str, Any]
) -> dict[str, Response]:
    """The replies stored in an artifact's sample rows, keyed like the cache (for ``--rescore``).

    A row counts only when its stored prompt is exactly the one this run would send (same key) and its call
    succeeded; ``truncated_ids`` restores the ``finish_reason`` of replies cut off at ``max_tokens``.
    """
    truncated = set(truncated_ids)
    out: dict[str, Response] = {}
    for sample in samples:
        if (sample.error or "").startswith("generation_error"):
            continue
        key = request_key(sample.id, [m.model_dump() for m in sample.messages])
        if key in wanted:
            out[key] = Response(
                content=sample.response,
                reasoning=sample.reasoning,
                finish_reason="length" if sample.id in truncated else "stop",
                usage=sample.usage.model_dump() if sample.usage else None,
                latency_s=sample.latency_s,
                error=None,
            )
    return out
