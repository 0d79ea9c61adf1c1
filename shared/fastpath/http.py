"""uvicorn's httptools protocol, answering each response with one socket write.

Why: uvicorn writes a response's status line and headers when the app sends
`http.response.start`, and its body with a second write when it sends
`http.response.body`. Each write is a `send` call and a TCP segment, and each wakes the
client, which finds half a response and goes back to waiting. For small answers
requested often (a device feed: one fix in, a few bytes out, a request a second per
device) the second write is most of what the server spends sending, and it costs the
client a wakeup per request.

`CoalescingHttpToolsProtocol` gives uvicorn's protocol a transport whose writes made in
one turn of the event loop are joined and sent at the start of the next turn, or at once
when the connection closes (`shared.fastpath.coalescing`). Reading, flow control (pause / resume)
and everything else go to the real transport.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared.fastpath.coalescing import CoalescingTransport


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through a `CoalescingTransport` (see module doc)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # flow control and addresses keep the real transport
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]
