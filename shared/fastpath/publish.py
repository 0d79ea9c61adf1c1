"""A relay batch framed, queued and confirmed in one pass on the aiormq channel.

Why: the relay published a batch as N `Channel.basic_publish(..., wait=False)` coroutines under
`asyncio.gather`, about half of its CPU per event: a Task per event, aiormq's `Countdown` and the
channel's lock per event, two `FutureStore` registrations and a `message_id` done-callback per
confirmation, and pamqp marshalling each message's three frames by its generic walk
(`Basic.Publish.marshal`, `BasicProperties.marshal` trying all fourteen properties, `frame.marshal`
per frame, a `BytesIO` per `ChannelFrame`); the loop scheduling those Tasks was as much again.
`encode` writes the same bytes directly: the Publish method, a content header with the five
properties the bus sets, the body cut at the connection's frame size as `Channel._split_body` cuts
it. `publish_batch` puts the whole batch on the connection's write queue as one `ChannelFrame`,
under the channel's lock taken once, and keeps `basic_publish`'s books per message so that
aiormq's own frame handlers settle our confirmations as they settle theirs: `delivery_tag` counted
up, `confirmations[tag]` a future, `message_id_delivery_tag[message_id] = tag` (how a
`Basic.Return` finds its confirmation). An ack is None; a return (unroutable, mandatory) is None
too on a channel with `on_return_raises=False` (aio-pika's default, the bus's); a nack is aiormq's
`DeliveryError`. It then waits for the futures in order: one wake-up per confirm frame that settles
the one it waits for (RabbitMQ confirms many at a time), not a Task per event.

Differences from N `basic_publish` calls, none on the wire:
- the futures are plain loop futures, not in aiormq's `FutureStore` (whose one job for them is
  failing them when the channel closes): the channel's `closing` future is watched instead, and
  what is unconfirmed when it closes fails with the exception it closed with;
- on the deadline nothing is cancelled (the Tasks' cancellation cancelled their confirmations, and
  aiormq logged each later confirm as ignored and each later return as unhandled): each event
  confirmed in time keeps its result, the rest get the `TimeoutError` (so the relay republishes
  only those), and a confirmation that comes later still settles its future quietly;
- a `message_id_delivery_tag` entry is dropped once the batch is settled (one still unconfirmed:
  when its confirmation comes), and only if it still names our tag.

Declined (None: nothing queued or counted; the caller publishes the plain way): a channel without
publisher confirms, or closed; an exchange name pamqp refuses; a routing key, message id, type,
content type or app id that is not a str fitting a short string; an empty message id
(`basic_publish` would make one up); a body not `bytes`, or a non-empty one while the connection's
frame size is unknown. Depends on aiormq 6.9 (`Channel.lock`, `delivery_tag`, `confirmations`,
`message_id_delivery_tag`, `max_content_size`, `write_queue`, `closing`; `ChannelFrame`, whose
`payload` the connection's writer sends as it is) and pamqp 3.3 (the frame layouts,
`Basic.Properties.flags`, empty properties left out). `tests/unit/shared/test_fast_publish.py`
holds `encode` to pamqp's bytes and `publish_batch` to `basic_publish`'s writes and results on an
aiormq channel the test plays the broker to; `tests/integration/test_bus_transport.py` checks it
against RabbitMQ.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial
from typing import Any

import aiormq
from aiormq.abc import ChannelFrame
from aiormq.exceptions import ChannelInvalidStateError
from pamqp import commands

from shared.fastpath.frames import BODY, CONTENT_HEAD, FRAME_END, FRAME_HEAD, HEADER, METHOD

Event = tuple[bytes, str, str, str]  # body, routing key, message id, type

_END = bytes((FRAME_END,))  # the frame-end octet, as bytes to join
_BASIC = commands.Basic.frame_id
_PUBLISH_INDEX = commands.Basic.Publish.index.to_bytes(4, "big")  # class 60, method 40
_TICKET = b"\x00\x00"
_MANDATORY = b"\x01"  # bits: mandatory, not immediate
_PERSISTENT = b"\x02"  # delivery_mode 2
_FLAG = commands.Basic.Properties.flags
# The properties set here, in AMQP's (and pamqp's `__slots__`) order: content_type, delivery_mode,
# message_id, message_type, app_id. pamqp leaves out a property that is None or "".
_FLAGS = _FLAG["delivery_mode"] | _FLAG["message_id"]


def _short(value: Any) -> bytes | None:
    """`value` as an AMQP short string, None if it is not a str or does not fit."""
    if not isinstance(value, str):
        return None
    try:
        raw = value.encode()
    except UnicodeEncodeError:
        return None
    return bytes((len(raw),)) + raw if len(raw) <= 255 else None


def _optional(value: Any, flag: int) -> tuple[int, bytes] | None:
    """A property that may be absent: (its flag, its bytes), (0, b"") when pamqp would leave it
    out, None when it cannot be encoded here."""
    if value is None or value == "":
        return 0, b""
    encoded = _short(value)
    return None if encoded is None else (flag, encoded)


def encode(channel_number: int, max_content_size: int, exchange: str, events: Sequence[Event], *,
           content_type: str | None, app_id: str | None) -> bytes | None:
    """The frames of `basic_publish(body, exchange=exchange, routing_key=..., mandatory=True,
    properties=Basic.Properties(content_type=..., delivery_mode=2, message_id=..., message_type=...,
    app_id=...))` for each event in turn, as `ChannelFrame.marshall` writes them; None when an event
    is one to leave to `basic_publish` (see the module's docstring)."""
    try:
        commands.Basic.Publish(exchange=exchange)  # pamqp's checks of the exchange's name
    except ValueError:
        return None
    exchange_bytes = _short(exchange)
    fixed_type = _optional(content_type, _FLAG["content_type"])
    fixed_app = _optional(app_id, _FLAG["app_id"])
    if exchange_bytes is None or fixed_type is None or fixed_app is None:
        return None
    publish_head = _PUBLISH_INDEX + _TICKET + exchange_bytes
    fixed_flags = _FLAGS | fixed_type[0] | fixed_app[0]
    content_type_bytes, app_bytes = fixed_type[1], fixed_app[1]
    head = FRAME_HEAD.pack
    content_head = CONTENT_HEAD.pack  # class, weight (0), body size, property flags
    # A batch has a few distinct routing keys and types: each encoded once.
    routing_keys: dict[str, bytes | None] = {}
    types: dict[str | None, tuple[int, bytes] | None] = {}
    parts: list[bytes] = []
    append = parts.append
    for body, routing_key, message_id, type_ in events:
        if not (isinstance(body, bytes) and isinstance(routing_key, str) and isinstance(message_id, str)
                and message_id and (type_ is None or isinstance(type_, str))):
            return None
        if body and max_content_size <= 0:
            return None
        if routing_key in routing_keys:
            key = routing_keys[routing_key]
        else:
            key = routing_keys[routing_key] = _short(routing_key)
        if type_ in types:
            kind = types[type_]
        else:
            kind = types[type_] = _optional(type_, _FLAG["message_type"])
        message_id_bytes = _short(message_id)
        if key is None or kind is None or message_id_bytes is None:
            return None
        method = publish_head + key + _MANDATORY
        header = b"".join((content_head(_BASIC, 0, len(body), fixed_flags | kind[0]), content_type_bytes,
                           _PERSISTENT, message_id_bytes, kind[1], app_bytes))
        append(head(METHOD, channel_number, len(method)))
        append(method)
        append(_END)
        append(head(HEADER, channel_number, len(header)))
        append(header)
        append(_END)
        if body:
            for at in range(0, len(body), max_content_size):
                chunk = body[at:at + max_content_size]
                append(head(BODY, channel_number, len(chunk)))
                append(chunk)
                append(_END)
    return b"".join(parts)


def _register(channel: aiormq.Channel, events: Sequence[Event]) -> tuple[int, list[asyncio.Future[Any]]]:
    """`basic_publish`'s bookkeeping for each event, in order: the next delivery tag, its
    confirmation future (one already there reused, as aiormq does), the message id's tag.
    Returns the first tag and the futures."""
    loop = asyncio.get_running_loop()
    confirmations = channel.confirmations
    tags = channel.message_id_delivery_tag
    first = tag = channel.delivery_tag + 1
    futures: list[asyncio.Future[Any]] = []
    for _, _, message_id, _ in events:
        future = confirmations.get(tag)
        if future is None:
            future = confirmations[tag] = loop.create_future()
        tags[message_id] = tag
        futures.append(future)
        tag += 1
    channel.delivery_tag = tag - 1
    return first, futures


def _forget(tags: dict[str, int], message_id: str, tag: int, future: asyncio.Future[Any] | None = None) -> None:
    """Drop the message id's entry if it still names our tag. As the done-callback of a
    confirmation that came late, also mark its outcome retrieved: nobody awaits it any more."""
    if tags.get(message_id) == tag:
        del tags[message_id]
    if future is not None and not future.cancelled():
        future.exception()


def _release(channel: aiormq.Channel, events: Sequence[Event], first: int,
             futures: list[asyncio.Future[Any]]) -> None:
    """aiormq drops a message id's entry when its confirmation is done: now, for those done, and
    when it is, for the others."""
    tags = channel.message_id_delivery_tag
    for tag, (event, future) in enumerate(zip(events, futures, strict=False), first):
        if future.done():
            _forget(tags, event[2], tag)
        else:
            future.add_done_callback(partial(_forget, tags, event[2], tag))


async def _settled(futures: list[asyncio.Future[Any]], closing: asyncio.Future[Any]) -> None:
    """Until every future is done or the channel has closed. In order: by the time the first
    pending one is done, the broker has usually confirmed many more (one `Basic.Ack` with
    `multiple`) and aiormq has settled them. `asyncio.wait` never cancels what it waits for."""
    for future in futures:
        if not future.done():
            if closing.done():
                return
            await asyncio.wait((future, closing), return_when=asyncio.FIRST_COMPLETED)


def _fail_if_closed(channel: aiormq.Channel, futures: list[asyncio.Future[Any]]) -> None:
    """The channel closed with confirmations pending: fail them with what it closed with, as
    aiormq's `FutureStore.reject_all` fails the futures it holds."""
    if all(future.done() for future in futures):
        return
    closed = _outcome(channel.closing) or ChannelInvalidStateError(f"{channel!r} closed")
    for future in futures:
        if not future.done():
            future.set_exception(closed)


def _outcome(future: asyncio.Future[Any]) -> BaseException | None:
    return asyncio.CancelledError() if future.cancelled() else future.exception()


async def publish_batch(channel: aiormq.Channel, exchange: str, events: Sequence[Event], *,
                        content_type: str | None, app_id: str | None,
                        timeout: float | None) -> list[BaseException | None] | None:
    """Publish `events` (body, routing key, message id, type) to `exchange` as mandatory,
    persistent messages and wait for the broker's confirms until `timeout`; per event None (acked,
    or returned as unroutable) or what went wrong (a nack's `DeliveryError`, the `TimeoutError`,
    the exception the channel closed with). None when the batch is declined (see the module's
    docstring): then nothing was sent."""
    if not channel.publisher_confirms or channel.is_closed:
        return None
    if not events:
        return []
    payload = encode(channel.number, channel.max_content_size, exchange, events,
                     content_type=content_type, app_id=app_id)
    if payload is None:
        return None
    first = 0
    futures: list[asyncio.Future[Any]] = []
    failed: BaseException | None = None
    try:
        async with asyncio.timeout(timeout):
            async with channel.lock:  # ChannelInvalidStateError once the channel is closed
                await channel.write_queue.put(ChannelFrame(payload=payload, should_close=False))
                # Counted once queued, in the same step (`put` returns as it enqueues): the writer
                # runs, and the broker can confirm, only after we yield. A put the deadline cut
                # short queued nothing and counted nothing.
                first, futures = _register(channel, events)
            await _settled(futures, channel.closing)
            _fail_if_closed(channel, futures)
    except (TimeoutError, ChannelInvalidStateError) as exc:
        failed = exc
    finally:
        _release(channel, events, first, futures)
    if not futures:
        assert failed is not None
        return [failed] * len(events)
    return [_outcome(future) if future.done() else failed for future in futures]
