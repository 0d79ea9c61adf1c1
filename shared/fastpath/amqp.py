"""aio-pika's connection with the broker writes of one loop turn joined into one socket write.

Why: aiormq writes each publish (three frames) with a `write` of its own, so a relay batch
of N events was N `send` calls, N TCP segments and N reads for the broker. Over a
`CoalescingTransport` one turn's writes leave together; `drain` sends what is pending first,
so waiting for the buffer to empty still means what was written. The connection's frame
queue holds a whole relay batch, so a batch is queued in one turn without a publisher
waiting for the writer while holding the channel's lock. And what the broker sends is read in
chunks and its hot frames decoded directly (`shared.fastpath.frames`, installed when the first such
connection opens: aiormq looks its frame reader up process-wide).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import UnderlayConnection

from shared.fastpath import channel, frames
from shared.fastpath.coalescing import CoalescingTransport
from shared.settings import OUTBOX_BATCH_MAX


class _CoalescingWriter(asyncio.StreamWriter):
    """A stream writer over a `CoalescingTransport`: aiormq writes each publish (three frames)
    with a `write` of its own, and a relay batch of 200 events was 200 `send` calls, 200 TCP
    segments and 200 reads for the broker; now one turn's writes leave together. `drain` sends
    what is pending first, so waiting for the buffer to empty still means what was written."""

    def __init__(self, transport: CoalescingTransport, protocol: asyncio.StreamReaderProtocol,
                 reader: asyncio.StreamReader, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(transport, protocol, reader, loop)  # type: ignore[arg-type]
        self._coalescing = transport

    async def drain(self) -> None:
        self._coalescing.flush()
        await super().drain()


class _CoalescingTransportFactory(aiormq.TransportFactory):
    """aiormq's TCP (or, for amqps://, TLS) connection, with `_CoalescingWriter` as its writer."""

    async def create(self, url: Any, **kwargs: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        provider = kwargs.pop("ssl_context_provider", None)
        ssl = await provider.get_context() if url.scheme == "amqps" and provider is not None else None
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        try:
            transport, _ = await loop.create_connection(lambda: protocol, url.host, url.port, ssl=ssl, **kwargs)
        except OSError as exc:
            raise aiormq.exceptions.AMQPConnectionError(*exc.args) from exc
        return reader, _CoalescingWriter(CoalescingTransport(transport, loop), protocol, reader, loop)


class _AmqpConnection(aiormq.Connection):
    # Frame sets the write queue holds before a publisher waits: a whole relay batch, however
    # large LCS_OUTBOX_BATCH is set (200 by default). With aiormq's 10, the 11th publish of a
    # batch waits for the writer while holding the channel's lock, and from then on the batch goes
    # out one publish per turn of the event loop, each its own socket write.
    FRAME_BUFFER_SIZE = OUTBOX_BATCH_MAX


class _Underlay(UnderlayConnection):
    @classmethod
    async def make_connection(cls, url: Any, timeout: Any = None, **kwargs: Any) -> aiormq.abc.AbstractConnection:
        frames.install()  # the connection reads its frames with `frames.FrameReceiver`
        channel.install()  # ... and opens `channel.Channel`s
        connection = _AmqpConnection(url, transport_factory=_CoalescingTransportFactory(), **kwargs)
        await asyncio.wait_for(connection.connect({}), timeout=timeout)
        await connection.ready()
        return connection


class CoalescingConnection(aio_pika.Connection):
    """aio-pika's connection, on `_AmqpConnection` over `_CoalescingTransportFactory`: a relay
    batch leaves in one socket write instead of one per event."""

    async def connect(self, timeout: Any = None) -> None:
        self.transport = await _Underlay.connect(self.url, self._on_connection_close, timeout=timeout,
                                                 **self.kwargs)
        await self._on_connected()
