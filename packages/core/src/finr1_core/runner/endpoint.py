"""Where model calls go: :class:`EndpointConfig` and the start-up check :func:`check_endpoint`.

Every stage that calls a model (distill's teacher, judge's judges, evaluate's model and judge, the
GRPO verifier) configures it with an :class:`EndpointConfig` or a subclass that adds its own
defaults, so all of them share the retry, backoff, timeout and HTTP client settings.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field

from finr1_core.config import StrictModel
from finr1_core.errors import AuthError, EndpointError
from finr1_core.redaction import display_url, redact_text
from finr1_core.runner._http import proxy_for, ssl_context

#: HTTP statuses that mean "these credentials will not work": the run stops at once (see :class:`AuthError`).
AUTH_STATUSES = frozenset({401, 402, 403})

logger = logging.getLogger(__name__)


class EndpointConfig(StrictModel):
    """An OpenAI-compatible endpoint (vLLM, ``transformers serve``, DeepSeek, OpenAI, ...).

    ``base_url`` may carry ``user:password@`` (a reverse proxy with basic auth): it is sent as
    ``Authorization: Basic`` unless ``api_key_env`` gives a bearer key, and never shown (messages
    use :attr:`display_url`).
    """

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

    def _default_setting_name(self, field: str) -> str:
        return f"endpoint.{field}"

    @property
    def display_url(self) -> str:
        """``base_url`` as shown in messages: without user info, secret query parameters redacted."""
        return display_url(self.base_url)

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
                f"environment variable {self.api_key_env} ({self.setting_name('api_key_env')}) is not set; "
                f"export {self.api_key_env}=<key> for {self.display_url}"
            )
        return value

    def _basic_auth(self) -> str | None:
        parts = urlsplit(self.base_url)
        if parts.username is None:
            return None
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")

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
        basic = self._basic_auth()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        elif basic:
            headers["Authorization"] = basic
        return headers

    def url(self, route: str) -> str:
        """``base_url`` joined with ``route`` (``"/chat/completions"``), as the OpenAI SDK joins them."""
        return self.base_url.rstrip("/") + route

    def key_hint(self) -> str:
        """Where the credentials come from, for messages: ``$VAR``, the URL's user info, or none."""
        if self.api_key_env:
            return f"the key in ${self.api_key_env} ({self.setting_name('api_key_env')})"
        if urlsplit(self.base_url).username is not None:
            return f"the user and password in {self.setting_name('base_url')}"
        return f"requests without a key (set {self.setting_name('api_key_env')} to the variable holding it)"


def completions_route(base_url: str) -> str:
    """The raw-completions route for ``base_url``: ``/completions`` after ``…/v1``, else ``""`` (a custom URL).

    Fin-R1's raw mode posted the prompt to a custom inference URL as given; an OpenAI-compatible
    server (vLLM, ``transformers serve``) has it at ``{base_url}/completions``.
    """
    return "/completions" if base_url.rstrip("/").endswith("/v1") else ""


def auth_error(endpoint: EndpointConfig, url: str, status: int, body: bytes) -> AuthError:
    """The one-line error for a refused key: the endpoint without credentials, the status and the variable."""
    fix = "top up the account (402: payment required)" if status == 402 else "fix the key"
    return AuthError(
        f"{display_url(url)} refused {endpoint.key_hint()} (HTTP {status}: {_snippet(body)}); "
        f"{fix} and run again (finished work is kept and resumed)"
    )


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
    shown_url = display_url(url)
    headers = endpoint.request_headers()
    request_url = _without_userinfo(url)  # credentials go in the Authorization header, never in the URL
    try:
        proxied = proxy_for(url) is not None
        with httpx.Client(timeout=timeout_s, trust_env=proxied, verify=ssl_context()) as client:
            response = client.get(request_url, headers=headers)
    except httpx.HTTPError as exc:
        reason = redact_text(str(exc) or type(exc).__name__).replace(request_url, shown_url)
        raise EndpointError(
            f"cannot reach {shown_url}: {reason}; is the server running and {endpoint.setting_name('base_url')} right?"
        ) from None
    status = response.status_code
    if status in AUTH_STATUSES:
        raise auth_error(endpoint, url, status, response.content)
    if status in (404, 405):
        logger.warning("%s answered HTTP %d; cannot check that it serves %r", shown_url, status, endpoint.model)
        return []
    if status != 200:
        raise EndpointError(f"{shown_url} answered HTTP {status}: {_snippet(response.content)}")
    try:
        data = response.json()
        ids = [str(entry["id"]) for entry in data["data"]]
    except (ValueError, KeyError, TypeError):
        raise EndpointError(
            f"{shown_url} did not answer an OpenAI models list ({_snippet(response.content)}); "
            f"is {endpoint.setting_name('base_url')} the API root (…/v1)?"
        ) from None
    if ids and endpoint.model not in ids:
        listed = ", ".join(ids[:10]) + (", …" if len(ids) > 10 else "")
        raise EndpointError(
            f"{endpoint.display_url} does not serve model {endpoint.model!r} (it serves: {listed}); "
            f"fix {endpoint.setting_name('model')}"
        )
    return ids


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


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
    text = redact_text(" ".join(text.split()))  # servers echo keys in their errors ("Incorrect API key sk-…")
    return text[:limit] + ("…" if len(text) > limit else "")
