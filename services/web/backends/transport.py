"""The web service's HTTP/1.1 connections to one backend: an httpx transport with a plain pool.

Why not httpx's own (httpcore's) pool: on every request it walks all its connections twice, and
asks each idle one whether the server closed it with a `poll` system call (encode/httpcore#928).
With the 32 to 64 connections web keeps to a backend under load, that walk cost more CPU than the
request itself (a /track look-up's web CPU rose from about 2.3 ms at 8 concurrent requests to
3.7 ms at 32). Here idle connections wait in a stack, the most recently used on top (the one
least likely to have been closed), and a connection the server closed is known without a system
call: the event loop has already fed its reader the end of the stream.

What a backend sends is what uvicorn sends: a status line, headers, then a body framed by
`Content-Length`, `chunked`, or the end of the connection. The whole body is read before the
response is returned (web reads every backend response whole). Failures map onto httpx's
exceptions, which `Backend.request` turns into `BackendDown`: refused or unreachable
(`ConnectError`), too slow (`ConnectTimeout`, `ReadTimeout`, `PoolTimeout`), cut off or garbled
(`ReadError`, `RemoteProtocolError`).

Keep-alive: an idle connection is dropped after `keepalive_expiry` seconds, below the backends'
own idle limit (`LCS_HTTP_KEEP_ALIVE_SECONDS`, 5), so the server rarely closes one just as it is
reused. When that happens anyway (the request fails on a reused connection before a byte of the
answer came back), a GET or HEAD (or a request marked `idempotent` in its extensions: a POST that
only reads) is sent once more on a new connection; any other method fails, as it may have been
received.
"""

from __future__ import annotations

import asyncio
import time

import httpx

_IDEMPOTENT = frozenset({"GET", "HEAD"})
_NO_BODY_STATUSES = frozenset({204, 304})
_MAX_HEAD = 64 * 1024  # status line and headers


