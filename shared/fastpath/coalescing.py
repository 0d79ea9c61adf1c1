"""A transport whose writes made in one turn of the event loop leave in one write of the real one.

Why: a protocol library that writes a message piece by piece (uvicorn: a response's headers,
then its body; aiormq: each publish's three frames) sends each piece with a `send` call and a
TCP segment of its own, and each wakes the peer. Here the writes of one turn are joined and
sent at the start of the next turn, or at once on close / write_eof (or when the owner calls
`flush`, e.g. before draining). The bytes and their order are unchanged; nothing waits longer
than one turn of the loop. Everything else (reading, flow control, extra info) goes to the
real transport. Used by `shared.fastpath.http` (every service's HTTP) and `shared.bus` (the
broker connection).
"""

from __future__ import annotations

import asyncio
from typing import Any


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
