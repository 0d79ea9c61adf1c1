"""uvicorn's httptools protocol, answering each response with one socket write.

Why: uvicorn writes a response's status line and headers when the app sends
`http.response.start`, and its body with a second write when it sends
`http.response.body`. Each write is a `send` call and a TCP segment, and each wakes the
client, which finds half a response and goes back to waiting. For the small answers of a
device feed (`/osmand`: one fix in, `{"status":"stored"}` out, a request every second per
device) the second write was most of what the server spent sending, and it cost the
client a wakeup per request.

`CoalescingHttpToolsProtocol` gives uvicorn's protocol a transport whose writes made in
one turn of the event loop are joined and sent at the start of the next turn, or at once
when the connection closes. The bytes and their order are unchanged; nothing waits longer
than one turn of the loop. Reading, flow control (pause / resume) and everything else go
to the real transport. `shared.bus` does the same for the broker connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport whose writes of one loop turn leave in one `write` of the real one."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        pending = self._pending
        if pending:
            self._pending = []
            if not self._transport.is_closing():
                self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, abort, set_protocol ...
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through a `CoalescingTransport` (see module doc)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # flow control and addresses keep the real transport
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]
