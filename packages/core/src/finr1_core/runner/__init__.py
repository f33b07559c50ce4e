"""The async runner shared by distill, judge, evaluate and the GRPO verifier: calls to any OpenAI-compatible endpoint.

::

    from finr1_core.runner import ChatRequest, EndpointConfig, iter_results, run_chat

    endpoint = EndpointConfig(base_url="https://api.deepseek.com", model="deepseek-reasoner", api_key_env="DEEPSEEK_API_KEY")
    requests = (ChatRequest(item.id, 0, [{"role": "user", "content": item.prompt}], {"temperature": 0.6}) for item in items)
    summary = run_chat(requests, endpoint, work_dir / "teacher.jsonl", concurrency=64)
    for result in iter_results(work_dir / "teacher.jsonl"):
        ...  # result.reasoning, result.completion, result.finish_reason, result.error

Raw completions (a prompt string, no chat template on the server) go through the same runner::

    requests = (CompletionRequest(item.id, 0, prompt_text, {"max_tokens": 4096}) for item in items)
    run_completions(requests, endpoint, work_dir / "model.jsonl")  # POST {base_url}/completions

Guarantees: bounded concurrency with lazily consumed input (flat memory); retries with backoff,
jitter and Retry-After on connection errors, timeouts, 408, 429 and 5xx, never on other 4xx; one
JSONL line per finished call, written as it arrives, so a killed run resumes without repeating
finished calls (see :mod:`finr1_core.runner.results` for the crash-safety details); failures are
recorded with their error and sent again on resume unless ``retry_failed=False``; 401/402/403
stop the run at once (:class:`~finr1_core.errors.AuthError`); budgets on requests and tokens; a
clean stop on Ctrl-C. :func:`check_usable` is the shared "too few usable results" rule of the
stages (``min_usable``).
"""

from finr1_core.runner.endpoint import AUTH_STATUSES, EndpointConfig, check_endpoint, completions_route
from finr1_core.runner.records import (
    ChatRequest,
    ChatResult,
    CompletionRequest,
    Reply,
    Request,
    ResponseParser,
    RunSummary,
    parse_chat_response,
    parse_completions_response,
    split_reasoning,
    usage_record,
)
from finr1_core.runner.results import ResultLog, iter_results, read_results
from finr1_core.runner.run import CHAT_ROUTE, RunInterrupted, arun_chat, run_chat, run_completions
from finr1_core.runner.usable import DEFAULT_MIN_USABLE, UsableCount, check_usable, min_usable_field

__all__ = [
    "AUTH_STATUSES",
    "CHAT_ROUTE",
    "DEFAULT_MIN_USABLE",
    "ChatRequest",
    "ChatResult",
    "CompletionRequest",
    "EndpointConfig",
    "Reply",
    "Request",
    "ResponseParser",
    "ResultLog",
    "RunInterrupted",
    "RunSummary",
    "UsableCount",
    "arun_chat",
    "check_endpoint",
    "check_usable",
    "completions_route",
    "iter_results",
    "min_usable_field",
    "parse_chat_response",
    "parse_completions_response",
    "read_results",
    "run_chat",
    "run_completions",
    "split_reasoning",
    "usage_record",
]
