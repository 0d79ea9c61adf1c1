"""web's pool of connections to a backend (`services.web.backends.transport`), against servers on
loopback that answer exactly what each test scripts: the framings uvicorn uses, keep-alive and
its end, a server that closed an idle connection, and every way a backend can fail, each as the
httpx error `Backend.request` turns into `BackendDown`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from services.web.backends.client import Backend, BackendDown, Caller
from services.web.backends.transport import PooledTransport
from tests.support.wait import eventually

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """A loopback server running `script` on each connection; counts connections and requests."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0
        self.handlers: set[asyncio.Task[None]] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            await self.script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self.handlers.discard(task)

    async def request(self, reader: asyncio.StreamReader) -> bytes:
        """One request read whole (head, then a Content-Length body)."""
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        raw = head + (await reader.readexactly(length) if length else b"")
        self.requests.append(raw)
        return raw


@asynccontextmanager
async def serving(script: Callable[[Server, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
                  ) -> AsyncIterator[Server]:
    server = Server(lambda r, w: script(server, r, w))
    listener = await asyncio.start_server(server._serve, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        for task in list(server.handlers):
            task.cancel()
        await asyncio.gather(*server.handlers, return_exceptions=True)
        await listener.wait_closed()


def json_response(body: bytes, *, status: bytes = b"200 OK", extra: bytes = b"") -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)


async def keep_alive(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers every request on the connection, echoing its path and body."""
    while True:
        raw = await server.request(reader)
        path = raw.split(b" ", 2)[1]
        body = raw.split(b"\r\n\r\n", 1)[1]
        writer.write(json_response(json.dumps({"path": path.decode(), "body": body.decode()}).encode()))
        await writer.drain()


def client(server: Server, transport: PooledTransport, timeout: float = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", transport=transport,
                             timeout=httpx.Timeout(timeout, connect=timeout))


async def test_keep_alive_reuses_one_connection_and_sends_what_httpx_built() -> None:
    async with serving(keep_alive) as server, client(server, PooledTransport()) as c:
        for n in range(5):
            r = await c.get("/v1/shipments", params={"q": f"S{n}", "limit": 25}, headers={"X-Phone-Last4": "5678"})
            assert r.status_code == 200 and r.json()["path"] == f"/v1/shipments?q=S{n}&limit=25"
        r = await c.post("/v1/calls", json={"a": 1})
        assert r.json()["body"] == '{"a":1}'
        assert server.connections == 1
        head = server.requests[0].split(b"\r\n\r\n")[0].lower()
        assert b"\r\nx-phone-last4: 5678" in head and b"\r\nhost: 127.0.0.1:" in head
        assert b"content-length" not in head  # a GET without a body
        assert b"\r\ncontent-length: 7" in server.requests[-1].lower()


async def test_concurrent_requests_each_get_a_connection_within_the_limit() -> None:
    release = asyncio.Event()
    in_flight = 0
    most = 0

    async def slow(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal in_flight, most
        while True:
            await server.request(reader)
            in_flight += 1
            most = max(most, in_flight)
            if most >= 3:
                release.set()
            await release.wait()
            in_flight -= 1
            writer.write(json_response(b"{}"))
            await writer.drain()

    async with serving(slow) as server, client(server, PooledTransport(max_connections=3)) as c:
        answers = await asyncio.gather(*(c.get(f"/x{i}") for i in range(9)))
        assert [r.status_code for r in answers] == [200] * 9
        assert most == 3 and server.connections == 3  # never more than the limit, and reused


async def test_chunked_and_until_close_bodies() -> None:
    async def chunked(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await server.request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/csv\r\n\r\n"
                         b"4\r\na,b\n\r\n6;ext=1\r\n1,2\n3,\r\n0\r\nx-trailer: 1\r\n\r\n")
            await writer.drain()

    async with serving(chunked) as server, client(server, PooledTransport()) as c:
        for _ in range(2):
            r = await c.get("/export")
            assert r.text == "a,b\n1,2\n3,"
        assert server.connections == 1

    async def until_close(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nall of it")
        await writer.drain()

    async with serving(until_close) as server, client(server, PooledTransport()) as c:
        assert (await c.get("/a")).text == "all of it"
        assert (await c.get("/b")).text == "all of it"
        assert server.connections == 2  # a body ended by the close: the connection is not reused


async def test_connection_close_is_honoured() -> None:
    async def once(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.request(reader)
        writer.write(json_response(b"{}", extra=b"connection: close\r\n"))
        await writer.drain()

    async with serving(once) as server, client(server, PooledTransport()) as c:
        assert (await c.get("/a")).status_code == 200
        assert (await c.get("/b")).status_code == 200
        assert server.connections == 2


async def test_an_idle_connection_the_server_closed_is_not_reused() -> None:
    closed = asyncio.Event()

    async def one_then_close(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.request(reader)
        writer.write(json_response(b"{}"))
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        closed.set()

    transport = PooledTransport()
    async with serving(one_then_close) as server, client(server, transport) as c:
        assert (await c.get("/a")).status_code == 200
        await closed.wait()
        # the event loop feeds the idle connection's end before it is taken again
        conn = transport._idle[-1]
        await eventually(conn.reader.at_eof, timeout=10, what="the idle connection's end fed to its reader")
        assert (await c.post("/b", json={})).status_code == 200  # not resent: taken fresh
        assert server.connections == 2 and len(server.requests) == 2


async def test_a_reused_connection_lost_before_the_answer_resends_a_get_or_a_read_only() -> None:
    async def answer_once_then_drop(server: Server, reader: asyncio.StreamReader,
                                    writer: asyncio.StreamWriter) -> None:
        await server.request(reader)
        writer.write(json_response(b"{}"))
        await writer.drain()
        await server.request(reader)  # the next request is read, then the connection dropped unanswered
        writer.transport.abort()

    # (a POST marked idempotent only reads: the public page's grouped look-ups)
    for method, marked, outcome in (("GET", False, 200), ("POST", False, None), ("POST", True, 200)):
        async with serving(answer_once_then_drop) as server, client(server, PooledTransport()) as c:
            assert (await c.get("/first")).status_code == 200
            second = c.build_request(method, "/second", json={}, extensions={"idempotent": True} if marked else {})
            if outcome is None:
                with pytest.raises(httpx.TransportError):
                    await c.send(second)
                assert server.connections == 1  # a POST that may have been received is not sent twice
            else:
                assert (await c.send(second)).status_code == outcome
                assert server.connections == 2  # sent again on a new connection


async def test_failures_are_httpx_transport_errors() -> None:
    # nobody listening
    async with serving(keep_alive) as server:
        port = server.port
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", transport=PooledTransport()) as c:
        with pytest.raises(httpx.ConnectError):
            await c.get("/")

    async def silent(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.request(reader)
        await asyncio.Event().wait()

    async def garbled(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()

    async def cut(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part")
        await writer.drain()

    # (the silent server waited for 0.2 s; the others answer at once, given the usual 5 s)
    for script, error, timeout in ((silent, httpx.ReadTimeout, 0.2), (garbled, httpx.RemoteProtocolError, 5.0),
                                   (cut, httpx.RemoteProtocolError, 5.0)):
        async with serving(script) as server, client(server, PooledTransport(), timeout=timeout) as c:
            with pytest.raises(error):
                await c.get("/")


async def test_a_backend_call_goes_straight_to_the_pool_signed_and_without_a_cookie_jar() -> None:
    """`Backend` sends its requests to the transport itself (no httpx client): the caller's token,
    the query without empty values, the base URL's path; a cookie one answer sets never rides on
    the next call (that may be another person's); a GET is retried on 503, a POST is not."""
    answers = [json_response(b'{"n": 1}', extra=b"set-cookie: session=alice\r\n"),
               json_response(b'{"error": {"code": "unavailable", "message": "busy", "details": null}}',
                             status=b"503 Service Unavailable"),
               json_response(b'{"n": 2}'),
               json_response(b'{"error": {"code": "unavailable", "message": "busy", "details": null}}',
                             status=b"503 Service Unavailable")]

    async def scripted(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while answers:
            await server.request(reader)
            writer.write(answers.pop(0))
            await writer.drain()

    async with serving(scripted) as server:
        backend = Backend("tracking", f"http://127.0.0.1:{server.port}/base/", secret="s" * 32, token_ttl=60,
                          timeout=5.0, connect_timeout=5.0, retries=2)
        alice = Caller(sub="alice", role="staff")
        try:
            assert await backend.get(alice, "/v1/shipments", {"q": "S1", "empty": "", "none": None}) == {"n": 1}
            assert await backend.get(alice, "/v1/shipments/S1") == {"n": 2}  # the 503 retried
            with pytest.raises(BackendDown):
                await backend.post(alice, "/v1/calls", json={"a": 1})
        finally:
            await backend.aclose()
    heads = [raw.split(b"\r\n\r\n")[0] for raw in server.requests]
    assert [h.split(b"\r\n")[0] for h in heads] == [
        b"GET /base/v1/shipments?q=S1 HTTP/1.1", b"GET /base/v1/shipments/S1 HTTP/1.1",
        b"GET /base/v1/shipments/S1 HTTP/1.1", b"POST /base/v1/calls HTTP/1.1"]
    for head in heads:
        lowered = head.lower()
        assert b"\r\nauthorization: bearer " in lowered and b"\r\nuser-agent: lcs-web" in lowered
        assert b"cookie" not in lowered
    assert server.connections == 1
