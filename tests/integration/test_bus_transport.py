"""The bus's AMQP transport against the real broker: a relay batch leaves in a few socket writes
(`shared.fastpath.amqp.CoalescingConnection`), framed as one write-queue item (`shared.fastpath.publish`),
every publish is confirmed (the confirms read by `shared.fastpath.frames`), and the broker gets the
messages whole and in order; and its TLS path (amqps://) against a local TLS server."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aio_pika
import aiormq.connection
import pytest
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage, AbstractQueue
from yarl import URL

from shared.bus import Bus
from shared.devtools import stack as stackmod
from shared.events import CONTENT_TYPE
from shared.fastpath import frames, publish
from shared.fastpath.amqp import _CoalescingTransportFactory
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


async def bound_queue(channel: AbstractChannel, bus: Bus, name: str) -> tuple[AbstractExchange, AbstractQueue]:
    """The bus's exchange, and a quorum queue `name` bound to it for ROUTING_KEY."""
    exchange = await channel.declare_exchange(bus.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
    await queue.bind(exchange, routing_key=ROUTING_KEY)
    return exchange, queue


async def take(queue: AbstractQueue, n: int) -> list[AbstractIncomingMessage]:
    """The queue's next `n` messages, acked."""
    taken: list[AbstractIncomingMessage] = []
    async with queue.iterator() as messages:
        async for message in messages:
            await message.ack()
            taken.append(message)
            if len(taken) == n:
                break
    return taken


async def test_a_batch_of_publishes_leaves_in_a_few_socket_writes_and_arrives_whole_in_order() -> None:
    async with bus_in_own_vhost() as (bus, url):
        vhost = url.rsplit("/", 1)[1]
        check = await aio_pika.connect(url)
        try:
            _, queue = await bound_queue(await check.channel(), bus, "transport-check")
            bodies = [f'{{"n": {i}, "pad": "{"x" * 1000}"}}'.encode() for i in range(200)]
            before = broker_reads(vhost)
            results = await bus.publish_many([(body, ROUTING_KEY, str(uuid.uuid4()), ROUTING_KEY)
                                              for body in bodies])
            reads = broker_reads(vhost) - before
            assert results == [None] * 200  # every publish confirmed
            # ... the confirms read by the buffered frame reader (and the deliveries below too)
            assert aiormq.connection.FrameReceiver is frames.FrameReceiver
            # One write per publish made the broker read about once per message (over 200); joined,
            # the batch is about 220 kB and a handful of reads. The margin covers the confirms'
            # round trip and the `list_connections` calls themselves.
            assert reads < 60, reads
            assert [message.body for message in await take(queue, len(bodies))] == bodies
        finally:
            await check.close()


async def test_a_relay_batch_is_written_in_one_piece_confirmed_and_arrives_whole_in_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`publish_many` over `shared.fastpath.publish`: the batch goes on the write queue as one item,
    byte for byte `publish.encode`'s (itself held to pamqp's in tests/unit/shared/test_fast_publish.py);
    the broker confirms every event; an unroutable one is None, as it always was (returned, then
    confirmed); one the broker refuses is a nack's `DeliveryError`; the channel's books are clean
    afterwards; and the consumer gets every routed message whole, with its properties, in order."""
    async with bus_in_own_vhost() as (bus, url):
        check = await aio_pika.connect(url)
        try:
            channel = await check.channel()
            exchange, queue = await bound_queue(channel, bus, "fast-publish-check")
            full = await channel.declare_queue("fast-publish-full", durable=True,
                                               arguments={"x-max-length": 0, "x-overflow": "reject-publish"})
            await full.bind(exchange, routing_key="refused.v1")
            assert bus._channel is not None
            underlay = await bus._channel.get_underlay_channel()
            assert isinstance(underlay, aiormq.Channel)
            # Bodies from empty to a few frames (RabbitMQ's frame_max is 128 KiB).
            sizes = [300_000 if i % 97 == 0 else i % 7 * 50 for i in range(300)]
            routed = [((f"{i}:".encode() * size)[:size], ROUTING_KEY, str(uuid.uuid4()), ROUTING_KEY)
                      for i, size in enumerate(sizes)]
            unroutable = (b'{"lost": 1}', "nobody.listens.v1", str(uuid.uuid4()), "nobody.listens.v1")
            refused = (b'{"full": 1}', "refused.v1", str(uuid.uuid4()), "refused.v1")
            events = [*routed[:100], unroutable, *routed[100:200], refused, *routed[200:]]
            queued: list[bytes] = []
            put_nowait = underlay.write_queue.put_nowait

            def record(item: aiormq.abc.ChannelFrame) -> None:
                queued.append(item.payload)
                put_nowait(item)

            monkeypatch.setattr(underlay.write_queue, "put_nowait", record)
            tag_before = underlay.delivery_tag
            results = await bus.publish_many(events)
            monkeypatch.undo()
            expected = publish.encode(underlay.number, underlay.max_content_size, bus.exchange_name, events,
                                      content_type=CONTENT_TYPE, app_id=bus.service)
            assert expected is not None and max(len(body) for body, *_ in events) > underlay.max_content_size
            on_our_channel = [p for p in queued if p[1:3] == underlay.number.to_bytes(2, "big")]
            assert len(on_our_channel) == 1, f"the batch went as {len(on_our_channel)} write-queue items"
            same_bytes = on_our_channel[0] == expected
            assert same_bytes, "the batch's bytes are not publish.encode's"
            assert underlay.delivery_tag == tag_before + len(events)
            assert underlay.confirmations == {}
            assert not set(underlay.message_id_delivery_tag) & {message_id for _, _, message_id, _ in events}
            refused_at = events.index(refused)
            assert [r for i, r in enumerate(results) if i != refused_at] == [None] * (len(events) - 1)
            assert isinstance(results[refused_at], aiormq.exceptions.DeliveryError)
            received = [(message.body, message.message_id, message.type, message.app_id, message.content_type,
                         message.delivery_mode) for message in await take(queue, len(routed))]
            assert received == [(body, message_id, type_, bus.service, CONTENT_TYPE, 2)
                                for body, _, message_id, type_ in routed]
        finally:
            await check.close()


class _Context:
    """What aiormq hands a transport factory as `ssl_context_provider`."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context

    async def get_context(self) -> ssl.SSLContext:
        return self.context


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 and its key (openssl, as Debian ships it)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


async def test_for_amqps_the_transport_speaks_tls_and_what_one_turn_wrote_arrives_in_order(
        certificate: tuple[Path, Path]) -> None:
    """The factory's TLS path (amqps://), against a local TLS server with a throwaway certificate:
    the handshake verifies the server, and writes made in one turn, then drained, arrive whole."""
    cert, key = certificate
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    received = bytearray()
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            received.extend(data)
            if len(received) >= 3 * 1000:
                done.set()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_side)
    port = server.sockets[0].getsockname()[1]
    try:
        client_side = ssl.create_default_context(cafile=str(cert))
        reader, writer = await _CoalescingTransportFactory().create(
            URL(f"amqps://127.0.0.1:{port}/"), ssl_context_provider=_Context(client_side))
        assert writer.transport.get_extra_info("ssl_object") is not None
        for part in (b"a" * 1000, b"b" * 1000, b"c" * 1000):
            writer.write(part)
        await writer.drain()
        await asyncio.wait_for(done.wait(), 10)
        assert bytes(received) == b"a" * 1000 + b"b" * 1000 + b"c" * 1000
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
