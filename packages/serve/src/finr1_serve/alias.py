"""A thin loopback proxy that gives ``transformers serve`` a public model name.

``transformers serve <dir>`` is pinned to the exact string ``<dir>``: any other ``model`` gets 400, answers
report ``<dir>@main``, ``/v1/models`` never lists it (TOOLING.md §5), and vLLM sampling extras such as
``repetition_penalty`` get 422. :class:`AliasProxy` sits in front of it and makes it look like
``vllm serve --served-model-name Fin-R1`` to clients:

- requests naming the public name (or no model) are sent upstream with the pinned path; other names get
  vLLM's 404 ``The model `X` does not exist.``;
- ``repetition_penalty`` becomes ``frequency_penalty = repetition_penalty - 1`` (transformers serve maps
  it back to ``repetition_penalty``); other vLLM-only sampling fields are dropped with a warning;
- the ``model`` field of answers, streamed or not, is rewritten to the public name;
- ``GET /v1/models`` lists the public name; ``GET /health`` reports the upstream's health (503 while it
  starts).

It uses only the standard library (a thread per connection), which is plenty for one CPU model.
"""

from __future__ import annotations

import http.client
import json
import logging
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from finr1_core.errors import EndpointError

logger = logging.getLogger(__name__)

# vLLM's extra sampling parameters that transformers serve 5.17 rejects with 422 and cannot honour.
VLLM_ONLY_FIELDS = frozenset(
    {
        "top_k",
        "min_p",
        "min_tokens",
        "best_of",
        "use_beam_search",
        "length_penalty",
        "ignore_eos",
        "stop_token_ids",
        "skip_special_tokens",
        "spaces_between_special_tokens",
        "include_stop_str_in_output",
        "truncate_prompt_tokens",
        "prompt_logprobs",
        "allowed_token_ids",
        "bad_words",
        "priority",
        "request_id",
        "cache_salt",
    }
)
_MODEL_ROUTES = ("/v1/chat/completions", "/v1/completions", "/v1/responses")
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "host",
}


