"""shared.fastpath.coalescing and shared.fastpath.http: a response leaves in one socket write,
over a real uvicorn server; a direct route's answers are the ASGI path's, byte for byte."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import orjson
import uvicorn
from prometheus_client import REGISTRY

from shared.context import Runtime
from shared.errors import BadRequest, NotFound
from shared.fastpath.coalescing import CoalescingTransport
from shared.fastpath.http import CoalescingHttpToolsProtocol, DirectRoute, DirectRoutes
from shared.fastpath.routes import FastRoutes, send_json
from tests.support.servers import serving
from tests.support.wait import eventually


class RecordingTransport(asyncio.Transport):
    """What the real transport was asked to write (a stand-in for the socket, not a server)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


# The `await asyncio.sleep(0)` below are the unit under test, not waits: each ends exactly one
# turn of the event loop, and what the transport does at the end of a turn is the behaviour.


async def test_writes_of_one_loop_turn_leave_together_in_order() -> None:
    raw = RecordingTransport()
    t = CoalescingTransport(raw, asyncio.get_running_loop())
    t.write(b"HTTP/1.1 200 OK\r\n\r\n")
    t.write(bytearray(b"{}"))
    t.writelines([b"a", memoryview(b"b")])
    assert raw.writes == []  # nothing sent inside the turn
    await asyncio.sleep(0)  # the turn ends
    assert raw.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}ab"]
    t.write(b"next")
    await asyncio.sleep(0)  # another turn ends
    assert raw.writes[1:] == [b"next"]  # a later turn is a write of its own
    assert t.get_extra_info("peername") == ("127.0.0.1", 1)  # the rest goes to the real transport


async def test_close_sends_what_is_pending_first_and_nothing_after() -> None:
    raw = RecordingTransport()
    t = CoalescingTransport(raw, asyncio.get_running_loop())
    t.write(b"last words")
    t.close()
    assert raw.writes == [b"last words"] and raw.closed
    t.write(b"too late")
    await asyncio.sleep(0)  # a turn ends: still nothing may leave
    assert raw.writes == [b"last words"]


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = scope["path"].encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class _Recorder:
    """The real socket transport, with a note of each write it is asked to do."""

    def __init__(self, transport: asyncio.Transport, writes: list[bytes]) -> None:
        self._transport = transport
        self._writes = writes

    def write(self, data: bytes) -> None:
        self._writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


WRITES: list[bytes] = []


class RecordingProtocol(CoalescingHttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Recorder(transport, WRITES))  # type: ignore[arg-type]


async def test_uvicorn_answers_through_it_each_response_in_one_write() -> None:
    WRITES.clear()
    config = uvicorn.Config(_app, log_config=None, access_log=False, lifespan="off", http=RecordingProtocol)
    async with serving(config) as (address, _):
        reader, writer = await asyncio.open_connection(*address)
        for path in ("/one", "/two"):  # keep-alive: two requests on one connection
            writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200")
            assert await asyncio.wait_for(reader.readexactly(len(path)), 5) == path.encode()
        writer.close()
        # each response (status line, headers and body) was one write of the socket's transport
        assert len(WRITES) == 2
        assert WRITES[0].startswith(b"HTTP/1.1 200") and WRITES[0].endswith(b"\r\n\r\n/one")
        assert WRITES[1].startswith(b"HTTP/1.1 200") and WRITES[1].endswith(b"\r\n\r\n/two")


# --- direct routes: answered by the protocol, byte for byte as the ASGI path answers -------------

HELD: list[asyncio.Future[Any]] = []  # futures a test completes itself
STARTED: list[str] = []  # the direct route's starts, by the `q` of their query


def _outcome(q: str) -> asyncio.Future[Any] | None:
    """What the route's work gives for `q`: the same for both paths (a future of its result)."""
    if q == "decline":
        return None
    if q == "bad":
        raise BadRequest("bad_thing", "the query is bad", {"q": q})
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    if q == "hold":
        HELD.append(future)
    elif q == "boom":
        loop.call_soon(future.set_exception, RuntimeError("boom"))
    elif q == "missing":
        loop.call_soon(future.set_exception, KeyError(q))
    else:
        loop.call_soon(future.set_result, q)
    return future


def _body(future: asyncio.Future[Any]) -> bytes:
    try:
        q = future.result()
    except KeyError as exc:
        raise NotFound("not_found", f"no {exc.args[0]}", None) from None
    return orjson.dumps({"status": "stored", "q": q})


def _direct_start(rt: Any, method: str, query: bytes) -> asyncio.Future[Any] | None:
    q = query.decode().partition("q=")[2]
    STARTED.append(q)
    return _outcome(q)


async def _asgi_route(rt: Any, scope: dict[str, Any], receive: Any, send: Any) -> int | None:
    """The same route as a fast route of the ASGI path (`FastRoutes`)."""
    if scope["method"] not in ("GET", "POST"):
        return None
    future = _outcome(scope["query_string"].decode().partition("q=")[2])
    if future is None:
        return None
    await asyncio.wait([future])
    return await send_json(send, 200, _body(future))


