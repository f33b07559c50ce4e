"""Records the runner takes and returns, the response parsers of its two routes, and the reasoning/answer split.

Two kinds of request go through one runner: :class:`ChatRequest` (messages, ``POST …/chat/completions``)
and :class:`CompletionRequest` (one prompt string, ``POST …/completions``: the raw mode of Fin-R1's
evaluation, no chat template on the server). Each route has a response parser
(:func:`parse_chat_response`, :func:`parse_completions_response`) that turns a 200 body into a
:class:`Reply`; either way the result log holds :class:`ChatResult` lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

_OPEN = "<think>"
_CLOSE = "</think>"


@dataclass(slots=True)
class ChatRequest:
    """One chat call to make.

    Attributes:
        item_id: Id of the source item; with ``sample_index`` the key of the result log.
        sample_index: Which generation of this item (0 for the first).
        messages: OpenAI chat messages (``[{"role": "user", "content": "..."}]``).
        params: Extra body fields merged into the request (``temperature``, ``top_p``,
            ``max_tokens``, ``seed``, ``stop``, ...). A ``model`` key overrides the endpoint's
            model; ``stream`` is always false.
    """

    item_id: str
    sample_index: int
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int]:
        """``(item_id, sample_index)``."""
        return (self.item_id, self.sample_index)

    def body(self, model: str) -> dict[str, Any]:
        """The JSON body sent to ``/chat/completions``."""
        return {"model": model, **self.params, "messages": self.messages, "stream": False}


@dataclass(slots=True)
class CompletionRequest:
    """One raw completions call: a prompt string, no chat template applied by the server.

    Attributes:
        item_id: As in :class:`ChatRequest`.
        sample_index: As in :class:`ChatRequest`.
        prompt: The whole prompt text (the caller renders any chat layout into it).
        params: Extra body fields, as in :class:`ChatRequest`.
    """

    item_id: str
    sample_index: int
    prompt: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int]:
        """``(item_id, sample_index)``."""
        return (self.item_id, self.sample_index)

    def body(self, model: str) -> dict[str, Any]:
        """The JSON body sent to ``/completions``."""
        return {"model": model, **self.params, "prompt": self.prompt, "stream": False}


Request = ChatRequest | CompletionRequest


class Reply(NamedTuple):
    """What a response parser reads from a 200 body.

    Attributes:
        content: The answer text as the server sent it (``None`` when the server sent none).
        reasoning: A separate reasoning field (``reasoning_content``/``reasoning``), if any.
        finish_reason: ``"stop"``, ``"length"``, ...
        usage: The ``usage`` object, if any.
        model: The model id the server reported.
    """

    content: str | None
    reasoning: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    model: str | None = None


#: A response parser: decoded JSON body -> :class:`Reply`. ``ValueError``, ``KeyError``, ``IndexError`` or
#: ``TypeError`` mean "not a valid answer": the runner retries the call like a 5xx.
ResponseParser = Callable[[Any], Reply]


def _usage_of(data: dict[str, Any]) -> dict[str, Any] | None:
    usage = data.get("usage")
    return usage if isinstance(usage, dict) else None


def _reasoning_of(*sources: dict[str, Any]) -> str | None:
    for source in sources:
        for name in ("reasoning_content", "reasoning"):
            value = source.get(name)
            if isinstance(value, str) and value:
                return value
    return None


def parse_chat_response(data: Any) -> Reply:
    """Read an OpenAI chat completion: ``choices[0].message`` content and reasoning, finish reason, usage."""
    choice = data["choices"][0]
    message = choice["message"]
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise TypeError("message.content is not a string")
    model = data.get("model")
    return Reply(content, _reasoning_of(message), choice.get("finish_reason"), _usage_of(data), model)


def parse_completions_response(data: Any) -> Reply:
    """Read a completions body: ``choices[0].text`` (or ``.message.content``), else a top-level text field.

    Custom inference servers behind a raw URL answer ``{"text": …}``, ``{"response": …}``,
    ``{"output": …}`` or ``{"generated_text": …}``; those are read too.
    """
    if not isinstance(data, dict):
        raise TypeError("response body is not a JSON object")
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        raw_message = choice.get("message")
        message: dict[str, Any] = raw_message if isinstance(raw_message, dict) else {}
        text = choice.get("text")
        if text is None:
            text = message.get("content")
        if isinstance(text, str):
            reasoning = _reasoning_of(choice, message)
            return Reply(text, reasoning, choice.get("finish_reason"), _usage_of(data), data.get("model"))
    for name in ("text", "response", "output", "generated_text"):
        if isinstance(data.get(name), str):
            return Reply(data[name], None, data.get("finish_reason"), _usage_of(data), data.get("model"))
    raise KeyError("no text in the response (expected choices[0].text or a text/response/output field)")


@dataclass(slots=True)
class ChatResult:
    """The outcome of one :class:`ChatRequest`, success or failure (one line of the result log).

    Attributes:
        item_id: As in the request.
        sample_index: As in the request.
        reasoning: The reasoning trace, from ``reasoning_content``/``reasoning`` or the inline
            ``<think>`` block, stripped (``""`` when there is none or the call failed).
        completion: The answer after the reasoning, stripped.
        content: The message ``content`` exactly as the server sent it (``None`` on failure).
        finish_reason: ``"stop"``, ``"length"``, ... (``None`` on failure).
        usage: The server's ``usage`` object (``prompt_tokens``, ``completion_tokens``,
            ``total_tokens``), or ``None``.
        latency_s: Seconds taken by the last attempt.
        error: ``None`` on success; otherwise one line saying why, after the retry budget.
        attempts: HTTP attempts made for this result (1 when the first one succeeded).
        model: The model id the server reported.
    """

    item_id: str
    sample_index: int
    reasoning: str = ""
    completion: str = ""
    content: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    latency_s: float = 0.0
    error: str | None = None
    attempts: int = 0
    model: str | None = None

    @property
    def ok(self) -> bool:
        """True when the call succeeded."""
        return self.error is None

    @property
    def answer_in_reasoning_only(self) -> bool:
        """True when the call succeeded but everything came as reasoning and no answer text.

        That is what vLLM's reasoning parser does to a model that never writes ``</think>`` (an
        instruct model served with ``--reasoning-parser``): ``content`` is null and the whole answer
        lands in ``reasoning_content``. Callers report it instead of scoring an empty answer.
        """
        return (
            self.ok and not self.completion.strip() and bool(self.reasoning.strip()) and self.finish_reason != "length"
        )

    @property
    def key(self) -> tuple[str, int]:
        """``(item_id, sample_index)``."""
        return (self.item_id, self.sample_index)

    @property
    def total_tokens(self) -> int:
        """``usage.total_tokens`` (or prompt + completion tokens), 0 when unknown."""
        usage = self.usage or {}
        total = usage.get("total_tokens")
        if isinstance(total, int):
            return total
        return int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0)

    def to_dict(self) -> dict[str, Any]:
        """The JSON row written to the result log (key fields first)."""
        return {
            "item_id": self.item_id,
            "sample_index": self.sample_index,
            "error": self.error,
            "attempts": self.attempts,
            "finish_reason": self.finish_reason,
            "usage": self.usage,
            "latency_s": self.latency_s,
            "model": self.model,
            "reasoning": self.reasoning,
            "completion": self.completion,
            "content": self.content,
        }

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> ChatResult:
        """Inverse of :meth:`to_dict`; unknown keys are ignored so older logs stay readable."""
        return cls(
            item_id=str(row["item_id"]),
            sample_index=int(row["sample_index"]),
            reasoning=row.get("reasoning") or "",
            completion=row.get("completion") or "",
            content=row.get("content"),
            finish_reason=row.get("finish_reason"),
            usage=row.get("usage"),
            latency_s=float(row.get("latency_s") or 0.0),
            error=row.get("error"),
            attempts=int(row.get("attempts") or 0),
            model=row.get("model"),
        )


def usage_record(raw: Any) -> Any:
    """A server's ``usage`` object as :class:`finr1_core.schemas.Usage` (``None`` when it has no token counts).

    Only integer counts are kept (some servers send nulls, floats or extra fields); one copy for every stage
    that stores usage in its rows (distill's rows, evaluate's samples).
    """
    from finr1_core.schemas import Usage

    if not isinstance(raw, dict):
        return None
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    values = {k: raw[k] for k in keys if isinstance(raw.get(k), int) and not isinstance(raw.get(k), bool)}
    return Usage(**values) if values else None


@dataclass(slots=True)
class RunSummary:
    """Counts for one :func:`~finr1_core.runner.run_chat` call.

    Attributes:
        results_path: The result log.
        succeeded: Results written with no error in this run.
        failed: Results written with an error in this run.
        skipped: Requests not sent because the log already had them (resume).
        attempts: HTTP requests sent (retries included).
        prompt_tokens: Sum over this run's successful results.
        completion_tokens: Sum over this run's successful results.
        elapsed_s: Wall time of the run.
        stopped_reason: ``None`` when every request was handled; otherwise
            ``"max_requests"``, ``"max_total_tokens"`` or ``"interrupted"``.
    """

    results_path: str
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    elapsed_s: float = 0.0
    stopped_reason: str | None = None

    @property
    def complete(self) -> bool:
        """True when no budget or interruption stopped the run early."""
        return self.stopped_reason is None

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens of this run."""
        return self.prompt_tokens + self.completion_tokens

    @property
    def requests_per_s(self) -> float:
        """Results written per second of wall time."""
        return (self.succeeded + self.failed) / self.elapsed_s if self.elapsed_s > 0 else 0.0


