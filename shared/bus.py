"""The message bus: one AMQP connection per process, the topology, and the consumer.

Topology (RabbitMQ):
- topic exchange `lcs.events` (durable); routing key = event type;
- per consuming service `<svc>`: a durable quorum queue bound to the types it handles;
  delay queues `<svc>.retry.<n>` (quorum, message TTL = n-th back-off, dead-lettering
  back to `<svc>` through the default exchange, at-least-once); `<svc>.dlq` (quorum).

Why not aio-pika's robust connection: after a broker restart it can come back without
re-declaring quorum queues or re-consuming. Here one supervisor loop owns the
connection: connect, declare, consume, wait until anything closes, then start over
with back-off. Everything is declared idempotently, so starting over is always safe.

The consumer, which handles what is waiting in groups, is `shared.consumer.Consumer`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import aio_pika
import aiormq
import asyncpg
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
)

from shared import metrics
from shared.events import CONTENT_TYPE, Envelope
from shared.fastpath import publish
from shared.fastpath.amqp import CoalescingConnection

log = logging.getLogger("lcs.bus")

Handler = Callable[[asyncpg.Connection, Any, Envelope], Awaitable[None]]
# The set-based form of a handler: several fresh events of one type, in delivery order, in one
# call. It must leave the database exactly as the one-event handler called for each in turn.
GroupHandler = Callable[[asyncpg.Connection, Sequence[tuple[Any, Envelope]]], Awaitable[None]]
OnConnect = Callable[[AbstractConnection], Awaitable[None]]

ATTEMPT_HEADER = "x-lcs-attempt"
ERROR_HEADER = "x-lcs-error"
ROUTING_KEY_HEADER = "x-lcs-routing-key"
MAX_EVENT_BYTES = 1_048_576


def repeated_keys(keys: Iterable[str]) -> set[str]:
    """The keys that occur more than once (for group handlers: the entities a run names twice or
    more, whose events depend on each other's order and so go through the one-event handler)."""
    seen: set[str] = set()
    repeated: set[str] = set()
    for key in keys:
        if key in seen:
            repeated.add(key)
        seen.add(key)
    return repeated


def quorum_args(**extra: Any) -> dict[str, Any]:
    return {"x-queue-type": "quorum", **extra}


async def publish_one_by_one(channel: aiormq.Channel, exchange: str, events: Sequence[tuple[bytes, str, str, str]],
                             *, app_id: str, timeout: float) -> list[BaseException | None]:
    """`Bus.publish_many` for a batch `shared.fastpath.publish` declines: a `basic_publish` per
    event, results as there, except that on the deadline every event has the `TimeoutError`.
    `wait=False`: a publish does not wait, holding the channel's lock, until the writer has
    drained its frames; it still waits for its confirm. So the whole batch is queued in one turn
    of the loop and leaves in one socket write (`shared.fastpath.amqp`)."""
    publishes = [channel.basic_publish(body, exchange=exchange, routing_key=routing_key, mandatory=True,
                                       wait=False, properties=aiormq.spec.Basic.Properties(
                                           content_type=CONTENT_TYPE, delivery_mode=2, message_id=message_id,
                                           message_type=type_, app_id=app_id))
                 for body, routing_key, message_id, type_ in events]
    pending = asyncio.gather(*publishes, return_exceptions=True)
    try:
        results = await asyncio.wait_for(pending, timeout)
    except TimeoutError as exc:
        return [exc] * len(events)  # unconfirmed in time: the relay publishes them again
    return [r if isinstance(r, BaseException) else None for r in results]


class BusUnavailable(RuntimeError):
    pass


class Bus:
    """Owns the broker connection and re-establishes it after any loss."""

    def __init__(self, url: str, *, service: str, exchange: str = "lcs.events") -> None:
        self.url = url
        self.service = service
        self.exchange_name = exchange
        self._on_connect: list[OnConnect] = []
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._lost = asyncio.Event()
        self._stopping = False
        self.connected = asyncio.Event()

    def on_connect(self, callback: OnConnect) -> None:
        """Run `callback(connection)` after every (re)connection, e.g. to start consuming."""
        self._on_connect.append(callback)

    def watch(self, channel: AbstractChannel) -> None:
        """A channel closing (broker restart, channel error) means: reconnect everything."""
        channel.close_callbacks.add(lambda *_: self._lost.set())

    @property
    def is_connected(self) -> bool:
        return self.connected.is_set() and self._connection is not None and not self._connection.is_closed

    async def run(self) -> None:
        backoff = 0.2
        while not self._stopping:
            self._lost.clear()
            try:
                connection = await aio_pika.connect(self.url, timeout=5, connection_class=CoalescingConnection)
                connection.close_callbacks.add(lambda *_: self._lost.set())
                self._connection = connection
                channel = await connection.channel(publisher_confirms=True)
                self.watch(channel)
                self._exchange = await channel.declare_exchange(
                    self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
                self._channel = channel
                for callback in self._on_connect:
                    await callback(connection)
                self.connected.set()
                metrics.BUS_CONNECTED.labels(self.service).set(1)
                log.info("broker connected")
                backoff = 0.2
                await self._lost.wait()
                if not self._stopping:
                    log.warning("broker connection lost; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect with back-off
                log.warning("broker unavailable", extra={"error": repr(exc), "retry_in_s": backoff})
            finally:
                self.connected.clear()
                metrics.BUS_CONNECTED.labels(self.service).set(0)
                await self._close_connection()
            if not self._stopping:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        self._channel = None
        self._exchange = None
        if connection is not None and not connection.is_closed:
            try:
                await asyncio.wait_for(connection.close(), 5)
            except Exception:
                log.debug("error while closing broker connection", exc_info=True)

    async def stop(self) -> None:
        self._stopping = True
        self._lost.set()
        await self._close_connection()

    async def _ready_exchange(self, timeout: float) -> AbstractExchange:
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError as exc:
            raise BusUnavailable("broker not connected") from exc
        if self._exchange is None:
            raise BusUnavailable("broker not connected")
        return self._exchange

    async def publish_many(self, events: list[tuple[bytes, str, str, str]], *,
                           timeout: float = 10.0) -> list[BaseException | None]:
        """Publish events `(body, routing_key, message_id, type)` to `lcs.events` on the one
        channel (frames stay in order) and wait for all the broker's confirms; per event, None
        or what went wrong. One deadline for the lot: a timeout per message would make aio-pika
        wrap each publish in a task of its own, which doubles the CPU a relayed event costs."""
        exchange = await self._ready_exchange(timeout)
        if self._channel is None:
            raise BusUnavailable("broker not connected")
        # Straight on aiormq, the channel under aio-pika's: aio-pika's `Message` copies every
        # property through a checking `__setattr__`, a quarter of the relay's CPU per event. Same
        # frames, same confirms: unroutable is confirmed (aio-pika's on_return_raises=False), a
        # broker nack is an exception.
        channel = await self._channel.get_underlay_channel()
        assert isinstance(channel, aiormq.Channel)
        name = exchange.name
        # The whole batch framed, queued and confirmed in one pass (`shared.fastpath.publish`): a
        # `basic_publish` per event was half the relay's CPU. On the deadline, an event confirmed
        # in time keeps its None there.
        fast = await publish.publish_batch(channel, name, events, content_type=CONTENT_TYPE, app_id=self.service,
                                           timeout=timeout)
        if fast is not None:
            return fast
        return await publish_one_by_one(channel, name, events, app_id=self.service, timeout=timeout)

    async def send_to_queue(self, queue: str, body: bytes, *, headers: dict[str, Any],
                            message_id: str | None, type_: str | None, content_type: str | None = None,
                            timeout: float = 10.0) -> None:
        """Publish straight into a named queue (retry and dead-letter paths), confirmed. A binary-mode
        CloudEvent keeps its content type (its `datacontenttype`) and headers (its attributes)."""
        await self._ready_exchange(timeout)
        assert self._channel is not None
        message = aio_pika.Message(
            body, headers=headers, message_id=message_id, type=type_, content_type=content_type or CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT, app_id=self.service,
        )
        await self._channel.default_exchange.publish(message, routing_key=queue, timeout=timeout)
