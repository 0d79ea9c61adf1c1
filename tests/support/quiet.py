"""A running stack gone quiet: the positive marker behind "nothing more happened".

A test that must show that something did *not* happen (no second notice, no log line with
personal data) first waits until everything already on its way through the stack has been
handled. `quiesce` establishes that from observables, never from a pause:

1. no service's outbox holds an unsent row: the relays have published all that was committed;
2. a marker event published after that (a registration, which every consumer binds) is in the
   inbox of every consuming service: each takes its queue in order (one consumer per process,
   groups in delivery order), so every earlier delivery has been handled;
3. no delay queue holds a message (a failed delivery waiting for its retry would come after the
   marker), and the notifier has no notification due that is still unsent (its dispatcher sends
   after the handler's commit);
4. handling may have written follow-up events: if any outbox grew meanwhile, once more.

Step 2 relies on one consumer per queue: with replicas (the chaos suite's two-replica scenario)
another replica may still hold an earlier delivery when one has handled the marker, so there the
marker proves less (a check after it can miss a late effect; it cannot fail because of it).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta

import aio_pika
import asyncpg

from shared.events import (
    Cargo,
    Consignee,
    Envelope,
    ReceiptRequirements,
    ShipmentRegistered,
    Shipper,
    make_envelope,
)
from tests.conftest import Infra, run_sync
from tests.support.wait import NotYet, eventually

PRODUCERS = ("tracking", "receipts", "complaints", "notifier")  # services with an outbox
CONSUMERS = ("receipts", "complaints", "notifier")  # services that consume (all bind registrations)
RETRY_LEVELS = 2  # LCS_RETRY_DELAYS_MS of the test stacks has two delays


async def queue_depths(amqp_url: str, names: Iterable[str]) -> dict[str, int]:
    """Ready messages per queue by passive declare; a queue that does not exist counts 0."""
    out: dict[str, int] = {}
    conn = await aio_pika.connect(amqp_url, timeout=10)
    async with conn:
        channel = await conn.channel()
        for name in names:
            try:
                q = await channel.declare_queue(name, passive=True)
                out[name] = int(q.declaration_result.message_count or 0)
            except aio_pika.exceptions.ChannelClosed:
                out[name] = 0
                channel = await conn.channel()
    return out


# Other test sessions share PostgreSQL and RabbitMQ, and some stop them on purpose: a probe that
# finds either away is simply asked again (each probe opens its own connection).
AWAY = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, aio_pika.exceptions.AMQPError)


async def _outboxes(dsn: str, services: Iterable[str]) -> dict[str, tuple[int, int]]:
    """Per service with an outbox table: (unsent rows, highest seq)."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        out = {}
        for svc in services:
            if svc in PRODUCERS and await conn.fetchval("SELECT to_regclass($1)", f"{svc}.outbox"):
                row = await conn.fetchrow(f'SELECT count(*) FILTER (WHERE sent_at IS NULL) AS unsent, '
                                          f'coalesce(max(seq), 0) AS top FROM "{svc}".outbox')
                out[svc] = (int(row["unsent"]), int(row["top"]))
        return out
    finally:
        await conn.close()


async def _fetchval(dsn: str, sql: str, *args: object) -> object:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def _marker() -> ShipmentRegistered:
    no = f"QUIET{uuid.uuid4().hex[:10].upper()}"
    now = datetime.now(UTC)
    return ShipmentRegistered(
        waybill_no=no, origin="QUIET-O", destination="QUIET-D", shipper=Shipper(customer_id=None, name="marker"),
        consignee=Consignee(name="marker"), cargo=Cargo(description="marker", pieces=1),
        promised_at=now + timedelta(days=2), payment="prepaid", receipt=ReceiptRequirements(required=False),
        registered_at=now)


async def _publish(amqp_url: str, envelope: Envelope) -> bool:
    conn = await aio_pika.connect(amqp_url, timeout=10)
    async with conn:
        channel = await conn.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange("lcs.events", aio_pika.ExchangeType.TOPIC, durable=True)
        await exchange.publish(aio_pika.Message(envelope.to_json(), message_id=str(envelope.id), type=envelope.type,
                                                content_type="application/cloudevents+json",
                                                delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                               routing_key=envelope.type, timeout=10)
    return True


async def quiesce(infra: Infra, services: Iterable[str], *, timeout: float = 90.0) -> None:
    """Wait until nothing is on its way through the stack of `services` (see the module)."""
    services = tuple(services)
    consumers = [s for s in services if s in CONSUMERS]
    retry_queues = [f"{s}.retry.{n}" for s in consumers for n in range(1, RETRY_LEVELS + 1)]
    dsn, amqp_url = infra.database_url, infra.amqp_url
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    async def until(probe: Callable[[], Awaitable[object]], what: str) -> object:
        return await eventually(probe, timeout=max(0.0, deadline - loop.time()), what=what, retry_on=AWAY)

    while True:
        async def all_sent() -> dict[str, tuple[int, int]] | None:
            boxes = await _outboxes(dsn, services)
            return boxes if not any(unsent for unsent, _ in boxes.values()) else None
        before = await until(all_sent, "every outbox sent")
        if consumers:
            marker = make_envelope(_marker(), "/lcs/tests/quiesce")
            await until(lambda: _publish(amqp_url, marker), "the marker published")

            async def marker_handled() -> bool:
                for svc in consumers:
                    if not await _fetchval(dsn, f'SELECT 1 FROM "{svc}".inbox WHERE event_id = $1', marker.id):
                        return False
                return True
            await until(marker_handled, f"the marker handled by {', '.join(consumers)}")

            async def nothing_to_retry() -> bool:
                return not any((await queue_depths(amqp_url, retry_queues)).values())
            await until(nothing_to_retry, "the delay queues empty")
        if "notifier" in services:
            async def nothing_due() -> bool:
                return not await _fetchval(dsn, "SELECT count(*) FROM notifier.notifications "
                                                "WHERE status IN ('queued', 'deferred') AND next_attempt_at <= now()")
            await until(nothing_due, "the notifier has nothing due")
        if await until(lambda: _outboxes(dsn, services), "the outboxes read") == before:
            return  # nothing was written meanwhile: quiet
        if loop.time() >= deadline:
            raise NotYet(f"the stack did not go quiet within {timeout:g} s")


def quiesce_sync(infra: Infra, services: Iterable[str], *, timeout: float = 90.0) -> None:
    """`quiesce` for synchronous tests."""
    run_sync(quiesce(infra, tuple(services), timeout=timeout))
