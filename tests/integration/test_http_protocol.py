"""shared.fastpath.coalescing and shared.fastpath.http: a response leaves in one socket write,
over a real uvicorn server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import uvicorn

from shared.fastpath.coalescing import CoalescingTransport
from shared.fastpath.http import CoalescingHttpToolsProtocol


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
    listener = socket.create_server(("127.0.0.1", 0))  # listening before the server starts: no wait
    config = uvicorn.Config(_app, log_config=None, access_log=False, lifespan="off", http=RecordingProtocol)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        reader, writer = await asyncio.open_connection(*listener.getsockname())
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
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        listener.close()