def split_reasoning(content: str | None, reasoning_content: str | None = None) -> tuple[str, str]:
    """Split a chat answer into ``(reasoning, completion)``.

    The reasoning comes from ``reasoning_content`` (DeepSeek API, vLLM's reasoning parser) and/or
    from an inline think block in ``content``: ``<think>…</think>answer``, or ``…</think>answer``
    when the chat template already opened the block and the server stripped ``<think>``. An
    unclosed ``<think>…`` (cut by ``max_tokens``) is all reasoning. Like vLLM's DeepSeek-R1
    parser, the first ``</think>`` ends the reasoning. Both parts are stripped of surrounding
    whitespace (the forced leading newline of the trace included).

    Args:
        content: The message ``content`` (may be ``None``).
        reasoning_content: The separate reasoning field, if the server sent one.

    Returns:
        ``(reasoning, completion)``; each is ``""`` when absent.
    """
    text = content or ""
    inline = ""
    head, sep, tail = text.partition(_CLOSE)
    if sep:
        start = head.find(_OPEN)
        # Text before an opening tag is kept with the answer side only if the tag is not at the
        # start; a template-stripped block has no opening tag at all.
        inline = head[start + len(_OPEN) :] if start >= 0 else head
        text = (head[:start] if start >= 0 else "") + tail
    elif text.lstrip().startswith(_OPEN):
        inline = text.lstrip()[len(_OPEN) :]
        text = ""
    parts = [p.strip() for p in (reasoning_content or "", inline) if p and p.strip()]
    return "\n".join(parts), text.strip()
