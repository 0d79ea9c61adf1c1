"""`shared.fastpath.frames` against pamqp: every frame decodes to what `pamqp.frame.unmarshal`
makes of it (or fails as pamqp fails), and the buffered receiver hands out the frames of a byte
stream however the stream is cut into reads."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from aiormq.exceptions import AMQPConnectionError
from hypothesis import given
from hypothesis import strategies as st
from pamqp import commands, frame, heartbeat
from pamqp.body import ContentBody
from pamqp.exceptions import AMQPSyntaxError
from pamqp.header import ContentHeader, ProtocolHeader

from shared.fastpath import frames

Basic = commands.Basic

short_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40).filter(
    lambda s: len(s.encode()) <= 255)
# pamqp, which builds the frames compared against, encodes a delivery tag as a signed long-long (the
# protocol's is unsigned; a broker's tags start at 1 per channel and never get near 2**63)
tags = st.integers(min_value=0, max_value=2**63 - 1)
# header values: pamqp packs a table integer from -128 to -1 as an unsigned octet and fails
header_ints = st.integers(-1000, 1000).filter(lambda v: not -128 <= v < 0)
exchange_names = st.text("abcXYZ019-_.:@#,/ ", max_size=40)  # pamqp's exchange-name domain

# A real delivery as RabbitMQ sends it to an lcs consumer.
OUR_PROPERTIES = Basic.Properties(content_type="application/cloudevents+json", delivery_mode=2,
                                  message_id="0b6c1d0e-5f7a-4e8b-9c2d-3e4f5a6b7c8d",
                                  message_type="tracking.shipment.registered.v1", app_id="tracking")


def properties() -> st.SearchStrategy[Basic.Properties]:
    maybe = st.none() | short_text
    return st.builds(
        Basic.Properties, content_type=maybe, content_encoding=maybe,
        headers=st.none() | st.dictionaries(st.text("abcxyz-", min_size=1, max_size=8),
                                            header_ints | short_text, max_size=3),
        delivery_mode=st.none() | st.sampled_from([1, 2]), priority=st.none() | st.integers(0, 9),
        correlation_id=maybe, reply_to=maybe, expiration=st.none() | st.integers(0, 10**6).map(str),
        message_id=maybe,
        timestamp=st.none() | st.integers(0, 4 * 10**9).map(lambda s: datetime.fromtimestamp(s, UTC)),
        message_type=maybe, user_id=maybe, app_id=maybe)


methods = st.one_of(
    st.builds(Basic.Deliver, consumer_tag=short_text, delivery_tag=tags, redelivered=st.booleans(),
              exchange=exchange_names, routing_key=short_text),
    st.builds(Basic.Ack, delivery_tag=tags, multiple=st.booleans()),
    st.builds(Basic.Nack, delivery_tag=tags, multiple=st.booleans(), requeue=st.booleans()),
    st.builds(Basic.ConsumeOk, consumer_tag=short_text),
    st.builds(Basic.QosOk),
)
contents = st.one_of(
    st.builds(ContentHeader, weight=st.just(0), body_size=st.integers(0, 2**40), properties=properties()),
    st.builds(ContentBody, st.binary(min_size=1, max_size=300)),
)
any_frame = st.one_of(methods, contents, st.builds(heartbeat.Heartbeat))
# An empty body frame is one pamqp cannot read ("No frame size"); RabbitMQ never sends one.
empty_body = st.just(ContentBody(b""))
channels = st.integers(0, 2**16 - 1)


def described(value: Any) -> tuple[str, dict[str, Any]]:
    """A frame object as comparable data: its class and every attribute pamqp gives it."""
    if isinstance(value, ContentHeader):
        props = {name: getattr(value.properties, name) for name in Basic.Properties.__slots__}
        return "ContentHeader", {"class_id": value.class_id, "weight": value.weight,
                                 "body_size": value.body_size, "properties": props}
    if isinstance(value, ContentBody):
        return "ContentBody", {"value": value.value}
    slots = getattr(value, "__slots__", [])
    return type(value).__qualname__, {name: getattr(value, name) for name in slots}


def same_as_pamqp(data: bytes) -> None:
    try:
        expected = frame.unmarshal(data)
    except Exception as exc:  # noqa: BLE001 - the fast decoder must fail the same way
        with pytest.raises(type(exc)):
            frames.decode(data)
        return
    got = frames.decode(data)
    assert got[:2] == expected[:2]
    assert described(got[2]) == described(expected[2])
    assert type(got[2]) is type(expected[2])


@given(any_frame | empty_body, channels)
def test_every_frame_decodes_as_pamqp_decodes_it(value: Any, channel: int) -> None:
    same_as_pamqp(frame.marshal(value, channel))


@given(any_frame, channels, st.data())
def test_a_damaged_frame_decodes_or_fails_as_pamqp_does(value: Any, channel: int, data: st.DataObject) -> None:
    raw = bytearray(frame.marshal(value, channel))
    if len(raw) > 8:  # damage the payload (length bytes of strings, flags, bits), keep the framing
        at = data.draw(st.integers(7, len(raw) - 2), label="at")
        raw[at] = data.draw(st.integers(0, 255), label="byte")
    same_as_pamqp(bytes(raw))


def test_a_delivery_tag_with_its_top_bit_set_reads_as_pamqp_reads_it() -> None:
    """A damaged (or hostile) frame can carry a tag of 2**63 or more: read signed, as pamqp reads it,
    so the object is pamqp's and its ack can be packed back (found by the property above)."""
    ack = bytes.fromhex("01 0000 0000000d 003c 0050 8000000000000000 00 ce")
    same_as_pamqp(ack)
    assert frames.decode(ack)[2].delivery_tag == -2**63
    deliver = frame.marshal(Basic.Deliver(consumer_tag="c", delivery_tag=1, exchange="x", routing_key="k"), 1)
    at = deliver.index(b"\x01c") + 2  # the tag follows the consumer tag
    damaged = deliver[:at] + b"\xff" * 8 + deliver[at + 8:]
    same_as_pamqp(damaged)
    assert frames.decode(damaged)[2].delivery_tag == -1


