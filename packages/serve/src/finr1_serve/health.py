"""Wait until an OpenAI-compatible server is ready to answer."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from finr1_core.errors import EndpointError

logger = logging.getLogger(__name__)

#: Names a file where ``up`` records the URL it serves, and where ``health`` without ``--url`` reads it. The serve
#: image sets it, so its HEALTHCHECK follows ``--port`` (the pipeline's servers listen on 8001-8003, not 8000).
STATE_ENV = "FINR1_SERVE_STATE"


def write_served_url(host: str, port: int) -> Path | None:
    """Record ``http://<host>:<port>/v1`` in the ``FINR1_SERVE_STATE`` file (when the variable is set)."""
    target = os.environ.get(STATE_ENV)
    if not target:
        return None
    # 0.0.0.0 / :: listen everywhere; a probe in the same container reaches them on loopback.
    probe_host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"url": f"http://{probe_host}:{port}/v1"}) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: a probe never reads half a file
    return path


def served_url(default: str) -> str:
    """The URL ``up`` recorded in the ``FINR1_SERVE_STATE`` file, or ``default`` when there is none yet."""
    target = os.environ.get(STATE_ENV)
    if not target:
        return default
    try:
        url = json.loads(Path(target).read_text(encoding="utf-8")).get("url")
    except (OSError, ValueError, AttributeError):
        return default
    return url if isinstance(url, str) and url else default


def server_root(url: str) -> str:
    """``http://host:port`` from a base URL given with or without ``/v1`` (and trailing slashes)."""
    root = url.strip().rstrip("/")
    if not root.startswith(("http://", "https://")):
        raise EndpointError(f"--url {url!r} is not an http(s) URL; pass e.g. http://127.0.0.1:8000/v1")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return root


def api_base_url(url: str) -> str:
    """The ``…/v1`` base URL an OpenAI client needs, from a URL given with or without ``/v1``."""
    return server_root(url) + "/v1"


def wait_healthy(url: str, timeout_s: float = 600.0, interval_s: float = 1.0) -> tuple[str, float]:
    """Poll ``/health`` (falling back to ``/v1/models`` where there is none) until it answers 200.

    Connection errors, timeouts and 5xx mean "still starting" and are retried until ``timeout_s``.

    Args:
        url: The server's base URL, with or without ``/v1``.
        timeout_s: How long to wait in total.
        interval_s: Pause between attempts.

    Returns:
        ``(route that answered, seconds waited)``.

    Raises:
        EndpointError: No 200 before the deadline; the message names the URL and the last answer seen.
    """
    import httpx

    root = server_root(url)
    routes = ["/health", "/v1/models"]
    started = time.monotonic()
    deadline = started + timeout_s
    last = "no answer"
    with httpx.Client(timeout=httpx.Timeout(min(10.0, max(timeout_s, 0.1)))) as client:
        while True:
            for route in list(routes):
                try:
                    response = client.get(root + route)
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__} on {route}"
                    break  # the server is not up: no point in asking the fallback route
                if response.status_code == 200:
                    waited = time.monotonic() - started
                    logger.info("%s answered %s after %.1f s", root, route, waited)
                    return route, waited
                last = f"HTTP {response.status_code} on {route}"
                if response.status_code in (404, 405) and route == "/health" and len(routes) > 1:
                    routes.remove(route)  # no /health on this server: use /v1/models from now on
                    continue
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise EndpointError(
                    f"{root} not healthy after {timeout_s:g} s (last: {last}); check the server log, "
                    f"or raise --timeout while a large model loads"
                )
            time.sleep(min(interval_s, remaining))
