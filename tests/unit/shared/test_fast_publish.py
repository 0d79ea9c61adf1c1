"""`shared.fastpath.publish` against aiormq and pamqp: `encode` writes the bytes `basic_publish`
has pamqp write for the same messages, and `publish_batch`, on a real aiormq channel fed the
broker's frames by the test, settles a batch as a `basic_publish` per event does (`shared.bus`'s
`publish_one_by_one`): acks, a return, a nack, the channel closing; and on the deadline keeps what
was confirmed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from random import Random
from types import SimpleNamespace
from typing import Any

import aiormq
import pytest
from aiormq.abc import ChannelFrame
from aiormq.base import FutureStore
from aiormq.exceptions import ChannelClosed, DeliveryError
from hypothesis import given
from hypothesis import strategies as st
from pamqp import commands
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from shared.bus import publish_one_by_one
from shared.events import CONTENT_TYPE
from shared.fastpath import publish

Basic = commands.Basic
EXCHANGE = "lcs.events"
ROUTING_KEY = "tracking.shipment.registered.v1"

short_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40).filter(
    lambda s: len(s.encode()) <= 255)
long_text = st.text(st.characters(codec="ascii"), min_size=250, max_size=255)  # near a short string's limit
exchange_names = st.text("abcXYZ019-_.:@#,/ ", max_size=40)  # pamqp's exchange-name domain


def plain_frames(channel_number: int, max_content_size: int, exchange: str,
                 events: list[tuple[bytes, str, str, str | None]], *, content_type: str | None,
                 app_id: str | None) -> bytes:
    """What `basic_publish(..., mandatory=True)` puts on the write queue for each event, joined."""
    splitter = SimpleNamespace(max_content_size=max_content_size)
    written = b""
    for body, routing_key, message_id, type_ in events:
        properties = Basic.Properties(content_type=content_type, delivery_mode=2, message_id=message_id,
                                      message_type=type_, app_id=app_id)
        frames = [Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=True, immediate=False),
                  ContentHeader(properties=properties, body_size=len(body)),
                  *aiormq.Channel._split_body(splitter, body)]  # type: ignore[arg-type]
        written += ChannelFrame.marshall(channel_number=channel_number, frames=frames).payload
    return written


@st.composite
def batches(draw: st.DrawFn) -> tuple[int, list[tuple[bytes, str, str, str | None]]]:
    """A content size (a frame_max less a body frame's 8 bytes: tiny ones too, and RabbitMQ's
    default) and events whose bodies run from empty to several frames, some exactly a frame."""
    size = draw(st.integers(1, 600) | st.just(131_072 - 8), label="max content size")
    lengths = st.integers(0, 4 * min(size, 600) + 1) | st.sampled_from([size - 1, size, size + 1, 2 * size])
    # Random bytes from a drawn seed: drawing a few hundred kB byte by byte would be most of the run.
    bodies = st.tuples(lengths, st.integers(0, 2**32)).map(lambda n_seed: Random(n_seed[1]).randbytes(n_seed[0]))
    events = draw(st.lists(st.tuples(bodies,
                                     short_text | long_text, (short_text | long_text).filter(bool),
                                     st.none() | short_text),
                           min_size=1, max_size=5), label="events")
    return size, events


@given(batches(), st.integers(1, 2**16 - 1), exchange_names, st.none() | short_text, st.none() | short_text)
def test_a_batch_is_encoded_as_pamqp_frames_each_publish(batch: tuple[int, list[Any]], channel_number: int,
                                                         exchange: str, content_type: str | None,
                                                         app_id: str | None) -> None:
    size, events = batch
    got = publish.encode(channel_number, size, exchange, events, content_type=content_type, app_id=app_id)
    assert got == plain_frames(channel_number, size, exchange, events, content_type=content_type, app_id=app_id)


def test_a_relay_batch_is_encoded_here() -> None:
    """The relay's own events take the fast encoder (which the property above would also pass
    by declining everything)."""
    events = [(b'{"n": %d}' % n, ROUTING_KEY, f"0b6c1d0e-5f7a-4e8b-9c2d-3e4f5a6b7c{n:02d}", ROUTING_KEY)
              for n in range(3)]
    got = publish.encode(1, 131_064, EXCHANGE, events, content_type=CONTENT_TYPE, app_id="tracking")
    assert got is not None
    assert got == plain_frames(1, 131_064, EXCHANGE, events, content_type=CONTENT_TYPE, app_id="tracking")


@pytest.mark.parametrize(("why", "exchange", "size", "event"), [
    ("routing key over 255 bytes (255 characters: aiormq's check passes, pamqp's pack fails)",
     EXCHANGE, 4096, (b"x", "é" * 200, "id", "t")),
    ("empty message id: basic_publish makes one up", EXCHANGE, 4096, (b"x", "k", "", "t")),
    ("message id over 255 bytes", EXCHANGE, 4096, (b"x", "k", "m" * 256, "t")),
    ("type over 255 bytes", EXCHANGE, 4096, (b"x", "k", "id", "t" * 256)),
    ("body not bytes", EXCHANGE, 4096, (bytearray(b"x"), "k", "id", "t")),
    ("a routing key not a str", EXCHANGE, 4096, (b"x", 7, "id", "t")),
    ("frame size unknown", EXCHANGE, -8, (b"x", "k", "id", "t")),
    ("exchange pamqp refuses", "no!", 4096, (b"x", "k", "id", "t")),
])
def test_what_the_encoder_cannot_write_the_plain_way_it_declines(why: str, exchange: str, size: int,
                                                                 event: Any) -> None:
    assert publish.encode(1, size, exchange, [(b"ok", "k", "id", "t"), event],
                          content_type=CONTENT_TYPE, app_id="svc") is None, why


def test_an_empty_body_needs_no_frame_size() -> None:
    events = [(b"", "k", "id", "t")]
    assert publish.encode(1, -8, EXCHANGE, events, content_type=None, app_id=None) == plain_frames(
        1, -8, EXCHANGE, events, content_type=None, app_id=None)


# --- publish_batch on a real aiormq channel, the broker played by the test ---


class Connector:
    """What an `aiormq.Channel` needs of its connection: the write queue the test reads, the
    tuned frame size, a future store; `is_opened` False, so closing the channel sends nothing."""

    def __init__(self, *, publisher_confirms: bool = True) -> None:
        self.loop = asyncio.get_running_loop()
        self.publisher_confirms = publisher_confirms
        self.connection_tune = commands.Connection.Tune(frame_max=4096)
        self.write_queue: asyncio.Queue[ChannelFrame] = asyncio.Queue()
        self.is_opened = False
        self.store = FutureStore(self.loop)

    def _future_store_child(self) -> FutureStore:
        return self.store.get_child()


def new_channel(*, publisher_confirms: bool = True) -> aiormq.Channel:
    return aiormq.Channel(Connector(publisher_confirms=publisher_confirms), 1,  # type: ignore[arg-type]
                          publisher_confirms=publisher_confirms, on_return_raises=False)


def relay_events(n: int) -> list[tuple[bytes, str, str, str]]:
    return [(b"x" * (3000 * i), ROUTING_KEY, f"id-{i}", ROUTING_KEY) for i in range(n)]


async def fast(channel: aiormq.Channel, events: list[Any], timeout: float) -> list[BaseException | None]:
    results = await publish.publish_batch(channel, EXCHANGE, events, content_type=CONTENT_TYPE, app_id="svc",
                                          timeout=timeout)
    assert results is not None
    return results


async def plain(channel: aiormq.Channel, events: list[Any], timeout: float) -> list[BaseException | None]:
    return await publish_one_by_one(channel, EXCHANGE, events, app_id="svc", timeout=timeout)


def send(channel: aiormq.Channel, *frames: Any) -> None:
    for value in frames:
        channel.frames.put_nowait((0, value))


def returned(event: tuple[bytes, str, str, str]) -> list[Any]:
    """RabbitMQ's `Basic.Return` of an unroutable mandatory message: the method, header, body."""
    body, routing_key, message_id, _ = event
    return [Basic.Return(reply_code=312, reply_text="NO_ROUTE", exchange=EXCHANGE, routing_key=routing_key),
            ContentHeader(body_size=len(body), properties=Basic.Properties(message_id=message_id)),
            *([ContentBody(body)] if body else [])]


