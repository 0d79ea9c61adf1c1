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
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
)
from pydantic import ValidationError

from shared import metrics
from shared.errors import DB_UNAVAILABLE
from shared.events import CONTENT_TYPE, Envelope, UnknownEventType, parse_event

log = logging.getLogger("lcs.bus")

Handler = Callable[[asyncpg.Connection, Any, Envelope], Awaitable[None]]
OnConnect = Callable[[AbstractConnection], Awaitable[None]]

ATTEMPT_HEADER = "x-lcs-attempt"
ERROR_HEADER = "x-lcs-error"
ROUTING_KEY_HEADER = "x-lcs-routing-key"
MAX_EVENT_BYTES = 1_048_576


def quorum_args(**extra: Any) -> dict[str, Any]:
    return {"x-queue-type": "quorum", **extra}


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
                connection = await aio_pika.connect(self.url, timeout=5)
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

    async def publish(self, body: bytes, *, routing_key: str, message_id: str, type_: str,
                      timeout: float = 10.0) -> None:
        """Publish one event to `lcs.events` and wait for the broker's confirm."""
        exchange = await self._ready_exchange(timeout)
        message = aio_pika.Message(
            body, message_id=message_id, type=type_, content_type=CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT, app_id=self.service,
        )
        await exchange.publish(message, routing_key=routing_key, timeout=timeout)

    async def send_to_queue(self, queue: str, body: bytes, *, headers: dict[str, Any],
                            message_id: str | None, type_: str | None, timeout: float = 10.0) -> None:
        """Publish straight into a named queue (retry and dead-letter paths), confirmed."""
        await self._ready_exchange(timeout)
        assert self._channel is not None
        message = aio_pika.Message(
            body, headers=headers, message_id=message_id, type=type_, content_type=CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT, app_id=self.service,
        )
        await self._channel.default_exchange.publish(message, routing_key=queue, timeout=timeout)


