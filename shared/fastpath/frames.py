"""AMQP frames read off the socket in buffers, the hot ones decoded without pamqp's generic walk.

Why: every consumed event is three frames (`Basic.Deliver`, a content header, the body) and
every confirmed publish one more (`Basic.Ack`). aiormq reads each frame with three `readexactly`
calls under a lock into a `BytesIO`, then pamqp decodes it argument by argument
(`decode.by_type`, a `setattr` per field, a `validate()` per object): together about a fifth of a
consumer's CPU per event. `FrameReceiver` reads whatever the socket has (many frames per read
under load) and cuts frames out of that buffer; `decode` builds the same pamqp objects for those
four kinds directly. Anything else — a method it does not know, a content header carrying
`headers` or `timestamp` (their decoders are pamqp's), a frame that does not parse cleanly — goes
to `pamqp.frame.unmarshal` as before, so its results and its errors are pamqp's own.
`tests/unit/shared/test_fast_frames.py` checks `decode` against pamqp, frame by frame.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import aiormq.connection
from aiormq.exceptions import AMQPConnectionError
from pamqp import commands, frame
from pamqp.body import ContentBody
from pamqp.exceptions import AMQPSyntaxError
from pamqp.header import ContentHeader

# The frame layout (AMQP 0-9-1, section 4.2.3), shared with `publish`, which writes what this reads.
FRAME_HEAD = struct.Struct(">BHI")  # type, channel, payload size
_HEAD_SIZE = 7
FRAME_END = 0xCE
METHOD, HEADER, BODY = 1, 2, 3
# a delivery tag as pamqp reads it, signed: the protocol's long-long is unsigned, but the tag goes back
# to the broker through pamqp (`basic_ack`), which packs it signed; a broker's tags start at 1 per
# channel and never get near 2**63, where the two readings part
_TAG = struct.Struct(">q")
CONTENT_HEAD = struct.Struct(">HHQH")  # class, weight, body size, first property-flags word

_DELIVER = commands.Basic.Deliver
_ACK = commands.Basic.Ack
_NACK = commands.Basic.Nack
_PROPERTIES = commands.Basic.Properties
_DELIVER_INDEX = _DELIVER.index.to_bytes(4, "big")
_ACK_INDEX = _ACK.index.to_bytes(4, "big")
_NACK_INDEX = _NACK.index.to_bytes(4, "big")

# Basic.Properties decoded here, in wire order, with its flag bit and whether it is an octet (else a
# short string). `headers` (a field table) and `timestamp` (a datetime) are left to pamqp: a header
# carrying either is decoded there, as is one with a second flags word.
_PAMQP_ONLY = ("headers", "timestamp")
_PROPERTY_ORDER: tuple[tuple[str, int, bool], ...] = tuple(
    (name, _PROPERTIES.flags[name], name in ("delivery_mode", "priority"))
    for name in _PROPERTIES.__slots__ if name not in _PAMQP_ONLY)
_PAMQP_ONLY_FLAGS = _PROPERTIES.flags["headers"] | _PROPERTIES.flags["timestamp"] | 1  # 1: a second flags word
_PROPERTY_DEFAULTS = tuple((name, "" if name == "cluster_id" else None) for name in _PROPERTIES.__slots__)


def _short_str(data: bytes, at: int) -> tuple[str, int]:
    end = at + 1 + data[at]
    if end > len(data):
        raise ValueError("short string runs past the frame")
    return data[at + 1:end].decode(), end


def _deliver(payload: bytes) -> commands.Basic.Deliver:
    consumer_tag, at = _short_str(payload, 4)
    (delivery_tag,) = _TAG.unpack_from(payload, at)
    redelivered = bool(payload[at + 8] & 1)
    exchange, at = _short_str(payload, at + 9)
    routing_key, at = _short_str(payload, at)
    if at != len(payload):
        raise ValueError("trailing bytes")
    method = _DELIVER.__new__(_DELIVER)
    method.consumer_tag, method.delivery_tag, method.redelivered = consumer_tag, delivery_tag, redelivered
    method.exchange, method.routing_key = exchange, routing_key
    return method


def _confirm(cls: Any, payload: bytes) -> Any:
    if len(payload) != 13:
        raise ValueError("not a confirm's size")
    (delivery_tag,) = _TAG.unpack_from(payload, 4)
    bits = payload[12]
    method = cls.__new__(cls)
    method.delivery_tag, method.multiple = delivery_tag, bool(bits & 1)
    if cls is _NACK:
        method.requeue = bool(bits & 2)
    return method


def _content_header(payload: bytes) -> ContentHeader | None:
    class_id, weight, body_size, flags = CONTENT_HEAD.unpack_from(payload)
    if flags & _PAMQP_ONLY_FLAGS:
        return None
    properties = _PROPERTIES.__new__(_PROPERTIES)
    for name, default in _PROPERTY_DEFAULTS:
        setattr(properties, name, default)
    at = CONTENT_HEAD.size
    for name, flag, octet in _PROPERTY_ORDER:
        if flags & flag:
            value: str | int
            if octet:
                value, at = payload[at], at + 1
            else:
                value, at = _short_str(payload, at)
            setattr(properties, name, value)
    if at != len(payload):
        raise ValueError("trailing bytes")
    content = ContentHeader.__new__(ContentHeader)
    content.class_id, content.weight, content.body_size, content.properties = class_id, weight, body_size, properties
    return content


def _fast(kind: int, payload: bytes) -> Any:
    """The frame's object, or None when pamqp should decode it."""
    if kind == BODY:
        body = ContentBody.__new__(ContentBody)
        body.value = payload
        return body
    if kind == METHOD:
        index = payload[:4]
        if index == _DELIVER_INDEX:
            return _deliver(payload)
        if index == _ACK_INDEX:
            return _confirm(_ACK, payload)
        if index == _NACK_INDEX:
            return _confirm(_NACK, payload)
        return None
    if kind == HEADER:
        return _content_header(payload)
    return None


