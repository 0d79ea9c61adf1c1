"""Helpers for the complaints integration tests: an HTTP client with role tokens, tracking
events published onto the bus exactly as tracking would, and a tap on emitted events."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aio_pika
import asyncpg
import httpx

from shared.events import (
    CONTENT_TYPE,
    Cargo,
    Consignee,
    Envelope,
    Event,
    Position,
    ReceiptRequirements,
    ShipmentDelayed,
    ShipmentRegistered,
    Shipper,
    StationRef,
    make_envelope,
)
from tests.conftest import Infra, unique
from tests.support.wait import eventually

CST = timezone(timedelta(hours=8))
TRACKING = "/lcs/tracking"


def now() -> datetime:
    return datetime.now(UTC)


def station() -> str:
    return "S" + unique()[:7]


def waybill() -> str:
    return "WB" + unique()


class Api:
    def __init__(self, client: httpx.AsyncClient, infra: Infra) -> None:
        self.client = client
        self.infra = infra

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, base_url: str, infra: Infra) -> AsyncIterator[Api]:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            yield cls(client, infra)

    def _headers(self, role: str, branch: str | None, extra: dict[str, str] | None) -> dict[str, str]:
        headers = self.infra.headers(role, branch=branch) if branch else self.infra.headers(role)  # type: ignore[arg-type]
        return {**headers, **(extra or {})}

    async def get(self, path: str, *, role: str = "staff", branch: str | None = None,
                  params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.get(path, params=params, headers=self._headers(role, branch, headers))

    async def post(self, path: str, json: Any = None, *, role: str = "staff", branch: str | None = None,
                   params: dict[str, Any] | None = None) -> httpx.Response:
        return await self.client.post(path, json=json, params=params, headers=self._headers(role, branch, None))

    async def put(self, path: str, json: Any = None, *, role: str = "staff") -> httpx.Response:
        return await self.client.put(path, json=json, headers=self._headers(role, None, None))

    async def open(self, **overrides: Any) -> dict[str, Any]:
        body = complaint_body(**overrides)
        r = await self.post("/v1/complaints", body)
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()
        return data


def complaint_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": "C" + unique(), "caller_name": "王先生", "phone": "13800001234",
        "waybill_no": None, "channel": "phone", "category": "other", "description": "货怎么还没到？",
    }
    body.update(overrides)
    return body


# --- tracking events, as tracking publishes them -------------------------------------------


def registered(no: str, *, customer_id: str | None, origin: str = "SH01", destination: str = "WX02",
               via: list[str] | None = None, registered_at: datetime | None = None,
               promised_at: datetime | None = None, destination_name: str | None = "无锡站",
               shipper_name: str = "无锡精工") -> ShipmentRegistered:
    at = registered_at or now()
    return ShipmentRegistered(
        waybill_no=no, origin=origin, destination=destination, via=via or [],
        origin_station=StationRef(code=origin, name="上海站"),
        destination_station=StationRef(code=destination, name=destination_name),
        shipper=Shipper(customer_id=customer_id, name=shipper_name, phone="13800000000", email="ops@example.com"),
        consignee=Consignee(name="杨民敬", phone="13900000000"),
        cargo=Cargo(description="轴承", pieces=10, weight_kg=120.5),
        promised_at=promised_at or at + timedelta(days=2), payment="prepaid",
        receipt=ReceiptRequirements(required=True), registered_at=at)


def delayed(no: str, *, eta: datetime, promised_at: datetime, minutes: int, reason: str = "traffic_jam",
            position: Position | None = None) -> ShipmentDelayed:
    return ShipmentDelayed(waybill_no=no, eta=eta, promised_at=promised_at, delay_minutes=minutes, reason=reason,
                           last_position=position, vehicle_id="V-001", destination="WX02")


async def publish(infra: Infra, event: Event, *, time: datetime | None = None) -> Envelope:
    """Publish one CloudEvents envelope onto `lcs.events` in the test vhost, like tracking's relay."""
    envelope = make_envelope(event, TRACKING, time=time)
    conn = await aio_pika.connect(infra.amqp_url)
    async with conn:
        channel = await conn.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange("lcs.events", aio_pika.ExchangeType.TOPIC, durable=True)
        await exchange.publish(aio_pika.Message(
            envelope.to_json(), message_id=str(envelope.id), type=envelope.type, content_type=CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=envelope.type)
    return envelope


async def wait_for(predicate: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    return await eventually(predicate, timeout=timeout)


async def processed(infra: Infra, *envelopes: Envelope) -> None:
    """Wait until the complaints service has committed the effects of these events (its inbox)."""
    conn = await asyncpg.connect(infra.database_url)
    try:
        async def done() -> bool:
            n = await conn.fetchval("SELECT count(*) FROM complaints.inbox WHERE event_id = ANY($1::uuid[])",
                                    [e.id for e in envelopes])
            return bool(n == len(envelopes))
        await wait_for(done)
    finally:
        await conn.close()


async def feed(infra: Infra, event: Event, *, time: datetime | None = None) -> Envelope:
    envelope = await publish(infra, event, time=time)
    await processed(infra, envelope)
    return envelope


# --- what the service emits ----------------------------------------------------------------------


class EventTap:
    """An exclusive queue bound to `complaints.#`, collecting envelopes as they come."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, infra: Infra) -> AsyncIterator[EventTap]:
        tap = cls()
        conn = await aio_pika.connect(infra.amqp_url)
        async with conn:
            channel = await conn.channel()
            exchange = await channel.declare_exchange("lcs.events", aio_pika.ExchangeType.TOPIC, durable=True)
            queue = await channel.declare_queue(f"test-tap-{uuid.uuid4().hex[:8]}", exclusive=True,
                                                auto_delete=True)
            await queue.bind(exchange, routing_key="complaints.#")

            async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                async with message.process():
                    tap.envelopes.append(Envelope.model_validate_json(message.body))

            await queue.consume(on_message)
            yield tap

    def of(self, type_: str, complaint_id: str) -> list[Envelope]:
        return [e for e in self.envelopes if e.type == type_ and e.data.get("complaint_id") == complaint_id]

    async def wait(self, type_: str, complaint_id: str, count: int = 1, timeout: float = 20.0) -> list[Envelope]:
        async def enough() -> bool:
            return len(self.of(type_, complaint_id)) >= count
        await wait_for(enough, timeout)
        return self.of(type_, complaint_id)
