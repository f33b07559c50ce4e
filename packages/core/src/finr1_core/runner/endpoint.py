"""Where model calls go: :class:`EndpointConfig` and the start-up check :func:`check_endpoint`."""

from __future__ import annotations

import json
import logging
import os
from typing import Literal

from pydantic import Field

from finr1_core.config import StrictModel
from finr1_core.errors import EndpointError
from finr1_core.runner._http import proxy_for, ssl_context

logger = logging.getLogger(__name__)


class EndpointConfig(StrictModel):
    """An OpenAI-compatible chat endpoint (vLLM, ``transformers serve``, DeepSeek, OpenAI, ...)."""

    base_url: str = Field(
        description="Base URL up to the API root, e.g. http://localhost:8000/v1 or https://api.deepseek.com"
    )
    model: str = Field(description="Model id sent in every request and expected in GET {base_url}/models")
    api_key_env: str | None = Field(
        default=None, description="NAME of the environment variable holding the API key (never the key itself)"
    )
    timeout_s: float = Field(
        default=600.0, gt=0, description="Per-request limit, whole exchange (long R1 traces take minutes)"
    )
    connect_timeout_s: float = Field(default=10.0, gt=0, description="Limit on opening one connection")
    max_retries: int = Field(
        default=5, ge=0, description="Retries after the first attempt (connection errors, timeouts, 408, 429, 5xx)"
    )
    backoff_initial_s: float = Field(
        default=1.0, ge=0, description="First backoff delay; doubles per retry, with jitter"
    )
    backoff_max_s: float = Field(default=60.0, ge=0, description="Cap on one backoff delay")
    max_retry_after_s: float = Field(default=600.0, ge=0, description="Cap on a server's Retry-After")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra non-secret request headers")
    http_client: Literal["auto", "lean", "httpx"] = Field(
        default="auto", description="auto: the lean asyncio client unless a proxy applies (then httpx)"
    )

    def api_key(self) -> str | None:
        """The key read from ``$api_key_env`` (``None`` when no variable is configured).

        Raises:
            EndpointError: When ``api_key_env`` names a variable that is unset or empty.
        """
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise EndpointError(
                f"environment variable {self.api_key_env} (endpoint.api_key_env) is not set; "
                f"export {self.api_key_env}=<key> for {self.base_url}"
            )
        return value

    def request_headers(self) -> dict[str, str]:
        """Headers of every request, Authorization included (keep out of logs)."""
        from finr1_core import __version__

        headers = {
            "User-Agent": f"finr1-core/{__version__}",
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "Content-Type": "application/json",
            **self.headers,
        }
        key = self.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def url(self, route: str) -> str:
        """``base_url`` joined with ``route`` (``"/chat/completions"``), as the OpenAI SDK joins them."""
        return self.base_url.rstrip("/") + route


def check_endpoint(endpoint: EndpointConfig, timeout_s: float = 15.0) -> list[str]:
    """Check at start that the endpoint answers, accepts the key and serves ``endpoint.model``.

    Sends ``GET {base_url}/models``. A server without that route (404/405) passes with a warning;
    so does a models list that is empty.

    Returns:
        The model ids the server lists (empty when it does not list any).

    Raises:
        EndpointError: One line naming the URL and the fix when the server is unreachable, refuses
            the key, answers an error or something that is not a models list, or does not serve
            ``endpoint.model``.
    """
    import httpx

    url = endpoint.url("/models")
    headers = endpoint.request_headers()
    try:
        proxied = proxy_for(url) is not None
        with httpx.Client(timeout=timeout_s, trust_env=proxied, verify=ssl_context()) as client:
            response = client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise EndpointError(f"cannot reach {url}: {reason}; is the server running and base_url right?") from None
    status = response.status_code
    if status in (401, 403):
        where = f"the key in ${endpoint.api_key_env}" if endpoint.api_key_env else "requests without a key"
        raise EndpointError(f"{url} refused {where} (HTTP {status}); set endpoint.api_key_env to the right variable")
    if status in (404, 405):
        logger.warning("%s answered HTTP %d; cannot check that it serves %r", url, status, endpoint.model)
        return []
    if status != 200:
        raise EndpointError(f"{url} answered HTTP {status}: {_snippet(response.content)}")
    try:
        data = response.json()
        ids = [str(entry["id"]) for entry in data["data"]]
    except (ValueError, KeyError, TypeError):
        raise EndpointError(
            f"{url} did not answer an OpenAI models list ({_snippet(response.content)}); is base_url the API root (…/v1)?"
        ) from None
    if ids and endpoint.model not in ids:
        shown = ", ".join(ids[:10]) + (", …" if len(ids) > 10 else "")
        raise EndpointError(
            f"{endpoint.base_url} does not serve model {endpoint.model!r} (it serves: {shown}); fix endpoint.model"
        )
    return ids


def _snippet(body: bytes, limit: int = 200) -> str:
    """One line of a response body for an error message (the ``error.message`` of a JSON error)."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
        if isinstance(data, dict) and isinstance(data.get("error"), dict) and data["error"].get("message"):
            text = str(data["error"]["message"])
        elif isinstance(data, dict) and isinstance(data.get("error"), str):
            text = data["error"]
        elif isinstance(data, dict) and isinstance(data.get("detail"), str):
            text = data["detail"]
    except ValueError:
        pass
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")