async def _fallback(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """What the app answers for a request the route declines (its body echoed)."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body) + 4).encode())]})
    await send({"type": "http.response.body", "body": b"app:" + body})


def _runtime(service: str) -> Runtime[Any, Any]:
    return Runtime(service=service, settings=None, pool=None)  # type: ignore[arg-type]


def _direct_protocol(service: str) -> type[CoalescingHttpToolsProtocol]:
    class Direct(CoalescingHttpToolsProtocol):
        direct = DirectRoutes(_runtime(service), {"/d": DirectRoute(_direct_start, _body)})
    return Direct


def _server(protocol: type[CoalescingHttpToolsProtocol], service: str,
            ) -> contextlib.AbstractAsyncContextManager[tuple[tuple[str, int], uvicorn.Server]]:
    app = FastRoutes(_fallback, rt=_runtime(service), routes={"/d": _asgi_route})
    return serving(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", http=protocol,
                                  limit_concurrency=100))


async def _response(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = int(re.search(rb"content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
    return head + await asyncio.wait_for(reader.readexactly(length), 10)


async def _exchange(address: tuple[str, int], writes: list[bytes]) -> bytes:
    """Each write on one connection once the previous one's answers are in (a write may hold
    several requests: pipelined), the last request closing it; all it answered, date left out."""
    reader, writer = await asyncio.open_connection(*address)
    received = b""
    try:
        for data in writes:
            writer.write(data)
            for _ in range(data.count(b" HTTP/1.")):
                received += await _response(reader)
        assert await asyncio.wait_for(reader.read(-1), 10) == b""  # and the server closed it
    finally:
        writer.close()
    return re.sub(rb"date: [^\r]*\r\n", b"", received)


def _get(q: str, *, version: str = "1.1", headers: str = "", method: str = "GET", body: bytes = b"") -> bytes:
    return f"{method} /d?q={q} HTTP/{version}\r\nHost: t\r\n{headers}\r\n".encode() + body


CONVERSATIONS = {
    "keep-alive, every outcome": [_get("one"), _get("bad"), _get("missing"), _get("boom"),
                                  _get("post", method="POST", headers="Content-Length: 0\r\n"), _get("decline"),
                                  _get("last", headers="Connection: close\r\n")],
    "pipelined in one write": [_get("a") + _get("b") + _get("bad") + _get("c", headers="Connection: close\r\n")],
    "HTTP/1.0": [_get("old", version="1.0")],
    "a body goes to the app": [_get("x", method="POST", headers="Content-Length: 3\r\n", body=b"abc"),
                               _get("y", headers="Connection: close\r\n")],
    "another method goes to the app": [_get("p", method="PUT", headers="Content-Length: 0\r\nConnection: close\r\n")],
    "another path, or the target in absolute form": [
        b"GET /dx?q=near HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET http://t/d?q=absolute HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"],
}


def _count(service: str, status: str) -> float:
    return REGISTRY.get_sample_value("lcs_http_requests_total", {"service": service, "method": "GET", "route": "/d",
                                                                   "status": status}) or 0.0


async def test_a_direct_route_answers_as_the_asgi_path_does() -> None:
    async with _server(_direct_protocol("direct-test"), "direct-test") as (direct, _), \
            _server(CoalescingHttpToolsProtocol, "asgi-test") as (asgi, _):
        for name, requests in CONVERSATIONS.items():
            STARTED.clear()
            mine = await _exchange(direct, [bytes(r) for r in requests])
            started = list(STARTED)
            theirs = await _exchange(asgi, [bytes(r) for r in requests])
            assert mine == theirs, name
            assert mine.count(b"HTTP/1.1 ") == b"".join(requests).count(b" HTTP/1."), name
            # the direct route took what it could (in the pipelined write, only the first: the rest
            # queue behind it and uvicorn answers them in order)
            expected = {"keep-alive, every outcome": ["one", "bad", "missing", "boom", "post", "decline", "last"],
                        "pipelined in one write": ["a"], "HTTP/1.0": ["old"], "a body goes to the app": ["y"],
                        "another method goes to the app": [], "another path, or the target in absolute form": [],
                        }[name]
            assert started == expected, name
        for status in ("200", "400", "404", "500"):  # the metrics of both paths alike
            assert _count("direct-test", status) == _count("asgi-test", status) > 0, status


async def test_a_client_gone_before_the_answer_leaves_the_connection_and_the_server_well() -> None:
    HELD.clear()
    async with _server(_direct_protocol("direct-gone"), "direct-gone") as (direct, server):
        reader, writer = await asyncio.open_connection(*direct)
        writer.write(_get("hold"))
        await eventually(lambda: HELD, what="the request started")
        writer.close()
        assert await asyncio.wait_for(reader.read(-1), 10) == b""
        await eventually(lambda: not server.server_state.connections, what="the server saw the client go")
        HELD[0].set_result("late")  # answered to nobody: nothing written, nothing raised
        assert await _exchange(direct, [_get("next", headers="Connection: close\r\n")]) == (
            await _exchange(direct, [_get("next", headers="Connection: close\r\n")]))
        assert _count("direct-gone", "200") >= 3
