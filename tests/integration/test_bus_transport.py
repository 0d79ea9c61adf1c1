"""The bus's AMQP transport against the real broker: a relay batch leaves in a few socket writes
(`shared.bus._Connection`), every publish is confirmed, and the broker gets the messages whole
and in order."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika

from shared.bus import Bus
from shared.devtools import stack as stackmod
from tests.conftest import ADMIN_AMQP_URL

ROUTING_KEY = "tracking.shipment.registered.v1"


def broker_reads(vhost: str) -> int:
    """How many times the broker read from the connections of `vhost` (RabbitMQ's `recv_cnt`)."""
    out = subprocess.run(["rabbitmqctl", "-q", "list_connections", "--no-table-headers", "vhost", "recv_cnt"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return sum(int(count) for name, count in (line.split("\t") for line in out.splitlines() if line)
               if name == vhost)


@asynccontextmanager
async def bus_in_own_vhost() -> AsyncIterator[tuple[Bus, str]]:
    """A connected Bus alone in a fresh vhost (so `broker_reads` counts its connection only),
    and the vhost's URL; both removed at the end."""
    vhost = f"lcs_transport_{uuid.uuid4().hex[:8]}"
    stackmod.create_vhost(vhost)
    url = stackmod.with_vhost(ADMIN_AMQP_URL, vhost)
    bus = Bus(url, service="transport-test")
    run = asyncio.create_task(bus.run())
    try:
        await asyncio.wait_for(bus.connected.wait(), 20)
        yield bus, url
    finally:
        await bus.stop()
        run.cancel()
        stackmod.delete_vhost(vhost)


async def test_a_batch_of_publishes_leaves_in_a_few_socket_writes_and_arrives_whole_in_order() -> None:
    async with bus_in_own_vhost() as (bus, url):
        vhost = url.rsplit("/", 1)[1]
        check = await aio_pika.connect(url)
        try:
            channel = await check.channel()
            exchange = await channel.declare_exchange(bus.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
            queue = await channel.declare_queue("transport-check", durable=True,
                                                arguments={"x-queue-type": "quorum"})
            await queue.bind(exchange, routing_key=ROUTING_KEY)
            bodies = [f'{{"n": {i}, "pad": "{"x" * 1000}"}}'.encode() for i in range(200)]
            before = broker_reads(vhost)
            results = await bus.publish_many([(body, ROUTING_KEY, str(uuid.uuid4()), ROUTING_KEY)
                                              for body in bodies])
            reads = broker_reads(vhost) - before
            assert results == [None] * 200  # every publish confirmed
            # One write per publish made the broker read about once per message (over 200); joined,
            # the batch is about 220 kB and a handful of reads. The margin covers the confirms'
            # round trip and the `list_connections` calls themselves.
            assert reads < 60, reads
            received: list[bytes] = []
            async with queue.iterator() as messages:
                async for message in messages:
                    await message.ack()
                    received.append(message.body)
                    if len(received) == len(bodies):
                        break
            assert received == bodies
        finally:
            await check.close()