class Consumer:
    """Consumes the service's queue; effects and the inbox row commit in one transaction.

    Outcomes per message:
    - invalid envelope, unknown type, wrong schema, too big: dead-lettered at once with
      the reason in `x-lcs-error` (retrying cannot fix it);
    - already in the inbox: acked without effect (a redelivery);
    - handler raised: re-published to the next delay queue, or to the DLQ after the last;
    - database unavailable: nacked back to the queue after a pause, not counted as an
      attempt, so an outage never pushes good events into the DLQ.
    """

    def __init__(self, *, service: str, bus: Bus, pool: asyncpg.Pool, handlers: Mapping[str, Handler],
                 prefetch: int = 32, retry_delays_ms: list[int] | None = None) -> None:
        self.service = service
        self.bus = bus
        self.pool = pool
        self.handlers = dict(handlers)
        self.prefetch = prefetch
        self.retry_delays_ms = list(retry_delays_ms if retry_delays_ms is not None else [1000, 5000, 30000])
        self.queue_name = service
        self.dlq_name = f"{service}.dlq"
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False

    def retry_queue(self, attempt: int) -> str:
        return f"{self.service}.retry.{attempt}"

    async def declare(self, channel: AbstractChannel) -> AbstractQueue:
        exchange = await channel.declare_exchange(self.bus.exchange_name, aio_pika.ExchangeType.TOPIC,
                                                  durable=True)
        queue = await channel.declare_queue(self.queue_name, durable=True, arguments=quorum_args())
        for routing_key in sorted(self.handlers):
            await queue.bind(exchange, routing_key=routing_key)
        await channel.declare_queue(self.dlq_name, durable=True, arguments=quorum_args())
        for n, delay in enumerate(self.retry_delays_ms, start=1):
            await channel.declare_queue(self.retry_queue(n), durable=True, arguments=quorum_args(**{
                "x-message-ttl": int(delay),
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.queue_name,
                # at-least-once dead-lettering: an expiring delayed message is never dropped
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            }))
        return queue

    async def start(self, connection: AbstractConnection) -> None:
        """Declare the topology and start consuming (called on every reconnection)."""
        if self._stopping:
            return
        channel = await connection.channel(publisher_confirms=True)
        self.bus.watch(channel)
        await channel.set_qos(prefetch_count=self.prefetch)
        queue = await self.declare(channel)
        self._queue = queue
        self._consumer_tag = await queue.consume(self._on_message)
        log.info("consuming", extra={"queue": self.queue_name, "types": sorted(self.handlers)})

    async def stop(self, timeout: float = 20.0) -> None:
        """Stop taking new messages and wait for the in-flight ones to finish."""
        self._stopping = True
        queue, tag = self._queue, self._consumer_tag
        if queue is not None and tag is not None:
            try:
                await asyncio.wait_for(queue.cancel(tag), 5)
            except Exception:
                log.debug("cancel consumer failed", exc_info=True)
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            log.warning("in-flight events did not finish before the grace period")

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._in_flight += 1
        self._idle.clear()
        metrics.CONSUMER_IN_FLIGHT.labels(self.service).inc()
        try:
            await self._handle(message)
        finally:
            self._in_flight -= 1
            metrics.CONSUMER_IN_FLIGHT.labels(self.service).dec()
            if self._in_flight == 0:
                self._idle.set()

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        if self._stopping:
            await message.nack(requeue=True)
            return
        type_label = message.routing_key or "unknown"
        try:
            if len(message.body) > MAX_EVENT_BYTES:
                raise ValueError(f"event body of {len(message.body)} bytes exceeds {MAX_EVENT_BYTES}")
            envelope = Envelope.model_validate_json(message.body)
            type_label = envelope.type
            event = parse_event(envelope)
            handler = self.handlers.get(envelope.type)
            if handler is None:
                raise UnknownEventType(f"{self.service} has no handler for {envelope.type}")
        except (ValidationError, ValueError, UnknownEventType) as exc:
            await self._dead_letter(message, f"malformed: {exc}"[:1000], type_label)
            return

        started = time.perf_counter()
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                fresh = await conn.fetchval(
                    "INSERT INTO inbox (event_id, type) VALUES ($1, $2) "
                    "ON CONFLICT (event_id) DO NOTHING RETURNING true",
                    envelope.id, envelope.type,
                )
                if fresh:
                    await handler(conn, event, envelope)
        except DB_UNAVAILABLE as exc:
            log.warning("database unavailable while handling; requeueing",
                        extra={"type": envelope.type, "event_id": str(envelope.id), "error": repr(exc)})
            await asyncio.sleep(1.0)
            await message.nack(requeue=True)
            return
        except Exception as exc:
            log.warning("handler failed", exc_info=True,
                        extra={"type": envelope.type, "event_id": str(envelope.id)})
            await self._retry_or_dead_letter(message, envelope, exc)
            return
        metrics.HANDLER_DURATION.labels(self.service, envelope.type).observe(time.perf_counter() - started)
        metrics.EVENTS_CONSUMED.labels(self.service, envelope.type, "processed" if fresh else "duplicate").inc()
        await message.ack()

    async def _retry_or_dead_letter(self, message: AbstractIncomingMessage, envelope: Envelope,
                                    exc: Exception) -> None:
        headers = dict(message.headers or {})
        raw_attempt = headers.get(ATTEMPT_HEADER, 0)
        attempt = (raw_attempt if isinstance(raw_attempt, int) else 0) + 1
        reason = f"{type(exc).__name__}: {exc}"[:1000]
        if attempt > len(self.retry_delays_ms):
            await self._dead_letter(message, f"handler failed {attempt} times; last error {reason}",
                                    envelope.type)
            return
        headers.update({ATTEMPT_HEADER: attempt, ERROR_HEADER: reason,
                        ROUTING_KEY_HEADER: message.routing_key or envelope.type})
        headers.pop("x-death", None)
        await self.bus.send_to_queue(self.retry_queue(attempt), message.body, headers=headers,
                                     message_id=message.message_id, type_=message.type)
        metrics.EVENTS_CONSUMED.labels(self.service, envelope.type, "retried").inc()
        await message.ack()

    async def _dead_letter(self, message: AbstractIncomingMessage, reason: str, type_label: str) -> None:
        headers = dict(message.headers or {})
        headers.pop("x-death", None)
        headers.update({
            ERROR_HEADER: reason,
            ROUTING_KEY_HEADER: message.routing_key or headers.get(ROUTING_KEY_HEADER) or "",
            "x-lcs-dead-lettered-at": datetime.now(UTC).isoformat(),
        })
        await self.bus.send_to_queue(self.dlq_name, message.body, headers=headers,
                                     message_id=message.message_id, type_=message.type)
        metrics.EVENTS_CONSUMED.labels(self.service, type_label[:100], "dead_lettered").inc()
        log.error("event dead-lettered", extra={"queue": self.dlq_name, "reason": reason})
        await message.ack()