def test_the_frames_an_lcs_consumer_reads_take_the_fast_path() -> None:
    """Deliver, our content header and the body are built here, not by pamqp (which would also
    pass the comparison above): what pamqp would make of them, without its walk."""
    delivery = [Basic.Deliver("ctag", 7, False, "lcs.events", "tracking.shipment.registered.v1"),
                ContentHeader(0, 3, OUR_PROPERTIES), ContentBody(b"{}\n"), Basic.Ack(7, True)]
    for value in delivery:
        payload = frame.marshal(value, 1)[7:-1]
        kind = frame.frame_parts(frame.marshal(value, 1))[0]
        assert frames._fast(kind, payload) is not None, value
        same_as_pamqp(frame.marshal(value, 1))
    with_headers = ContentHeader(0, 3, Basic.Properties(headers={"x-death": 1}))
    assert frames._fast(2, frame.marshal(with_headers, 1)[7:-1]) is None  # a field table: pamqp's


def reader_with(*chunks: bytes, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    for chunk in chunks:
        reader.feed_data(chunk)
    if eof:
        reader.feed_eof()
    return reader


async def read_all(receiver: frames.FrameReceiver) -> list[tuple[int, int, Any]]:
    return [got async for got in receiver]


@given(st.lists(st.tuples(any_frame, channels), min_size=1, max_size=12), st.data())
async def test_the_receiver_hands_out_the_frames_however_the_stream_is_cut(
        values: list[tuple[Any, int]], data: st.DataObject) -> None:
    stream = b"".join(frame.marshal(value, channel) for value, channel in values)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(stream) - 1), max_size=8), label="cuts"))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    receiver = frames.FrameReceiver(reader_with(*chunks))
    receiver.READ_SIZE = data.draw(st.sampled_from([7, 64, 1 << 16]), label="read size")
    got = await read_all(receiver)
    expected = [frame.unmarshal(frame.marshal(value, channel)) for value, channel in values]
    assert [(n, ch, described(v)) for n, ch, v in got] == [(n, ch, described(v)) for n, ch, v in expected]


async def test_the_stream_ending_inside_a_frame_is_a_connection_error() -> None:
    raw = frame.marshal(Basic.Ack(1), 1)
    receiver = frames.FrameReceiver(reader_with(raw + raw[:5]))
    assert (await receiver.get_frame())[2].delivery_tag == 1
    with pytest.raises(AMQPConnectionError, match="unexpectedly closed"):
        await receiver.get_frame()


async def test_the_stream_ending_between_frames_ends_the_iteration() -> None:
    receiver = frames.FrameReceiver(reader_with(frame.marshal(Basic.Ack(1), 1)))
    assert len(await read_all(receiver)) == 1


async def test_a_protocol_header_instead_of_the_first_frame_is_refused() -> None:
    receiver = frames.FrameReceiver(reader_with(ProtocolHeader(0, 9, 1).marshal()))
    with pytest.raises(AMQPSyntaxError):
        await receiver.get_frame()


async def test_frames_already_read_are_handed_out_without_waiting_for_the_socket() -> None:
    """Several frames in one read: the later ones come from the buffer while the socket stays
    open and silent (a receiver that read again would wait here forever)."""
    raws = [frame.marshal(Basic.Ack(n), 1) for n in (1, 2, 3)]
    receiver = frames.FrameReceiver(reader_with(b"".join(raws), eof=False))
    tags_read = [(await asyncio.wait_for(receiver.get_frame(), 5))[2].delivery_tag for _ in raws]
    assert tags_read == [1, 2, 3]