async def written_when_counted(channel: aiormq.Channel, n: int) -> list[bytes]:
    """The write queue's frames once the channel has counted `n` publishes (both ways queue a
    publish in the step that counts it)."""
    for _ in range(10_000):
        if channel.delivery_tag >= n:
            break
        await asyncio.sleep(0)
    assert channel.delivery_tag == n
    queue = channel.write_queue
    return [queue.get_nowait().payload for _ in range(queue.qsize())]


def outcome(result: BaseException | None) -> Any:
    if isinstance(result, DeliveryError):
        return "DeliveryError", result.frame.delivery_tag
    return None if result is None else (type(result).__name__, str(result))


async def acks_a_return_and_a_nack(channel: aiormq.Channel, events: list[Any]) -> None:
    send(channel, *returned(events[1]), Basic.Ack(delivery_tag=3, multiple=True),
         Basic.Nack(delivery_tag=4), Basic.Ack(delivery_tag=5))


async def closes(channel: aiormq.Channel, events: list[Any]) -> None:
    send(channel, Basic.Ack(delivery_tag=2, multiple=True))
    await asyncio.sleep(0.01)
    await channel.close(ChannelClosed(320, "CONNECTION_FORCED"))


Publisher = Callable[[aiormq.Channel, list[Any], float], Awaitable[list[BaseException | None]]]


