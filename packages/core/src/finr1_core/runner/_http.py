"""The runner's HTTP clients: a lean asyncio HTTP/1.1 client for the hot path, httpx behind proxies.

Why not the openai SDK or one ``httpx.AsyncClient``: at 256 concurrent requests the SDK costs about
2-4 ms of CPU per request (pydantic models, httpx), and httpcore's pool scans every connection on
each request and response, which is quadratic in the pool size (about 20 ms of CPU per request with
256 connections in one pool on our 2-core machines). The lean client below is asyncio protocols
over keep-alive connections, about 0.06 ms of CPU per request (bench/README.md). It speaks what
OpenAI-compatible servers send: Content-Length, chunked and close-delimited bodies, gzip/deflate,
TLS with SNI. It does not speak proxies; when the environment configures a proxy for the endpoint,
:func:`make_client` returns an httpx client split into small pools instead.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
import zlib
from typing import NamedTuple, Protocol
from urllib.parse import urlsplit

_MAX_HEAD = 256 * 1024


class HttpError(Exception):
    """A transport failure: refused, reset or closed connection, unparseable response."""


class Response(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


class HttpClient(Protocol):
    async def request(self, method: str, path: str, body: bytes | None = None) -> Response: ...

    async def aclose(self) -> None: ...


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; one exchange at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[Response] | None = None
        self.closed = False
        self.received = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: dict[str, str] | None = None
        self.mode = ""
        self.length = 0
        self.chunk_left: int | None = None
        self.parts: list[bytes] = []

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.headers is not None and self.mode == "eof":
            self._finish(bytes(self.buffer), keep_alive=False)
        else:
            detail = f": {exc}" if exc else ""
            waiter.set_exception(HttpError(f"connection closed before the response was complete{detail}"))

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():  # bytes nobody asked for: the connection is unusable
            self.abort()
            return
        self.received = True
        self.buffer += data
        try:
            self._parse()
        except (ValueError, HttpError) as exc:
            if not self.waiter.done():
                self.waiter.set_exception(HttpError(f"malformed HTTP response: {exc}"))
            self.abort()

    # client side
    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def exchange(self, data: bytes) -> Response:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.received = False
        self._reset()
        self.transport.write(data)
        try:
            return await self.waiter
        finally:
            self.waiter = None

    # parsing
    def _parse(self) -> None:
        buf = self.buffer
        while self.headers is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEAD:
                    raise HttpError("response head too large")
                return
            lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
            del buf[: end + 4]
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/"):
                raise HttpError(f"bad status line {lines[0][:80]!r}")
            status = int(parts[1])
            if 100 <= status < 200:  # interim response (100 Continue): the real one follows
                continue
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self.status, self.headers = status, headers
            if status in (204, 304):
                self.mode, self.length = "length", 0
            elif "chunked" in headers.get("transfer-encoding", "").lower():
                self.mode = "chunked"
            elif "content-length" in headers:
                self.mode, self.length = "length", int(headers["content-length"])
            else:
                self.mode = "eof"
        if self.mode == "length":
            if len(buf) >= self.length:
                body = bytes(buf[: self.length])
                del buf[: self.length]
                self._finish(body, keep_alive=True)
        elif self.mode == "chunked":
            self._parse_chunks()

    def _parse_chunks(self) -> None:
        buf = self.buffer
        while True:
            if self.chunk_left is None:
                end = buf.find(b"\r\n")
                if end < 0:
                    return
                size = int(bytes(buf[:end]).split(b";", 1)[0].strip(), 16)
                if size == 0:
                    # Last chunk: optional trailer fields, then an empty line.
                    if buf[end + 2 : end + 4] == b"\r\n":
                        del buf[: end + 4]
                    else:
                        trailer_end = buf.find(b"\r\n\r\n", end + 2)
                        if trailer_end < 0:
                            return
                        del buf[: trailer_end + 4]
                    self._finish(b"".join(self.parts), keep_alive=True)
                    return
                del buf[: end + 2]
                self.chunk_left = size
            if len(buf) < self.chunk_left + 2:
                return
            self.parts.append(bytes(buf[: self.chunk_left]))
            del buf[: self.chunk_left + 2]
            self.chunk_left = None

    def _finish(self, body: bytes, keep_alive: bool) -> None:
        headers = self.headers or {}
        if headers.get("connection", "").lower() == "close" or not keep_alive:
            self.closed = True
        encoding = headers.get("content-encoding", "").lower()
        if encoding in ("gzip", "x-gzip"):
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            try:
                body = zlib.decompress(body)
            except zlib.error:  # raw deflate without the zlib header
                body = zlib.decompress(body, -zlib.MAX_WBITS)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(Response(self.status, headers, body))


def ssl_context() -> ssl.SSLContext:
    """Default verification: the system store (honours ``SSL_CERT_FILE``/``SSL_CERT_DIR``) plus certifi's bundle."""
    context = ssl.create_default_context()
    try:  # certifi ships with httpx; slim images often lack system CA bundles
        import certifi

        context.load_verify_locations(certifi.where())
    except ImportError:  # pragma: no cover - system store only
        pass
    return context


