"""`shared.fastpath.channel` against the real broker: a `SyncConsumer` on the bus's channel gets what
a consumer on aiormq's own channel gets (bodies empty, small and of several frames, every property,
headers), is called in the channel's reader rather than in a task per delivery, and what it hands
back still runs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aio_pika
import aiormq
import aiormq.channel
import aiormq.connection
import pytest
from aiormq.abc import DeliveredMessage

from shared.devtools import stack as stackmod
from shared.fastpath import channel as fastchannel
from shared.fastpath.amqp import CoalescingConnection
from tests.conftest import ADMIN_AMQP_URL
from tests.support.wait import eventually

# a body of several frames: RabbitMQ's frame_max is 128 KiB by default
BODIES = [b"", b"{}", b'{"n": 1, "pad": "' + b"x" * 1000 + b'"}', bytes(range(256)) * 1500]


@asynccontextmanager
async def vhost_url() -> AsyncIterator[str]:
    vhost = f"lcs_channel_{uuid.uuid4().hex[:8]}"
    stackmod.create_vhost(vhost)
    try:
        yield stackmod.with_vhost(ADMIN_AMQP_URL, vhost)
    finally:
        stackmod.delete_vhost(vhost)


def seen(message: DeliveredMessage) -> tuple[Any, ...]:
    """Everything a consumer can read off a delivery, but the tag, the channel and the routing key
    (each test queue's own name: the tests compare two queues)."""
    d = message.delivery
    assert isinstance(d, aiormq.spec.Basic.Deliver)
    props = message.header.properties
    return (message.body, message.header.body_size, d.exchange, d.redelivered, message.delivery_tag is not None,
            tuple((name, getattr(props, name)) for name in props.__slots__))


async def publish(url: str, queue: str) -> None:
    connection = await aio_pika.connect(url)
    try:
        ch = await connection.channel()
        await ch.declare_queue(queue, durable=True, arguments={"x-queue-type": "quorum"})
        for i, body in enumerate(BODIES):
            await ch.default_exchange.publish(aio_pika.Message(
                body, content_type="application/json", message_id=f"m-{i}", type="t.v1", app_id="test",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT, priority=i,
                headers={"x-attempt": i, "note": "说明"} if i % 2 else None,
                timestamp=datetime(2026, 12, 6, 12, i, tzinfo=UTC) if i == 3 else None), routing_key=queue)
    finally:
        await connection.close()


async def consume(connection: aio_pika.abc.AbstractConnection, queue: str, callback: Any) -> aiormq.abc.AbstractChannel:
    ch = await connection.channel()
    underlay = await ch.get_underlay_channel()
    await underlay.basic_qos(prefetch_count=10)
    await underlay.basic_consume(queue, callback, no_ack=True)
    return underlay


async def test_a_sync_consumer_gets_what_aiormqs_channel_delivers_in_the_reader_without_a_task() -> None:
    async with vhost_url() as url:
        await publish(url, "fast")
        await publish(url, "stock")
        fast_got: list[tuple[Any, ...]] = []
        fast_tasks: list[asyncio.Task[Any] | None] = []
        stock_got: list[tuple[Any, ...]] = []
        stock_tasks: list[asyncio.Task[Any] | None] = []

        def now(message: DeliveredMessage) -> None:
            fast_got.append(seen(message))
            fast_tasks.append(asyncio.current_task())

        async def stock(message: DeliveredMessage) -> None:
            stock_got.append(seen(message))
            stock_tasks.append(asyncio.current_task())

        fast_conn = await aio_pika.connect(url, connection_class=CoalescingConnection)
        stock_conn = await aio_pika.connect(url)
        try:
            fast_channel = await consume(fast_conn, "fast", fastchannel.SyncConsumer(now))
            with pytest.MonkeyPatch.context() as mp:  # installed process-wide: aiormq's own, for this one
                mp.setattr(aiormq.connection, "Channel", aiormq.channel.Channel)
                stock_channel = await consume(stock_conn, "stock", stock)
            await eventually(lambda: len(fast_got) == len(stock_got) == len(BODIES), what="every delivery on both")
        finally:
            await fast_conn.close()
            await stock_conn.close()
        assert type(fast_channel) is fastchannel.Channel
        assert type(stock_channel) is aiormq.channel.Channel
        assert fast_got == stock_got
        assert [s[0] for s in fast_got] == BODIES
        # every delivery handled in the one reader task of the channel; aiormq starts one per delivery
        assert len({id(t) for t in fast_tasks}) == 1
        assert len({id(t) for t in stock_tasks}) == len(BODIES)


async def test_what_a_sync_consumer_hands_back_runs_and_a_plain_consumer_still_gets_its_task() -> None:
    async with vhost_url() as url:
        await publish(url, "q")
        ran: list[bytes] = []
        plain: list[bytes] = []

        async def later(body: bytes) -> None:
            await asyncio.sleep(0)
            ran.append(body)

        def now(message: DeliveredMessage) -> Any:
            return later(message.body) if len(message.body) % 2 else None

        connection = await aio_pika.connect(url, connection_class=CoalescingConnection)
        try:
            await consume(connection, "q", fastchannel.SyncConsumer(now))
            await eventually(lambda: len(ran) == sum(len(b) % 2 for b in BODIES), what="what was handed back")
            await publish(url, "q2")

            async def plain_consumer(message: DeliveredMessage) -> None:
                plain.append(message.body)

            await consume(connection, "q2", plain_consumer)
            await eventually(lambda: len(plain) == len(BODIES), what="the plain consumer's deliveries")
        finally:
            await connection.close()
        assert ran == [b for b in BODIES if len(b) % 2]
        assert plain == BODIES
        assert aiormq.connection.Channel is fastchannel.Channel