async def run(publisher: Publisher, script: Callable[[aiormq.Channel, list[Any]], Awaitable[None]],
              events: list[Any]) -> tuple[list[bytes], list[Any], aiormq.Channel]:
    channel = new_channel()
    try:
        publishing = asyncio.create_task(publisher(channel, events, 5.0))
        written = await written_when_counted(channel, len(events))
        await script(channel, events)
        results = await publishing
    finally:
        await channel.close()
    return written, [outcome(r) for r in results], channel


@pytest.mark.parametrize("script", [acks_a_return_and_a_nack, closes])
async def test_a_batch_is_written_and_settled_as_a_basic_publish_each_would(script: Any) -> None:
    events = relay_events(5)  # bodies of 0 to 12,000 bytes: up to 3 frames of 4,088
    plain_written, plain_results, plain_channel = await run(plain, script, events)
    fast_written, fast_results, fast_channel = await run(fast, script, events)
    assert len(plain_written) == len(events)
    assert len(fast_written) == 1, "one write-queue item"
    same_bytes = fast_written[0] == b"".join(plain_written)
    assert same_bytes, "the same bytes as a basic_publish each"
    assert fast_results == plain_results
    if script is acks_a_return_and_a_nack:
        assert fast_results == [None, None, None, ("DeliveryError", 4), None]  # returned: None, as aio-pika's
    else:
        assert fast_results == [None, None, *[("ChannelClosed", str(ChannelClosed(320, "CONNECTION_FORCED")))] * 3]
    for channel in (plain_channel, fast_channel):
        assert channel.delivery_tag == len(events)
    assert fast_channel.message_id_delivery_tag == plain_channel.message_id_delivery_tag == {}


async def test_on_the_deadline_what_was_confirmed_stays_confirmed_and_the_rest_is_left_to_come() -> None:
    channel = new_channel()
    events = relay_events(4)
    try:
        publishing = asyncio.create_task(fast(channel, events, 0.2))
        await written_when_counted(channel, len(events))
        send(channel, Basic.Ack(delivery_tag=2, multiple=True))
        results = await publishing
        assert results[:2] == [None, None]
        assert all(isinstance(r, TimeoutError) for r in results[2:])
        # Not cancelled (the plain way cancels them all): a return and a confirm arriving late
        # settle them, and their message ids' entries go.
        assert [channel.confirmations[tag].done() for tag in (3, 4)] == [False, False]
        assert set(channel.message_id_delivery_tag) == {"id-2", "id-3"}
        send(channel, *returned(events[2]), Basic.Ack(delivery_tag=4, multiple=True))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not channel.is_closed
        assert channel.confirmations == {}
        assert channel.message_id_delivery_tag == {}
    finally:
        await channel.close()


async def test_a_deadline_before_the_batch_is_queued_counts_nothing() -> None:
    channel = new_channel()
    try:
        async with channel.lock:  # another publisher holds the channel past the deadline
            results = await fast(channel, relay_events(3), 0.05)
        assert [type(r) for r in results] == [TimeoutError] * 3
        assert channel.delivery_tag == 0
        assert channel.write_queue.empty()
        assert channel.confirmations == {} and channel.message_id_delivery_tag == {}
    finally:
        await channel.close()


async def test_an_empty_batch_is_an_empty_list_of_results() -> None:
    channel = new_channel()
    try:
        assert await fast(channel, [], 1) == []
        assert channel.delivery_tag == 0 and channel.write_queue.empty()
    finally:
        await channel.close()


async def test_a_batch_it_declines_leaves_the_channel_untouched() -> None:
    for channel, events in ((new_channel(publisher_confirms=False), relay_events(2)),
                            (new_channel(), [*relay_events(1), (b"x", ROUTING_KEY, "", ROUTING_KEY)])):
        try:
            assert await publish.publish_batch(channel, EXCHANGE, events, content_type=CONTENT_TYPE,
                                               app_id="svc", timeout=1) is None
            assert channel.delivery_tag == 0 and channel.write_queue.empty()
        finally:
            await channel.close()