class LeanHttpClient:
    """Keep-alive HTTP/1.1 client for one origin; the caller bounds concurrency.

    Idle connections are reused last-in first-out. A request that fails on a reused connection
    before any response byte arrived (the server closed it while idle) is sent once more on a
    fresh connection, as browsers do; every other failure raises :class:`HttpError`.
    """

    def __init__(self, base_url: str, headers: dict[str, str], connect_timeout_s: float) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"base_url must be http(s)://host[:port][/path], got {base_url!r}")
        self.host = url.hostname
        self.tls = url.scheme == "https"
        self.port = url.port or (443 if self.tls else 80)
        default_port = self.port == (443 if self.tls else 80)
        host_header = self.host if default_port else f"{self.host}:{self.port}"
        if ":" in self.host and not default_port:  # IPv6 literal
            host_header = f"[{self.host}]:{self.port}"
        lines = [f"Host: {host_header}"] + [f"{k}: {v}" for k, v in headers.items()]
        self._head_tail = ("\r\n".join(lines) + "\r\n").encode("latin-1")
        self.connect_timeout_s = connect_timeout_s
        self._ssl = ssl_context() if self.tls else None
        self._idle: list[_Connection] = []
        self._all: set[_Connection] = set()

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, conn = await loop.create_connection(
                    _Connection, self.host, self.port, ssl=self._ssl, server_hostname=self.host if self._ssl else None
                )
        except TimeoutError:
            raise HttpError(
                f"connect to {self.host}:{self.port} timed out after {self.connect_timeout_s:g}s"
            ) from None
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise HttpError(f"cannot connect to {self.host}:{self.port}: {reason}") from None
        self._all.add(conn)
        return conn

    async def request(self, method: str, path: str, body: bytes | None = None) -> Response:
        payload = body or b""
        head = f"{method} {path} HTTP/1.1\r\nContent-Length: {len(payload)}\r\n".encode("latin-1")
        data = head + self._head_tail + b"\r\n" + payload
        for fresh in (False, True):
            conn = None
            while self._idle and not fresh:
                candidate = self._idle.pop()
                if not candidate.closed:
                    conn = candidate
                    break
                self._all.discard(candidate)
            reused = conn is not None
            if conn is None:
                conn = await self._connect()
            try:
                response = await conn.exchange(data)
            except HttpError:
                self._drop(conn)
                if reused and not conn.received:
                    continue  # stale keep-alive connection: once more on a fresh one
                raise
            except BaseException:  # timeout or cancellation mid-exchange: the connection state is unknown
                self._drop(conn)
                raise
            if conn.closed:
                self._drop(conn)
            else:
                self._idle.append(conn)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _drop(self, conn: _Connection) -> None:
        conn.abort()
        self._all.discard(conn)

    async def aclose(self) -> None:
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()


class HttpxClient:
    """httpx fallback (proxies from the environment), split into small pools.

    One httpx pool scans all its connections on every request and response; with 256 connections
    that costs more CPU than the requests themselves. Sixteen pools used in turn keep each scan
    short.
    """

    def __init__(self, base_url: str, headers: dict[str, str], connect_timeout_s: float, shards: int = 16) -> None:
        import httpx

        url = urlsplit(base_url)
        # Without user info: credentials travel in the Authorization header (EndpointConfig.request_headers).
        self._origin = f"{url.scheme}://{url.netloc.rsplit('@', 1)[-1]}"
        timeout = httpx.Timeout(None, connect=connect_timeout_s)
        trust_env = proxy_for(base_url) is not None  # loopback stays direct, as in the lean client
        context = ssl_context()
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        self._clients = [
            httpx.AsyncClient(headers=headers, timeout=timeout, limits=limits, trust_env=trust_env, verify=context)
            for _ in range(shards)
        ]
        self._next = 0
        self._errors = (httpx.TransportError, httpx.DecodingError)

    async def request(self, method: str, path: str, body: bytes | None = None) -> Response:
        client = self._clients[self._next]
        self._next = (self._next + 1) % len(self._clients)
        try:
            r = await client.request(method, self._origin + path, content=body)
        except self._errors as exc:
            raise HttpError(f"{type(exc).__name__}: {exc}") from None
        return Response(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


def proxy_for(base_url: str) -> str | None:
    """The proxy the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) sets for ``base_url``.

    Loopback hosts never use a proxy.
    """
    url = urlsplit(base_url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    host = url.hostname or ""
    # A proxy cannot mean a loopback server (a local vLLM): go direct, as curl does for NO_PROXY=localhost.
    if not proxy or host in ("localhost", "::1") or host.startswith("127.") or urllib.request.proxy_bypass(host):
        return None
    return proxy


def make_client(base_url: str, headers: dict[str, str], connect_timeout_s: float, kind: str = "auto") -> HttpClient:
    """The lean client, or the httpx one when ``kind == "httpx"`` or (``"auto"``) a proxy applies."""
    if kind == "httpx" or (kind == "auto" and proxy_for(base_url)):
        return HttpxClient(base_url, headers, connect_timeout_s)
    return LeanHttpClient(base_url, headers, connect_timeout_s)