class AliasProxy:
    """Serve ``upstream`` (a ``transformers serve`` base URL) under ``served_model_name``.

    Args:
        host: Interface to listen on.
        port: Port to listen on (0 picks a free one; see :attr:`port` after :meth:`start`).
        upstream: Base URL of the pinned server, e.g. ``http://127.0.0.1:8001``.
        served_model_name: The public model name (``Fin-R1``).
        upstream_model: The name the upstream is pinned to (the model folder path).
        upstream_timeout_s: Socket timeout towards the upstream (a long generation is one request).
    """

    def __init__(
        self,
        host: str,
        port: int,
        upstream: str,
        served_model_name: str,
        upstream_model: str,
        upstream_timeout_s: float = 3600.0,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://HOST:PORT, got {upstream!r}")
        self.host = host
        self.port = port
        self.upstream = upstream.rstrip("/")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port
        self.served_model_name = served_model_name
        self.upstream_model = upstream_model
        self.upstream_timeout_s = upstream_timeout_s
        self.created = int(time.time())
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._warned: set[str] = set()
        self._warn_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1`` of the public endpoint."""
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(self.host, self.host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}/v1"

    def start(self) -> AliasProxy:
        """Bind the public port and serve in a background thread.

        Raises:
            EndpointError: The port cannot be bound.
        """
        handler = type("_BoundAliasHandler", (_AliasHandler,), {"proxy": self})
        server_cls = _IPv6Server if ":" in self.host else _Server
        try:
            self._server = server_cls((self.host, self.port), handler)
        except OSError as exc:
            raise EndpointError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}; pick another --port"
            ) from None
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="finr1-alias", daemon=True)
        self._thread.start()
        logger.info(
            "alias proxy on %s:%d -> %s (model %r = %s)",
            self.host,
            self.port,
            self.upstream,
            self.served_model_name,
            self.upstream_model,
        )
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> AliasProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- rewriting ----------------------------------------------------------------------------------

    def rewrite_request(self, body: dict[str, Any]) -> str | None:
        """Map the public name to the upstream's, translate vLLM extras; return an error message or None."""
        requested = body.get("model")
        if requested not in (None, self.served_model_name, self.upstream_model):
            return f"The model `{requested}` does not exist."
        body["model"] = self.upstream_model
        penalty = body.pop("repetition_penalty", None)
        if penalty is not None and body.get("frequency_penalty") is None:
            # transformers serve sets repetition_penalty = 1 + frequency_penalty (chat_completion.py).
            body["frequency_penalty"] = float(penalty) - 1.0
        dropped = sorted(key for key in body if key in VLLM_ONLY_FIELDS)
        for key in dropped:
            del body[key]
        new = [key for key in dropped if key not in self._warned]
        if new:
            with self._warn_lock:
                self._warned.update(new)
            logger.warning("transformers serve cannot honour %s; dropped from requests", ", ".join(new))
        return None

    def rewrite_answer(self, payload: Any) -> Any:
        """Report the public model name in an answer object."""
        if isinstance(payload, dict) and isinstance(payload.get("model"), str):
            if payload["model"].startswith(self.upstream_model):
                payload["model"] = self.served_model_name
        return payload

    def models_payload(self) -> dict[str, Any]:
        """What ``GET /v1/models`` answers (vLLM's shape)."""
        return {
            "object": "list",
            "data": [
                {
                    "id": self.served_model_name,
                    "object": "model",
                    "created": self.created,
                    "owned_by": "finr1",
                    "root": self.upstream_model,
                    "parent": None,
                }
            ],
        }

    def connect(self) -> http.client.HTTPConnection:
        """A new connection to the upstream."""
        return http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=self.upstream_timeout_s)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _AliasHandler(BaseHTTPRequestHandler):
    proxy: AliasProxy
    protocol_version = "HTTP/1.1"
    server_version = "finr1-alias"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    # -- helpers ------------------------------------------------------------------------------------

    def _send_json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, kind: str) -> None:
        self._send_json(status, {"error": {"message": message, "type": kind, "param": None, "code": status}})

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self, method: str, body: bytes | None, rewrite: bool) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        if body is not None:
            headers["Content-Length"] = str(len(body))
        conn = self.proxy.connect()
        try:
            try:
                conn.request(method, self.path, body=body, headers=headers)
                upstream = conn.getresponse()
            except OSError as exc:
                self._error(
                    503, f"model server not reachable yet ({exc.__class__.__name__}); retry", "ServiceUnavailable"
                )
                return
            content_type = upstream.getheader("Content-Type", "")
            if "text/event-stream" in content_type:
                self._relay_stream(upstream, rewrite)
            else:
                self._relay_body(upstream, rewrite)
        finally:
            conn.close()

    def _copy_headers(self, upstream: http.client.HTTPResponse) -> None:
        for key, value in upstream.getheaders():
            if key.lower() not in _HOP_BY_HOP and key.lower() not in ("date", "server"):
                self.send_header(key, value)

    def _relay_body(self, upstream: http.client.HTTPResponse, rewrite: bool) -> None:
        data = upstream.read()
        if rewrite and "json" in upstream.getheader("Content-Type", ""):
            try:
                data = json.dumps(self.proxy.rewrite_answer(json.loads(data))).encode()
            except ValueError:
                pass  # relay a malformed body as is: the client reports it
        self.send_response(upstream.status)
        self._copy_headers(upstream)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _relay_stream(self, upstream: http.client.HTTPResponse, rewrite: bool) -> None:
        self.send_response(upstream.status)
        self._copy_headers(upstream)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            while True:
                line = upstream.readline()
                if not line:
                    break
                if rewrite and line.startswith(b"data: {"):
                    try:
                        event = self.proxy.rewrite_answer(json.loads(line[6:]))
                        line = b"data: " + json.dumps(event).encode() + b"\n"
                    except ValueError:
                        pass
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away; closing upstream cancels the generation

    # -- routes -------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/v1/models":
            self._send_json(200, self.proxy.models_payload())
        elif path == "/health":
            self._forward("GET", None, rewrite=False)
        else:
            self._forward("GET", None, rewrite=True)

    def do_POST(self) -> None:
        raw = self._read_body()
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in _MODEL_ROUTES:
            self._forward("POST", raw, rewrite=True)
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._error(400, "request body is not valid JSON", "BadRequestError")
            return
        if not isinstance(body, dict):
            self._error(400, "request body must be a JSON object", "BadRequestError")
            return
        problem = self.proxy.rewrite_request(body)
        if problem is not None:
            self._error(404, problem, "NotFoundError")
            return
        self._forward("POST", json.dumps(body).encode(), rewrite=True)


def supervise(command: Sequence[str], env: Mapping[str, str], proxy: AliasProxy) -> int:
    """Run ``command`` as a child behind ``proxy`` until the child exits; return its exit code.

    The proxy binds first (a busy port fails before the model loads). SIGTERM and SIGINT are passed to
    the child, so ``docker stop`` and Ctrl-C shut both down.
    """
    proxy.start()
    try:
        child = subprocess.Popen(list(command), env=dict(env))
    except OSError as exc:
        proxy.stop()
        raise EndpointError(f"cannot start {command[0]}: {exc}") from None

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
        proxy.stop()
    logger.info("%s exited with code %d", command[0], code)
    return 128 - code if code < 0 else code
