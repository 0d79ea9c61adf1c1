"""Events made by the official CloudEvents Python SDK (`cloudevents` on PyPI), in every form its
AMQP and RabbitMQ bindings produce, go into a real consumer (`shared.consumer.Consumer` on the real
RabbitMQ and PostgreSQL) and are handled, not dead-lettered: structured and binary mode,
`datacontenttype: application/json; charset=utf-8`, no `time`, a non-UUID `id`, both
`cloudEvents:` and `cloudEvents_` header prefixes and the RabbitMQ binding's `ce-`. A binary event
whose handler fails once comes back through the retry queue intact."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import orjson
from cloudevents.core.bindings import amqp, rabbitmq
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from shared.events import Envelope, ShipmentDelayed
from shared.wire import derived_id
from tests.conftest import Infra
from tests.integration.test_bus_outbox_inbox import dlq_messages, harness, publish_messages
from tests.support.wait import eventually

TYPE = ShipmentDelayed.TYPE
SOURCE = "/partners/carrier-feed"


@dataclass
class Wire:
    """One message as the broker carries it."""

    label: str
    body: bytes
    content_type: str | None
    headers: dict[str, Any]
    waybill_no: str
    event_id: str


def sdk_event(waybill_no: str, *, event_id: str | None = None) -> CloudEvent:
    data = orjson.loads(ShipmentDelayed(
        waybill_no=waybill_no, eta=datetime(2026, 12, 1, 8, tzinfo=UTC),
        promised_at=datetime(2026, 11, 30, 18, tzinfo=UTC), delay_minutes=840, reason="traffic_jam").model_dump_json())
    attributes = {"type": TYPE, "source": SOURCE, "subject": waybill_no,
                  "datacontenttype": "application/json; charset=utf-8", "id": event_id or str(uuid.uuid4())}
    return CloudEvent(attributes=attributes, data=data)


def forms(tag: str) -> list[Wire]:
    """Every form, each with a waybill number of its own."""
    fmt = JSONFormat()
    out: list[Wire] = []

    def add(label: str, body: bytes, content_type: str | None, headers: dict[str, Any], event: CloudEvent) -> None:
        out.append(Wire(label, body, content_type, headers, event.get_subject() or "", event.get_id()))

    e = sdk_event(f"{tag}-S")
    m = amqp.to_structured(e, fmt)
    add("structured (AMQP binding)", m.application_data, m.properties["content-type"], {}, e)

    e = sdk_event(f"{tag}-NT")
    m = amqp.to_structured(e, fmt)
    timeless = {k: v for k, v in orjson.loads(m.application_data).items() if k != "time"}
    add("structured, no time", orjson.dumps(timeless), m.properties["content-type"], {}, e)

    e = sdk_event(f"{tag}-ID", event_id=f"carrier-feed-{tag}-42")
    m = amqp.to_structured(e, fmt)
    add("structured, non-UUID id", m.application_data, m.properties["content-type"], {}, e)

    e = sdk_event(f"{tag}-BU")
    m = amqp.to_binary(e, fmt)
    add("binary, cloudEvents_ prefix", m.application_data, m.properties["content-type"], m.application_properties, e)

    e = sdk_event(f"{tag}-BC")
    m = amqp.to_binary(e, fmt)
    colon = {k.replace("cloudEvents_", "cloudEvents:", 1): v for k, v in m.application_properties.items()}
    add("binary, cloudEvents: prefix", m.application_data, m.properties["content-type"], colon, e)

    e = sdk_event(f"{tag}-BN")
    m = amqp.to_binary(e, fmt)
    no_time = {k: v for k, v in m.application_properties.items() if k != "cloudEvents_time"}
    add("binary, no time", m.application_data, m.properties["content-type"], no_time, e)

    e = sdk_event(f"{tag}-R")
    r = rabbitmq.to_binary(e, fmt)
    add("binary, RabbitMQ binding (ce- headers)", r.body, r.content_type, dict(r.headers), e)

    e = sdk_event(f"{tag}-RS")
    r = rabbitmq.to_structured(e, fmt)
    add("structured (RabbitMQ binding)", r.body, r.content_type, dict(r.headers), e)
    return out


async def send(infra: Infra, messages: list[Wire]) -> None:
    await publish_messages(infra, [(aio_pika.Message(w.body, content_type=w.content_type, headers=w.headers or None,
                                                     delivery_mode=aio_pika.DeliveryMode.PERSISTENT), TYPE)
                                   for w in messages])


def inbox_id(w: Wire) -> uuid.UUID:
    try:
        return uuid.UUID(w.event_id)
    except ValueError:
        return derived_id(SOURCE, w.event_id)


async def test_sdk_events_in_every_form_are_handled_not_dead_lettered(infra: Infra) -> None:
    seen: list[tuple[str, Envelope]] = []

    async def record(conn: asyncpg.Connection, event: ShipmentDelayed, env: Envelope) -> None:
        seen.append((event.waybill_no, env))
        await conn.execute("INSERT INTO effects (event_id, note) VALUES ($1, $2)", env.id, event.waybill_no)

    messages = forms(uuid.uuid4().hex[:6].upper())
    async with harness(infra, record, batch_max=1) as h:
        await send(infra, messages)

        async def all_handled() -> bool:
            return len(await h.effects()) >= len(messages)

        await eventually(all_handled)
        effects = {row["note"]: row["event_id"] for row in await h.effects()}
        dead = await dlq_messages(infra, h.consumers[0].dlq_name)
    assert dead == [], [m.headers for m in dead]
    for w in messages:
        assert effects.get(w.waybill_no) == inbox_id(w), f"{w.label}: not handled under its id"
    envelopes = dict(seen)
    for w in messages:
        env = envelopes[w.waybill_no]
        assert env.type == TYPE and env.source == SOURCE and env.subject == w.waybill_no, w.label
        assert env.datacontenttype.startswith("application/json"), w.label
        assert env.data["delay_minutes"] == 840, w.label


async def test_a_binary_event_survives_a_retry_with_its_attributes(infra: Infra) -> None:
    """The retry queue republishes the body with the headers and content type it came with."""
    attempts: list[Envelope] = []

    async def flaky(conn: asyncpg.Connection, event: ShipmentDelayed, env: Envelope) -> None:
        attempts.append(env)
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")
        await conn.execute("INSERT INTO effects (event_id, note) VALUES ($1, $2)", env.id, event.waybill_no)

    tag = uuid.uuid4().hex[:6].upper()
    binary = next(w for w in forms(tag) if w.label == "binary, cloudEvents: prefix")
    async with harness(infra, flaky, retry_delays_ms=[100, 200]) as h:
        await send(infra, [binary])

        async def handled() -> bool:
            return len(await h.effects()) == 1

        await eventually(handled)  # committed with its ack due: nothing of it can reach the DLQ now
        dead = await dlq_messages(infra, h.consumers[0].dlq_name)
    assert dead == []
    assert [str(a.id) for a in attempts] == [binary.event_id, binary.event_id]
    assert attempts[1].subject == binary.waybill_no
