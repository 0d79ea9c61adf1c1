"""The consumer: a service's queue handled in groups, the effects and the inbox rows of a
group committed in one transaction (see `Consumer` for why, and for what happens when one
event of a group fails). The connection and the topology are `shared.bus`'s.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import aio_pika
import asyncpg
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractQueue,
)
from aiormq.abc import AbstractChannel as AmqpChannel
from aiormq.abc import DeliveredMessage
from pydantic import ValidationError

from shared import metrics
from shared.bus import (
    ATTEMPT_HEADER,
    ERROR_HEADER,
    MAX_EVENT_BYTES,
    ROUTING_KEY_HEADER,
    Bus,
    GroupHandler,
    Handler,
    quorum_args,
)
from shared.errors import DB_UNAVAILABLE
from shared.events import Envelope, UnknownEventType, parse_event
from shared.fastpath.channel import SyncConsumer
from shared.wire import read_envelope

log = logging.getLogger("lcs.bus")


INBOX_INSERT_ONE = ("INSERT INTO inbox (event_id, type) VALUES ($1, $2) "
                    "ON CONFLICT (event_id) DO NOTHING RETURNING true")
INBOX_INSERT_MANY = ("INSERT INTO inbox (event_id, type) SELECT * FROM unnest($1::uuid[], $2::text[]) "
                     "ON CONFLICT (event_id) DO NOTHING RETURNING event_id")


class _Incoming:
    """One delivery, as the consumer needs it, read straight off aiormq (aio-pika's own channel
    underneath): aio-pika's `IncomingMessage` copies every property through a checking
    `__setattr__` and runs each delivery in one more task, a good part of the CPU a consumed
    event cost. Acks and nacks go to the same aiormq channel."""

    __slots__ = ("_channel", "body", "content_type", "delivery_tag", "headers", "message_id", "routing_key", "type")

    def __init__(self, channel: AmqpChannel, delivered: DeliveredMessage) -> None:
        properties = delivered.header.properties
        self._channel = channel
        self.body: bytes = delivered.body
        self.delivery_tag: int | None = delivered.delivery_tag
        self.routing_key: str | None = delivered.routing_key
        self.headers: dict[str, Any] | None = properties.headers
        self.content_type: str | None = properties.content_type
        self.message_id: str | None = properties.message_id
        self.type: str | None = properties.message_type

    async def ack(self, multiple: bool = False) -> None:
        """With `multiple`, every unsettled delivery of the channel up to this one."""
        assert self.delivery_tag is not None
        await self._channel.basic_ack(self.delivery_tag, multiple=multiple)

    async def nack(self, requeue: bool = True) -> None:
        assert self.delivery_tag is not None
        await self._channel.basic_nack(self.delivery_tag, requeue=requeue)


class _Refused(NamedTuple):
    """A delivery that can never be handled, and why."""

    reason: str
    type_label: str


@dataclass(slots=True)
class _Delivery:
    """A delivery that passed validation and waits for its transaction."""

    feed: _Feed
    message: _Incoming
    envelope: Envelope
    event: Any
    handler: Handler


class _Feed:
    """The deliveries of one channel and the one worker that handles them.

    A channel's delivery tags mean nothing on another channel, so a feed lives and dies
    with its channel: when the channel closes, the worker is cancelled and whatever it
    had not acked is dropped (the broker redelivers it on the next channel).

    It also keeps the channel's unsettled delivery tags (`outstanding`, in arrival order), so
    the worker knows when one `basic.ack multiple=True` settles exactly its group: only when
    no delivery below the group's highest tag is still unsettled outside the group (one being
    dead-lettered, say, or one whose retry could not be published). RabbitMQ numbers a
    channel's deliveries 1, 2, 3, ...; should a tag ever arrive out of that order, the feed
    stops using `multiple=True` altogether (`in_order`), as it could not know what lies below."""

    def __init__(self, channel: AbstractChannel) -> None:
        self.channel = channel
        self.pending: asyncio.Queue[_Delivery] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None
        self.closed = False
        self.outstanding: dict[int, None] = {}  # received and not yet settled, ascending
        self.last_tag = 0
        self.in_order = True

    def received(self, message: _Incoming) -> None:
        tag = message.delivery_tag
        if tag is None or tag != self.last_tag + 1:
            self.in_order = False
        if tag is not None:
            self.last_tag = max(self.last_tag, tag)
            self.outstanding[tag] = None

    def settled(self, message: _Incoming) -> None:
        """Call once the ack/nack frame is written (the ack call returned), never before: until
        then a `multiple=True` ack could overtake it and settle the delivery twice."""
        if message.delivery_tag is not None:
            self.outstanding.pop(message.delivery_tag, None)

    def ack_all_with(self, group: Sequence[_Delivery]) -> _Delivery | None:
        """The delivery whose `ack(multiple=True)` settles the group and nothing else, if any."""
        if not self.in_order or len(group) < 2:
            return None
        tags = {d.message.delivery_tag for d in group}
        if None in tags:
            return None
        top = max(group, key=lambda d: d.message.delivery_tag or 0)
        top_tag = top.message.delivery_tag or 0
        for tag in self.outstanding:
            if tag > top_tag:
                break
            if tag not in tags:
                return None
        return top


class Consumer:
    """Consumes the service's queue; effects and the inbox rows commit in one transaction.

    Why it is shaped this way: a transaction per event costs a commit (an fsync) per
    event, and on a small machine that commit is most of an event's cost. So deliveries
    are first checked one by one as they arrive (`_on_message`), and the valid ones wait
    in an in-process queue; one worker per channel takes *whatever is already waiting*,
    up to `batch_max`, and handles it as one group in one transaction: one inbox insert
    for all, the handlers of the fresh events in delivery order, one commit, then the
    acks. A quiet queue never waits for a group to fill, so it still gets one-event
    transactions (no added latency); under load the groups grow by themselves while the
    previous one commits, which is why `prefetch` should be about twice `batch_max`. Under
    load (the previous group held more than one event) the worker lingers `linger_ms` for
    what is on its way before taking a group, unless half a batch already waits.
    Handling is serialised per process (one group at a time): the group, not concurrency,
    amortises the commit.

    Set-based handlers (`group_handlers`, optional, per event type, next to the one-event
    handler of that type): inside a group, each run of consecutive fresh events of such a
    type (two or more) is handed to the group handler in one call, in delivery order, so it
    can do the common case with one statement per table for the run instead of a few per
    event. It must leave the database exactly as the one-event handler applied to each
    event in turn would (it may call that for the rare events that need it). Runs of one
    event, types without a group handler, a lone message and the one-by-one fallback below
    all use the one-event handler, so a failure is handled the same either way.

    Acks: one `ack(multiple=True)` for the group when nothing below its highest delivery
    tag is unsettled outside it (see `_Feed`), which is the usual case; otherwise an ack
    per message, since other deliveries of the channel may be waiting in the queue or
    being dead-lettered.

    Outcomes per message:
    - invalid envelope, unknown type, wrong schema, too big: dead-lettered at once with
      the reason in `x-lcs-error` (retrying cannot fix it), before any grouping;
    - already in the inbox, or the same event id earlier in the group: acked without
      effect (a redelivery, counted `duplicate`);
    - handler (or group handler) raised: the group is rolled back and its messages are
      handled again one by one, each in its own transaction with the one-event handler
      (the path a lone message always takes), so only the failing one is re-published to
      the next delay queue, or to the DLQ after the last, and the others commit. The
      handlers up to the failing one thus run twice for one delivery (the first run rolled
      back): a handler's effects must all go through `conn`, as they always had to (a
      failure rolls back);
    - database unavailable: nacked back to the queue after a pause, not counted as an
      attempt, so an outage never pushes good events into the DLQ.

    Metrics: `lcs_consumer_batch_size` observes every group's size (1 for a lone event);
    `lcs_event_handler_duration_seconds` observes, per event, its transaction's time
    divided by the events of the group, so its sum stays the time spent handling;
    `lcs_consumer_in_flight` counts deliveries received and not yet settled.
    """

    def __init__(self, *, service: str, bus: Bus, pool: asyncpg.Pool, handlers: Mapping[str, Handler],
                 group_handlers: Mapping[str, GroupHandler] | None = None,
                 prefetch: int = 200, batch_max: int = 100, linger_ms: float = 0.0,
                 retry_delays_ms: list[int] | None = None) -> None:
        self.service = service
        self.bus = bus
        self.pool = pool
        self.handlers = dict(handlers)
        self.group_handlers = dict(group_handlers or {})
        unknown = set(self.group_handlers) - set(self.handlers)
        if unknown:
            raise ValueError(f"group handlers without a one-event handler: {sorted(unknown)}")
        self.prefetch = prefetch
        self.batch_max = max(1, batch_max)
        self.linger = max(0.0, linger_ms) / 1000.0
        self.retry_delays_ms = list(retry_delays_ms if retry_delays_ms is not None else [1000, 5000, 30000])
        self.queue_name = service
        self.dlq_name = f"{service}.dlq"
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._feed: _Feed | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        # labelled metric children, looked up once rather than per event
        self._in_flight_gauge = metrics.CONSUMER_IN_FLIGHT.labels(service)
        self._batch_size = metrics.CONSUMER_BATCH_SIZE.labels(service)
        self._durations = {t: metrics.HANDLER_DURATION.labels(service, t) for t in self.handlers}
        self._outcomes = {(t, o): metrics.EVENTS_CONSUMED.labels(service, t, o)
                          for t in self.handlers for o in ("processed", "duplicate")}

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
        """Declare the topology, start the batch worker and consume (on every reconnection)."""
        if self._stopping:
            return
        if self._feed is not None:  # the previous channel's worker and deliveries go with it
            await self._close_feed(self._feed)
        channel = await connection.channel(publisher_confirms=True)
        self.bus.watch(channel)
        feed = _Feed(channel)
        channel.close_callbacks.add(lambda *_: self._drop_feed(feed))
        await channel.set_qos(prefetch_count=self.prefetch)
        queue = await self.declare(channel)
        feed.worker = asyncio.create_task(self._work(feed), name=f"{self.service}-consumer")
        self._feed = feed
        self._queue = queue

        underlay = await channel.get_underlay_channel()

        def deliver(delivered: DeliveredMessage) -> Coroutine[Any, Any, None] | None:
            return self._on_message(feed, _Incoming(underlay, delivered))

        consuming = await underlay.basic_consume(queue.name, SyncConsumer(deliver))
        self._consumer_tag = consuming.consumer_tag
        log.info("consuming", extra={"queue": self.queue_name, "types": sorted(self.handlers),
                                     "group_types": sorted(self.group_handlers),
                                     "prefetch": self.prefetch, "batch_max": self.batch_max})

    async def stop(self, timeout: float = 20.0) -> None:
        """Stop taking new messages, let the worker finish what was received, then end it."""
        self._stopping = True
        queue, tag = self._queue, self._consumer_tag
        if queue is not None and tag is not None:
            try:
                await asyncio.wait_for(queue.cancel(tag), 5)
            except Exception:
                log.debug("cancel consumer failed", exc_info=True)
        finished = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            finished = False
            log.warning("in-flight events did not finish before the grace period; the broker redelivers them")
        if self._feed is not None:  # an idle worker ends at once; a busy one is cancelled (rolled back)
            await self._close_feed(self._feed, wait=5.0 if finished else 1.0)

    # --- in-flight accounting ---------------------------------------------------------------

    def _received(self) -> None:
        self._in_flight += 1
        self._idle.clear()
        self._in_flight_gauge.inc()

    def _settled(self, n: int = 1) -> None:
        if n <= 0:
            return
        self._in_flight -= n
        self._in_flight_gauge.dec(n)
        if self._in_flight <= 0:
            self._idle.set()

    # --- the feed of one channel ------------------------------------------------------------

    def _drop_feed(self, feed: _Feed) -> None:
        """The channel is gone: end its worker, forget its waiting deliveries (unackable now)."""
        if feed.closed:
            return
        feed.closed = True
        if feed.worker is not None:
            feed.worker.cancel()  # its current group is settled by the worker itself
        dropped = 0
        while not feed.pending.empty():
            feed.pending.get_nowait()
            dropped += 1
        self._settled(dropped)
        if dropped:
            log.info("dropped deliveries of a closed channel; the broker redelivers them",
                     extra={"queue": self.queue_name, "dropped": dropped})
        if self._feed is feed:
            self._feed = None

    async def _close_feed(self, feed: _Feed, wait: float = 5.0) -> None:
        self._drop_feed(feed)
        if feed.worker is not None and not feed.worker.done():
            await asyncio.wait([feed.worker], timeout=wait)

    def _on_message(self, feed: _Feed, message: _Incoming) -> Coroutine[Any, Any, None] | None:
        """Check one delivery as it arrives and queue it for the worker if it is valid: done here,
        synchronously, in the channel's reader (`shared.fastpath.channel.SyncConsumer`). What needs
        the broker (a refusal while stopping, a dead-letter) is handed back as a coroutine, which
        the channel runs as a task of its own."""
        self._received()
        if feed.closed:  # a late delivery of a dead channel: it cannot be acked any more
            self._settled()
            return None
        feed.received(message)
        if self._stopping:
            return self._settle_after(self._nack(feed, message))
        try:
            accepted = self._accept(message)
        except Exception:  # a bug, not a bad event: left unsettled, as an exception in its task left it
            log.exception("delivery not checked", extra={"queue": self.queue_name})
            self._settled()
            return None
        if isinstance(accepted, _Refused):
            return self._settle_after(self._dead_letter(feed, message, accepted.reason, accepted.type_label))
        if feed.closed:
            self._settled()
            return None
        feed.pending.put_nowait(_Delivery(feed, message, *accepted))  # settled by the worker from here on
        return None

    async def _settle_after(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        finally:
            self._settled()

    def _accept(self, message: _Incoming) -> tuple[Envelope, Any, Handler] | _Refused:
        """The delivery's envelope, event and handler, or why it cannot ever be handled (then it is
        dead-lettered)."""
        type_label = message.routing_key or "unknown"
        try:
            if len(message.body) > MAX_EVENT_BYTES:
                raise ValueError(f"event body of {len(message.body)} bytes exceeds {MAX_EVENT_BYTES}")
            envelope = read_envelope(message.body, content_type=message.content_type, headers=message.headers)
            type_label = envelope.type
            event = parse_event(envelope)
            handler = self.handlers.get(envelope.type)
            if handler is None:
                raise UnknownEventType(f"{self.service} has no handler for {envelope.type}")
        except (ValidationError, ValueError, UnknownEventType) as exc:
            return _Refused(f"malformed: {exc}"[:1000], type_label)
        return envelope, event, handler

    async def _work(self, feed: _Feed) -> None:
        """The batch worker: take what is waiting (at least one, at most `batch_max`), handle it."""
        busy = False
        while True:
            group = [await feed.pending.get()]
            # Linger only under load (the previous group was not a lone event) and while less than
            # half a batch waits: the deliveries on their way join this group, so each event's
            # share of the statements, the commit and the ack shrinks. A quiet queue never waits.
            if self.linger and busy and feed.pending.qsize() < self.batch_max // 2:
                await asyncio.sleep(self.linger)
            while len(group) < self.batch_max and not feed.pending.empty():
                group.append(feed.pending.get_nowait())
            busy = len(group) > 1
            try:
                self._batch_size.observe(len(group))
                if len(group) == 1:
                    await self._handle_one(group[0])
                else:
                    await self._handle_group(group)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep consuming; unsettled deliveries come back with the channel
                log.exception("consumer group failed", extra={"queue": self.queue_name, "size": len(group)})
            finally:
                self._settled(len(group))

    # --- settling ---------------------------------------------------------------------------

    async def _ack(self, feed: _Feed, message: _Incoming) -> None:
        await message.ack()
        feed.settled(message)

    async def _nack(self, feed: _Feed, message: _Incoming) -> None:
        await message.nack(requeue=True)
        feed.settled(message)

    async def _ack_group(self, group: list[_Delivery]) -> None:
        """After the group's commit: one `multiple=True` ack when that settles exactly the group,
        else one ack per message."""
        feed = group[0].feed
        top = feed.ack_all_with(group)
        failed: list[BaseException] = []
        if top is not None:
            try:
                await top.message.ack(multiple=True)
            except Exception as exc:  # noqa: BLE001 - reported below, like failed single acks
                failed.append(exc)
            else:
                for d in group:
                    feed.settled(d.message)
        else:
            results = await asyncio.gather(*(self._ack(feed, d.message) for d in group), return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException)]
        if failed:  # committed but not acked: the redelivery finds the inbox rows
            log.warning("acks failed after commit", extra={"queue": self.queue_name, "failed": len(failed),
                                                          "error": repr(failed[0])})

    # --- handling ---------------------------------------------------------------------------

    async def _run_handlers(self, conn: asyncpg.Connection, fresh: list[_Delivery]) -> None:
        """The handlers of a group's fresh events in delivery order: a run of two or more
        consecutive events of a type with a group handler goes to it in one call."""
        for type_, run in itertools.groupby(fresh, key=lambda d: d.envelope.type):
            deliveries = list(run)
            group_handler = self.group_handlers.get(type_)
            if group_handler is not None and len(deliveries) > 1:
                await group_handler(conn, [(d.event, d.envelope) for d in deliveries])
                continue
            for d in deliveries:
                await d.handler(conn, d.event, d.envelope)

    async def _handle_group(self, group: list[_Delivery]) -> None:
        """Several deliveries in one transaction; one by one if any handler fails."""
        first: dict[uuid.UUID, _Delivery] = {}
        for d in group:
            first.setdefault(d.envelope.id, d)
        started = time.perf_counter()
        try:
            # the handlers' counts (metrics.count) land only if the group commits
            with metrics.counted_on_commit():
                async with self.pool.acquire() as conn, conn.transaction():
                    ids = sorted(first)  # inserted in one order (docs/DEVELOPING.md): a redelivery
                    # another replica holds too never waits on it in a cycle
                    rows = await conn.fetch(INBOX_INSERT_MANY, ids, [first[i].envelope.type for i in ids])
                    fresh_ids = {row["event_id"] for row in rows}
                    fresh = [d.envelope.id in fresh_ids and first[d.envelope.id] is d for d in group]
                    await self._run_handlers(conn, [d for d, is_fresh in zip(group, fresh, strict=True)
                                                    if is_fresh])
        except DB_UNAVAILABLE as exc:
            log.warning("database unavailable while handling; requeueing",
                        extra={"queue": self.queue_name, "size": len(group), "error": repr(exc)})
            await asyncio.sleep(1.0)
            await self._nack_all(group)
            return
        except Exception:  # a handler failed: find out which, one by one
            log.warning("a handler failed inside a group; handling the group one by one", exc_info=True,
                        extra={"queue": self.queue_name, "size": len(group)})
            await self._one_by_one(group)
            return
        per_event = (time.perf_counter() - started) / len(group)
        outcomes: dict[tuple[str, str], int] = {}  # counted once per group: a locked increment each
        for d, is_fresh in zip(group, fresh, strict=True):
            type_ = d.envelope.type
            self._durations[type_].observe(per_event)
            key = (type_, "processed" if is_fresh else "duplicate")
            outcomes[key] = outcomes.get(key, 0) + 1
        for key, n in outcomes.items():
            self._outcomes[key].inc(n)
        await self._ack_group(group)

    async def _one_by_one(self, group: list[_Delivery]) -> None:
        for i, d in enumerate(group):
            try:
                handled = await self._handle_one(d)
            except Exception:  # e.g. the retry queue refused: the next ones still get their turn
                log.exception("handling failed", extra={"type": d.envelope.type, "event_id": str(d.envelope.id)})
                continue
            if not handled:  # the database went away: one pause for the group, not one per message
                await self._nack_all(group[i + 1:])
                return

    async def _nack_all(self, group: list[_Delivery]) -> None:
        await asyncio.gather(*(self._nack(d.feed, d.message) for d in group), return_exceptions=True)

    async def _handle_one(self, d: _Delivery) -> bool:
        """One delivery in its own transaction. False when the database was unavailable
        (then it was nacked back to the queue after a pause)."""
        message, envelope = d.message, d.envelope
        started = time.perf_counter()
        try:
            with metrics.counted_on_commit():
                async with self.pool.acquire() as conn, conn.transaction():
                    fresh = await conn.fetchval(INBOX_INSERT_ONE, envelope.id, envelope.type)
                    if fresh:
                        await d.handler(conn, d.event, envelope)
        except DB_UNAVAILABLE as exc:
            log.warning("database unavailable while handling; requeueing",
                        extra={"type": envelope.type, "event_id": str(envelope.id), "error": repr(exc)})
            await asyncio.sleep(1.0)
            await self._nack(d.feed, message)
            return False
        except Exception as exc:
            log.warning("handler failed", exc_info=True,
                        extra={"type": envelope.type, "event_id": str(envelope.id)})
            await self._retry_or_dead_letter(d.feed, message, envelope, exc)
            return True
        self._durations[envelope.type].observe(time.perf_counter() - started)
        self._outcomes[envelope.type, "processed" if fresh else "duplicate"].inc()
        await self._ack(d.feed, message)
        return True

    async def _retry_or_dead_letter(self, feed: _Feed, message: _Incoming, envelope: Envelope,
                                    exc: Exception) -> None:
        headers = dict(message.headers or {})
        raw_attempt = headers.get(ATTEMPT_HEADER, 0)
        attempt = (raw_attempt if isinstance(raw_attempt, int) else 0) + 1
        reason = f"{type(exc).__name__}: {exc}"[:1000]
        if attempt > len(self.retry_delays_ms):
            await self._dead_letter(feed, message, f"handler failed {attempt} times; last error {reason}",
                                    envelope.type)
            return
        headers.update({ATTEMPT_HEADER: attempt, ERROR_HEADER: reason,
                        ROUTING_KEY_HEADER: message.routing_key or envelope.type})
        headers.pop("x-death", None)
        await self.bus.send_to_queue(self.retry_queue(attempt), message.body, headers=headers,
                                     message_id=message.message_id, type_=message.type,
                                     content_type=message.content_type)
        metrics.EVENTS_CONSUMED.labels(self.service, envelope.type, "retried").inc()
        await self._ack(feed, message)

    async def _dead_letter(self, feed: _Feed, message: _Incoming, reason: str,
                           type_label: str) -> None:
        headers = dict(message.headers or {})
        headers.pop("x-death", None)
        headers.update({
            ERROR_HEADER: reason,
            ROUTING_KEY_HEADER: message.routing_key or headers.get(ROUTING_KEY_HEADER) or "",
            "x-lcs-dead-lettered-at": datetime.now(UTC).isoformat(),
        })
        await self.bus.send_to_queue(self.dlq_name, message.body, headers=headers,
                                     message_id=message.message_id, type_=message.type,
                                     content_type=message.content_type)
        metrics.EVENTS_CONSUMED.labels(self.service, type_label[:100], "dead_lettered").inc()
        log.error("event dead-lettered", extra={"queue": self.dlq_name, "reason": reason})
        await self._ack(feed, message)
