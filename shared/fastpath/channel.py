"""A consumed message handed to a synchronous consumer in the channel's reader, without a task.

Why: aiormq's channel reads a delivery's three frames and then starts a task per message to run
the consumer (`create_task(consumer(message))`: a task, a `TaskWrapper`, a `WeakSet` entry and a
done-callback in its `FutureStore`), and gathers the body in a `BytesIO` even when it is one
frame. The bus's consumer does nothing asynchronous with a valid delivery: it checks it and queues
it for its worker. So a consumer that says so (`SyncConsumer`) is called in the reader itself,
and a task is started only for what it hands back (a delivery to dead-letter or to refuse: rare).
Everything else — another kind of consumer, `Basic.Return`, `Basic.GetOk` — goes aiormq's way.
The channel is installed with `frames.install` (aiormq's connection looks `Channel` up in its
module when it opens one). `tests/integration/test_bus_transport.py` compares what a consumer gets
on this channel and on aiormq's own, over the real broker (empty, small and multi-frame bodies,
properties and headers), and checks that the bus's channels are this one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiormq
import aiormq.connection
from aiormq.abc import DeliveredMessage
from pamqp import commands
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

log = logging.getLogger("lcs.bus")


class SyncConsumer:
    """A consumer callback for `basic_consume` whose work is synchronous: `now(message)` returns
    None when it is done, or an awaitable to run as a task (its asynchronous remainder).

    On `Channel` below it is called in the channel's reader; on any other channel aiormq awaits it
    in a task of its own as usual (`__call__`), so it works the same on both."""

    __slots__ = ("now",)

    def __init__(self, now: Callable[[DeliveredMessage], Awaitable[None] | None]) -> None:
        self.now = now

    async def __call__(self, message: DeliveredMessage) -> None:
        rest = self.now(message)
        if rest is not None:
            await rest


class Channel(aiormq.Channel):
    """aiormq's channel, calling a `SyncConsumer` in its reader (see the module's docstring)."""

    async def _on_deliver_frame(self, frame: commands.Basic.Deliver) -> None:
        header = await self._get_frame()
        if not isinstance(header, ContentHeader):
            raise ValueError(f"Unexpected frame {header!r} instead of ContentHeader", header)
        body = await self._body(header.body_size)
        if frame.consumer_tag is None:
            log.warning("Frame %r has no consumer tag", frame)
            return
        consumer = self.consumers.get(frame.consumer_tag)
        if consumer is None:
            return
        message = DeliveredMessage(delivery=frame, header=header, body=body, channel=self)
        # aiormq's `basic_consume` wraps a callback that is not a coroutine function (`tools.awaitable`,
        # with functools.wraps: the callback is its `__wrapped__`)
        sync = getattr(consumer, "__wrapped__", consumer)
        if type(sync) is SyncConsumer:
            try:
                rest = sync.now(message)
            except Exception:  # as an exception in aiormq's task would be: reported, the reader goes on
                log.exception("consumer failed on a delivery")
                return
            if rest is not None:
                self.create_task(_run(rest))
        else:
            self.create_task(consumer(message))

    async def _body(self, size: int) -> bytes:
        """The content's body frames, as aiormq's `_read_content` reads them: frames until the
        size is reached (or an empty frame), each of them a body frame or a ValueError."""
        if not size:
            return b""
        content = await self._content_frame()
        first = content.value
        if len(first) >= size or not first:
            return first
        parts = [first]
        got = len(first)
        while got < size:
            content = await self._content_frame()
            if not content.value:
                break
            parts.append(content.value)
            got += len(content.value)
        return b"".join(parts)

    async def _content_frame(self) -> ContentBody:
        frame: Any = await self._get_frame()
        if not isinstance(frame, ContentBody):
            raise ValueError(f"Unexpected frame {frame!r}", frame)
        return frame


async def _run(rest: Awaitable[None]) -> None:
    await rest


def install() -> None:
    """Make aiormq's connections open `Channel` (looked up in their module). Idempotent."""
    aiormq.connection.Channel = Channel  # type: ignore[misc]