def decode(data: bytes) -> tuple[int, int, Any]:
    """One whole frame (`data` is exactly its bytes) as `pamqp.frame.unmarshal` returns it:
    (bytes consumed, channel, frame object)."""
    kind, channel, size = FRAME_HEAD.unpack_from(data)
    if size and len(data) == _HEAD_SIZE + size + 1 and data[-1] == FRAME_END:
        try:
            value = _fast(kind, data[_HEAD_SIZE:-1])
        except (ValueError, IndexError, struct.error, UnicodeDecodeError):
            value = None  # pamqp decides what this frame is, or what error it is
        if value is not None:
            return len(data), channel, value
    return frame.unmarshal(data)


class FrameReceiver(aiormq.connection.FrameReceiver):
    """aiormq's frame reader, reading the socket in chunks and decoding with `decode`.

    It keeps aiormq's contract: frames in order as (bytes consumed, channel, frame); the end of
    the stream between frames ends the iteration, in the middle of one (or a socket error) is an
    `AMQPConnectionError`; a protocol header where the first frame should be (the broker refusing
    our protocol version) is an `AMQPSyntaxError`."""

    READ_SIZE = 1 << 16

    def __init__(self, reader: asyncio.StreamReader) -> None:
        super().__init__(reader)
        self._buffer = b""
        self._at = 0

    def _frame_end(self) -> int | None:
        """Where the next frame ends in the buffer, None until it is all there."""
        buffer, at = self._buffer, self._at
        if len(buffer) - at < _HEAD_SIZE:
            return None
        end: int = at + _HEAD_SIZE + FRAME_HEAD.unpack_from(buffer, at)[2] + 1
        return end if end <= len(buffer) else None

    def _next(self) -> tuple[int, int, Any] | None:
        if not self.started and len(self._buffer) - self._at >= _HEAD_SIZE:
            if self._buffer.startswith(b"AMQP", self._at):
                raise AMQPSyntaxError
            self.started = True
        end = self._frame_end()
        if end is None:
            return None
        at, self._at = self._at, end
        return decode(self._buffer[at:end])

    async def _fill(self) -> None:
        try:
            chunk = await self.reader.read(self.READ_SIZE)
        except OSError as exc:  # ConnectionError included
            raise AMQPConnectionError(f"Server communication error: {exc!r}") from exc
        rest = self._buffer[self._at:]
        if not chunk:
            if rest:
                raise AMQPConnectionError(f"Server connection unexpectedly closed with {len(rest)} bytes "
                                          "of a frame read")
            raise StopAsyncIteration
        self._buffer, self._at = rest + chunk if rest else chunk, 0

    async def get_frame(self) -> tuple[int, int, Any]:
        while True:
            got = self._next()
            if got is not None:
                return got
            async with self.lock:  # one reader at a time; another may have read our frame meanwhile
                if self._frame_end() is None:
                    await self._fill()


def install() -> None:
    """Make aiormq's connections read with `FrameReceiver` (aiormq looks the class up in its
    module when a connection opens). Idempotent."""
    aiormq.connection.FrameReceiver = FrameReceiver  # type: ignore[misc]
