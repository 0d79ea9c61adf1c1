"""Fixtures for the receipts integration tests: a fake tracking publisher and an API client.

Receipts learns only from events, so the tests publish exactly what tracking would:
CloudEvents envelopes built with `shared.events.make_envelope`, on the topic exchange
`lcs.events` of the run's vhost, routing key = type.

Every time in these tests is relative to the real clock and deadlines fall in the future,
so the service's own hourly chase (which runs at the real "now") never touches a receipt
whose chasing a test drives through `POST /v1/admin/chase?as_of=...`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest

from shared.devtools.stack import Stack
from shared.events import (
    Cargo,
    Consignee,
    Envelope,
    Event,
    ReceiptRequirements,
    ShipmentArrived,
    ShipmentDelivered,
    ShipmentRegistered,
    Shipper,
    StationRef,
    make_envelope,
)
from tests.conftest import Infra, unique
from tests.support.wait import NotYet
from tests.support.wait import eventually as _eventually

NOW = datetime.now(UTC)


def station() -> str:
    return unique("S")


def waybill() -> str:
    return unique("WB")


async def eventually(probe: Callable[[], Awaitable[Any]], timeout: float = 45.0) -> Any:
    """Poll until ``probe`` returns something truthy; returns it (tests.support.wait)."""
    return await _eventually(probe, timeout=timeout)


async def handled(db: asyncpg.Connection, *envelopes: Envelope, timeout: float = 45.0) -> None:
    """Wait until receipts has committed the handling of these events (their inbox rows): the
    positive marker after which what they must *not* have changed can be checked."""
    ids = [e.id for e in envelopes]

    async def all_in() -> bool:
        n = await db.fetchval("SELECT count(*) FROM receipts.inbox WHERE event_id = ANY($1::uuid[])", ids)
        return bool(n == len(ids))
    await _eventually(all_in, timeout=timeout, what=f"receipts handled {len(ids)} event(s)")


async def handled_so_far(tracking: Tracking, db: asyncpg.Connection) -> None:
    """Publish a marker event behind everything published so far and wait until receipts
    handled it. Receipts takes its queue in order (one consumer, groups in delivery order), so
    every earlier delivery, a redelivered copy included, has been handled by then."""
    marker = await tracking.send(Tracking.registered(waybill(), origin=station(), destination=station(),
                                                     required=False))
    await handled(db, marker)


BROKER_AWAY = (TimeoutError, aio_pika.exceptions.AMQPError, ConnectionError, OSError)


class Tracking:
    """Publishes tracking's events onto the real bus (reconnecting if the broker restarted)."""

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self.connection: aio_pika.abc.AbstractConnection | None = None
        self.exchange: aio_pika.abc.AbstractExchange | None = None

    async def _exchange(self) -> aio_pika.abc.AbstractExchange:
        if self.exchange is None or self.exchange.channel.is_closed:
            await self.close()
            self.connection = await aio_pika.connect(self.amqp_url, timeout=5)
            channel = await self.connection.channel(publisher_confirms=True)
            self.exchange = await channel.declare_exchange("lcs.events", aio_pika.ExchangeType.TOPIC, durable=True)
        return self.exchange

    async def close(self) -> None:
        connection, self.connection, self.exchange = self.connection, None, None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(Exception):
                await connection.close()

    async def send(self, event: Event, *, event_id: uuid.UUID | None = None) -> Envelope:
        envelope = make_envelope(event, "/lcs/tracking", event_id=event_id)
        await self.send_envelope(envelope)
        return envelope

    async def send_envelope(self, envelope: Envelope) -> None:
        # The broker is shared with other test sessions (some restart it on purpose):
        # publish with confirms, and on a lost connection reconnect and publish again.
        async def published() -> bool:
            try:
                exchange = await self._exchange()
                await exchange.publish(
                    aio_pika.Message(envelope.to_json(), message_id=str(envelope.id), type=envelope.type,
                                     content_type="application/cloudevents+json",
                                     delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=envelope.type, timeout=10,
                )
            except BROKER_AWAY:
                await self.close()
                raise
            return True
        await _eventually(published, timeout=60, retry_on=BROKER_AWAY, what=f"publish {envelope.type}")

    @staticmethod
    def registered(no: str, *, origin: str, destination: str, via: list[str] | None = None,
                   payment: str = "prepaid", required: bool = True, region: str = "East",
                   origin_region: str = "North", contact_phone: str = "13700000000",
                   at: datetime | None = None) -> ShipmentRegistered:
        return ShipmentRegistered(
            waybill_no=no, origin=origin, destination=destination, via=via or [],
            origin_station=StationRef(code=origin, name=f"{origin} station", region=origin_region),
            destination_station=StationRef(code=destination, name=f"{destination} station", region=region,
                                           contact_phone=contact_phone,
                                           contact_email=f"{destination.lower()}@example.com"),
            shipper=Shipper(customer_id="C100", name="无锡精工", phone="13800000000", email="ops@example.com"),
            consignee=Consignee(name="杨民敬", phone="13900000000"),
            cargo=Cargo(description="轴承", pieces=10),
            promised_at=(at or NOW) + timedelta(days=2), payment=payment,
            receipt=ReceiptRequirements(required=required, signature=True, stamp=False, id_number=True, copies=1),
            registered_at=at or NOW - timedelta(days=3),
        )

    @staticmethod
    def arrived(no: str, *, station: str, at: datetime, final: bool = True, pieces: int = 10) -> ShipmentArrived:
        return ShipmentArrived(waybill_no=no, station=station, arrived_at=at, pieces=pieces,
                               pieces_arrived=10 if final else pieces, pieces_total=10, final=final)

    @staticmethod
    def delivered(no: str, *, station: str, at: datetime) -> ShipmentDelivered:
        return ShipmentDelivered(waybill_no=no, delivered_at=at, signer_name="杨民敬", pieces=10, station=station)


@dataclass
class Api:
    """The receipts HTTP API, with tokens minted for the role (and branch) asked for."""

    client: httpx.AsyncClient
    infra: Infra

    def headers(self, role: str = "staff", branch: str | None = None) -> dict[str, str]:
        kw = {"branch": branch} if branch else {}
        return self.infra.headers(role, **kw)  # type: ignore[arg-type]

    async def get(self, no: str, *, role: str = "staff", branch: str | None = None,
                  as_of: datetime | None = None) -> httpx.Response:
        params = {"as_of": as_of.isoformat()} if as_of else None
        return await self.client.get(f"/v1/receipts/{no}", params=params, headers=self.headers(role, branch))

    async def act(self, no: str, action: str, body: dict[str, Any] | None = None, *, role: str = "staff",
                  branch: str | None = None) -> httpx.Response:
        return await self.client.post(f"/v1/receipts/{no}/{action}", json=body,
                                      headers=self.headers(role, branch))

    async def post(self, path: str, body: Any = None, *, role: str = "staff", branch: str | None = None,
                   params: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(path, json=body, params=params, headers=self.headers(role, branch))

    async def wait(self, no: str, predicate: Callable[[dict[str, Any]], bool] = lambda r: True,
                   timeout: float = 45.0) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            r = await self.get(no, role="admin")
            if r.status_code == 200 and predicate(r.json()):
                return r.json()
            return None
        result: dict[str, Any] = await eventually(probe, timeout)
        return result


@pytest.fixture(scope="session")
async def tracking(stack: Stack, infra: Infra) -> AsyncIterator[Tracking]:
    t = Tracking(infra.amqp_url)
    try:
        yield t
    finally:
        await t.close()


class RetryUnavailable(httpx.AsyncBaseTransport):
    """Retries 503 (database briefly unavailable) and refused connections for a while.

    PostgreSQL and RabbitMQ are shared with other test sessions, some of which restart
    them on purpose; the service answers 503 meanwhile (nothing committed), so asking again
    is what any client would do.
    """

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async def answered() -> httpx.Response | None:
            response = await self.inner.handle_async_request(request)
            if response.status_code != 503:
                return response
            await response.aclose()
            return None
        try:
            response: httpx.Response = await _eventually(answered, timeout=30, retry_on=(httpx.ConnectError,),
                                                         what=f"{request.method} {request.url.path} answered")
        except NotYet:  # still unavailable: let the caller see what it answers now
            return await self.inner.handle_async_request(request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def api(stack: Stack, infra: Infra) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=stack.url("receipts"), timeout=30, transport=RetryUnavailable()) as client:
        yield Api(client, infra)


@dataclass
class Flow:
    """Drives fresh receipts into any state: events for what tracking knows, HTTP for the rest."""

    tracking: Tracking
    api: Api

    async def signed(self, *, origin: str | None = None, destination: str | None = None, payment: str = "prepaid",
                     via: list[str] | None = None, arrived_at: datetime | None = None, region: str = "East",
                     delivered_at: datetime | None = None) -> tuple[str, dict[str, Any]]:
        no = waybill()
        origin, destination = origin or station(), destination or station()
        arrived_at = arrived_at or NOW - timedelta(hours=20)
        await self.tracking.send(Tracking.registered(no, origin=origin, destination=destination, via=via,
                                                     payment=payment, region=region,
                                                     at=arrived_at - timedelta(days=2)))
        await self.tracking.send(Tracking.arrived(no, station=destination, at=arrived_at))
        await self.tracking.send(Tracking.delivered(no, station=destination,
                                                    at=delivered_at or arrived_at + timedelta(hours=2)))
        # the delivery may be applied before the arrival (concurrent consumption): wait for both
        record = await self.api.wait(no, lambda r: r["status"] == "signed" and r["arrived_at"] is not None)
        return no, record

    async def awaiting(self, *, payment: str = "prepaid") -> tuple[str, dict[str, Any]]:
        no = waybill()
        origin, destination = station(), station()
        await self.tracking.send(Tracking.registered(no, origin=origin, destination=destination, payment=payment))
        return no, await self.api.wait(no)

    async def to(self, state: str, *, payment: str = "prepaid") -> tuple[str, dict[str, Any]]:
        """A receipt in ``state``."""
        if state == "awaiting_delivery":
            return await self.awaiting(payment=payment)
        if state == "cancelled":
            no, rec = await self.awaiting(payment="cod")
            r = await self.api.act(no, "cancel", {})
            assert r.status_code == 200, r.text
            return no, r.json()
        no, rec = await self.signed(payment=payment)
        if state == "signed":
            return no, rec
        if state == "abnormal":
            return no, await self.inspect(no, "abnormal")
        await self.inspect(no, "qualified")
        if state == "qualified":
            return no, (await self.api.get(no)).json()
        envelope = await self.mail([no], rec["destination"], rec["origin"])
        if state == "mailed":
            return no, (await self.api.get(no)).json()
        present = [] if state == "lost" else [no]
        r = await self.api.post(f"/v1/envelopes/{envelope['id']}/arrival",
                                {"received_at": NOW.isoformat(), "waybills_present": present})
        assert r.status_code == 200, r.text
        if state in ("received", "lost"):
            return no, (await self.api.get(no)).json()
        if state == "handed_over":
            r = await self.api.act(no, "handover", {"to": "sales", "recipient": "李销售", "at": NOW.isoformat()})
        elif state == "written_off":
            r = await self.api.act(no, "write-off", {"at": NOW.isoformat(), "collector": "王先生"})
        else:
            raise AssertionError(state)
        assert r.status_code == 200, r.text
        return no, r.json()

    async def inspect(self, no: str, result: str, *, at: datetime | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"result": result, "by": "质检员",
                                "anomalies": ["stamp_missing"] if result == "abnormal" else []}
        if at is not None:
            body["at"] = at.isoformat()
        r = await self.api.act(no, "inspection", body)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def mail(self, waybills: list[str], from_station: str, to_station: str,
                   sent_at: datetime | None = None) -> dict[str, Any]:
        r = await self.api.post("/v1/envelopes", {
            "from_station": from_station, "to_station": to_station, "waybills": waybills,
            "sent_at": (sent_at or NOW - timedelta(hours=1)).isoformat(), "courier_no": "SF" + unique()})
        assert r.status_code == 201, r.text
        return dict(r.json())


@pytest.fixture
def flow(tracking: Tracking, api: Api) -> Flow:
    return Flow(tracking, api)


async def outbox_events(db: asyncpg.Connection, type_: str, no: str) -> list[dict[str, Any]]:
    """Events the receipts service wrote for a waybill (its outbox, relay or not)."""
    import orjson

    rows = await db.fetch(
        "SELECT body FROM receipts.outbox WHERE type = $1 AND (body::jsonb -> 'data' ->> 'waybill_no') = $2 "
        "ORDER BY seq", type_, no)
    return [orjson.loads(r["body"]) for r in rows]
