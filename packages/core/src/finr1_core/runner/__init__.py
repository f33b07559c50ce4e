"""The async runner shared by distill, judge and evaluate: chat calls to any OpenAI-compatible endpoint.

::

    from finr1_core.runner import ChatRequest, EndpointConfig, iter_results, run_chat

    endpoint = EndpointConfig(base_url="https://api.deepseek.com", model="deepseek-reasoner", api_key_env="DEEPSEEK_API_KEY")
    requests = (ChatRequest(item.id, 0, [{"role": "user", "content": item.prompt}], {"temperature": 0.6}) for item in items)
    summary = run_chat(requests, endpoint, work_dir / "teacher.jsonl", concurrency=64)
    for result in iter_results(work_dir / "teacher.jsonl"):
        ...  # result.reasoning, result.completion, result.finish_reason, result.error

Guarantees: bounded concurrency with lazily consumed input (flat memory); retries with backoff,
jitter and Retry-After on connection errors, timeouts, 408, 429 and 5xx, never on other 4xx; one
JSONL line per finished call, written as it arrives, so a killed run resumes without repeating
finished calls (see :mod:`finr1_core.runner.results` for the crash-safety details); failures are
recorded with their error and sent again on resume unless ``retry_failed=False``; budgets on
requests and tokens; a clean stop on Ctrl-C.
"""

from finr1_core.runner.endpoint import EndpointConfig, check_endpoint
from finr1_core.runner.records import ChatRequest, ChatResult, RunSummary, split_reasoning
from finr1_core.runner.results import ResultLog, iter_results, read_results
from finr1_core.runner.run import RunInterrupted, arun_chat, run_chat

__all__ = [
    "ChatRequest",
    "ChatResult",
    "EndpointConfig",
    "ResultLog",
    "RunInterrupted",
    "RunSummary",
    "arun_chat",
    "check_endpoint",
    "iter_results",
    "read_results",
    "run_chat",
    "split_reasoning",
]
