"""Ask a served model one question with Fin-R1's inference preset (RECIPE.md §9)."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from finr1_core.answers.format import split_reasoning, unwrap_answer
from finr1_core.errors import EndpointError
from finr1_serve.health import api_base_url

logger = logging.getLogger(__name__)

FIN_R1_SYSTEM_PROMPT = (
    "You are a helpful AI Assistant that provides well-reasoned and detailed responses. You first think about the "
    "reasoning process as an internal monologue and then provide the user with the answer. Respond in the "
    "following format: <think>\n...\n</think>\n<answer>\n...\n</answer>"
)
"""RECIPE.md §6: open-r1's demo prompt, which Fin-R1's README uses for inference."""

INFERENCE_PRESET: dict[str, float | int] = {
    "temperature": 0.7,
    "top_p": 0.8,
    "max_tokens": 4000,
    "repetition_penalty": 1.05,
}
"""RECIPE.md §9 (not the evaluation preset); ``repetition_penalty`` travels in ``extra_body``."""


@dataclass
class Reply:
    """One answer, with the reasoning split from the final answer.

    Attributes:
        reasoning: The think part (``reasoning_content``/``reasoning`` or the ``<think>`` block); may be empty.
        answer: What follows the reasoning (unwrapped when it is exactly one ``<answer>`` block).
        content: The raw ``message.content``.
        model: The model name the server reported.
        finish_reason: ``stop``, ``length``, …
        usage: Token counts as reported.
        latency_s: Wall time of the request.
    """

    reasoning: str
    answer: str
    content: str
    model: str
    finish_reason: str | None
    usage: dict[str, Any] = field(default_factory=dict)
    latency_s: float = 0.0


def split_reply(content: str | None, reasoning_field: str | None) -> tuple[str, str]:
    """Return ``(reasoning, answer)`` from a message's content and its reasoning field, if any.

    The reasoning field wins (vLLM's reasoning parser, DeepSeek, ``transformers serve`` on Qwen models);
    otherwise the content is split as the format contract splits it (:func:`finr1_core.answers.split_reasoning`:
    at the last ``</think>``, the opening tag may be missing when a chat template adds it; a ``<think>`` that never
    closes leaves no answer). An answer that is exactly one ``<answer>…</answer>`` block is unwrapped.
    """
    content = content or ""
    reasoning = (reasoning_field or "").strip()
    answer: str = content
    if not reasoning:
        reasoning, after = split_reasoning(content)
        answer = after or ""
    return reasoning, unwrap_answer(answer)


def ask(
    question: str,
    url: str,
    model: str = "Fin-R1",
    system_prompt: str | None = FIN_R1_SYSTEM_PROMPT,
    api_key_env: str | None = None,
    params: dict[str, Any] | None = None,
    timeout_s: float = 600.0,
) -> Reply:
    """Send one chat request and split the reply.

    Args:
        question: The user message.
        url: Server base URL, with or without ``/v1``.
        model: Model name to request (the served name).
        system_prompt: System message; ``None`` or empty sends none.
        api_key_env: Name of the environment variable holding the API key; the key defaults to ``EMPTY``.
        params: Sampling parameters overriding :data:`INFERENCE_PRESET`; keys other than ``temperature``,
            ``top_p``, ``max_tokens`` and ``seed`` go into ``extra_body``.
        timeout_s: Request timeout.

    Raises:
        EndpointError: The server cannot be reached, refuses the request, or answers without a message.
    """
    import openai

    api_key = "EMPTY"
    if api_key_env:
        api_key = os.environ.get(api_key_env, "")
        if not api_key:
            raise EndpointError(f"environment variable {api_key_env} (--api-key-env) is not set")
    settings = {**INFERENCE_PRESET, **(params or {})}
    standard = {k: settings.pop(k) for k in ("temperature", "top_p", "max_tokens", "seed") if k in settings}
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": question})

    base_url = api_base_url(url)
    client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=1)
    started = time.monotonic()
    try:
        response = client.chat.completions.create(
            model=model,
            messages=messages,  # type: ignore[arg-type]
            extra_body=settings or None,
            **standard,
        )
    except openai.APIStatusError as exc:
        raise EndpointError(f"{base_url} answered HTTP {exc.status_code}: {_error_text(exc)}") from None
    except openai.APIConnectionError as exc:
        raise EndpointError(
            f"cannot reach {base_url}: {exc.__cause__ or exc}; is the server up (finr1-serve health)?"
        ) from None
    latency = time.monotonic() - started
    if not response.choices or response.choices[0].message is None:
        raise EndpointError(f"{base_url} answered without a message: {response!r:.200}")
    choice = response.choices[0]
    message = choice.message
    extra = message.model_extra or {}
    reasoning_field = extra.get("reasoning_content") or extra.get("reasoning")
    reasoning, answer = split_reply(message.content, reasoning_field)
    usage = response.usage.model_dump() if response.usage is not None else {}
    logger.debug("answer from %s in %.1f s: %s", base_url, latency, usage)
    return Reply(
        reasoning=reasoning,
        answer=answer,
        content=message.content or "",
        model=response.model,
        finish_reason=choice.finish_reason,
        usage=usage,
        latency_s=latency,
    )


def _error_text(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return str(inner.get("message") or inner.get("detail") or inner)[:300]
        return str(inner)[:300]
    return str(exc)[:300]