class _Connection:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def usable(self, now: float, expiry: float) -> bool:
        return (now - self.idle_since < expiry and not self.reader.at_eof() and not self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


class _NothingBack(Exception):
    """The connection failed before any byte of the response arrived."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class PooledTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, max_connections: int = 64, keepalive_expiry: float = 4.0) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[_Connection] = []
        self._expiry = keepalive_expiry
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout.get("pool"))
        except TimeoutError as exc:
            raise httpx.PoolTimeout("no connection to the backend came free in time", request=request) from exc
        try:
            body = await request.aread()
            head = _head(request, len(body))
            conn = self._take()
            if conn is not None:
                try:
                    return await self._exchange(conn, request, head, body, timeout)
                except _NothingBack as failed:
                    if request.method not in _IDEMPOTENT and not request.extensions.get("idempotent"):
                        raise failed.error from None
            conn = await self._open(request, timeout)
            try:
                return await self._exchange(conn, request, head, body, timeout)
            except _NothingBack as failed:
                raise failed.error from None
        finally:
            self._slots.release()

    def _take(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.usable(now, self._expiry):
                return conn
            conn.close()
        return None

    async def _open(self, request: httpx.Request, timeout: dict[str, float | None]) -> _Connection:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"backends are reached over plain http, not {url.scheme}",
                                            request=request)
        port = url.port or 80
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(url.host, port, limit=_MAX_HEAD),
                                                    timeout.get("connect"))
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {url.host}:{port} timed out", request=request) from exc
        except OSError as exc:
            raise httpx.ConnectError(f"{url.host}:{port}: {exc}", request=request) from exc
        return _Connection(reader, writer)

    async def _exchange(self, conn: _Connection, request: httpx.Request, head: bytes, body: bytes,
                        timeout: dict[str, float | None]) -> httpx.Response:
        """One request on `conn`; the connection goes back to the pool only after a whole,
        keep-alive response, and is closed on anything else."""
        keep = False
        try:
            response, keep = await asyncio.wait_for(self._send_and_read(conn, request, head, body),
                                                    timeout.get("read"))
            return response
        except TimeoutError as exc:
            raise httpx.ReadTimeout("the backend did not answer in time", request=request) from exc
        finally:
            if keep and not self._closed:
                conn.idle_since = time.monotonic()
                self._idle.append(conn)
            else:
                conn.close()

    async def _send_and_read(self, conn: _Connection, request: httpx.Request, head: bytes,
                             body: bytes) -> tuple[httpx.Response, bool]:
        reader = conn.reader
        try:
            conn.writer.writelines((head, body))  # one send
            await conn.writer.drain()
            status_and_headers = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            error: Exception = httpx.RemoteProtocolError("the backend closed the connection", request=request)
            raise (_NothingBack(error) if not exc.partial else error) from exc
        except asyncio.LimitOverrunError as exc:
            raise httpx.RemoteProtocolError("the backend's headers are too long", request=request) from exc
        except OSError as exc:
            raise _NothingBack(httpx.ReadError(str(exc), request=request)) from exc
        try:
            status, headers, keep, length, chunked = _parse_head(status_and_headers)
        except ValueError as exc:
            raise httpx.RemoteProtocolError(f"a malformed response: {exc}", request=request) from exc
        try:
            if request.method == "HEAD" or status in _NO_BODY_STATUSES or 100 <= status < 200:
                content = b""
            elif chunked:
                content = await _read_chunked(reader)
            elif length is not None:
                content = await reader.readexactly(length)
            else:
                content, keep = await reader.read(), False
        except asyncio.IncompleteReadError as exc:
            raise httpx.RemoteProtocolError("the backend closed the connection mid-body", request=request) from exc
        except (asyncio.LimitOverrunError, ValueError) as exc:
            raise httpx.RemoteProtocolError(f"a malformed body: {exc}", request=request) from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc), request=request) from exc
        response = httpx.Response(status, headers=headers, stream=httpx.ByteStream(content), request=request,
                                  extensions={"http_version": b"HTTP/1.1"})
        return response, keep

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        await asyncio.gather(*(conn.writer.wait_closed() for conn in idle), return_exceptions=True)


def _head(request: httpx.Request, length: int) -> bytes:
    url = request.url
    target = url.raw_path
    lines = [request.method.encode("ascii") + b" " + target + b" HTTP/1.1"]
    names = set()
    for name, value in request.headers.raw:
        lowered = name.lower()
        names.add(lowered)
        if lowered in (b"connection", b"transfer-encoding", b"content-length"):
            continue
        lines.append(name + b": " + value)
    if b"host" not in names:
        lines.append(b"Host: " + url.netloc)
    if length or request.method not in _IDEMPOTENT:
        lines.append(b"Content-Length: " + str(length).encode("ascii"))
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _parse_head(raw: bytes) -> tuple[int, list[tuple[bytes, bytes]], bool, int | None, bool]:
    """(status, headers, keep-alive, Content-Length or None, chunked) of a response's head."""
    lines = raw[:-4].split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    if not version.startswith(b"HTTP/1."):
        raise ValueError(f"status line {lines[0][:80]!r}")
    status = int(rest[:3])
    headers: list[tuple[bytes, bytes]] = []
    keep = version == b"HTTP/1.1"
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise ValueError(f"header line {line[:80]!r}")
        value = value.strip()
        lowered = name.lower()
        if lowered == b"content-length":
            if not value.isdigit() or (length is not None and length != int(value)):
                raise ValueError("Content-Length")
            length = int(value)
        elif lowered == b"transfer-encoding":
            chunked = _tokens(value)[-1:] == [b"chunked"]
            if not chunked:
                raise ValueError(f"Transfer-Encoding {value[:40]!r}")
        elif lowered == b"connection":
            tokens = _tokens(value)
            if b"close" in tokens:
                keep = False
            elif b"keep-alive" in tokens:
                keep = True
        headers.append((name, value))
    return status, headers, keep, None if chunked else length, chunked


def _tokens(value: bytes) -> list[bytes]:
    return [t.strip().lower() for t in value.split(b",") if t.strip()]


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, if any, then the blank line
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise ValueError("a chunk not followed by CRLF")
