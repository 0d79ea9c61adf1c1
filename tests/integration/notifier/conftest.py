"""Helpers for the notifier's integration tests: publish real CloudEvents onto `lcs.events`,
talk to the notifier and the sinks, read the notifier's tables."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

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
    ShipmentDelayed,
    ShipmentRegistered,
    Shipper,
    make_envelope,
)
from tests.conftest import Infra, run_sync, unique
from tests.support.wait import eventually_sync

T = TypeVar("T")


def wait_until(fetch: Callable[[], T], predicate: Callable[[T], bool], timeout: float = 20.0) -> T:
    """The first value of `fetch()` that satisfies `predicate` (tests.support.wait)."""
    last: list[T] = []

    def probe() -> bool:
        last[:] = [fetch()]
        return predicate(last[0])
    eventually_sync(probe, timeout=timeout, what=f"{getattr(predicate, '__qualname__', predicate)}")
    return last[0]


def phone() -> str:
    return "139" + "".join(random.choice("0123456789") for _ in range(8))


def email(prefix: str = "c") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}@example.com"


@dataclass
class Party:
    customer_id: str
    name: str
    phone: str | None
    email: str | None


class Kit:
    """The test's view of the running notifier, its sinks, its broker and its database."""

    def __init__(self, stack: Stack, infra: Infra) -> None:
        self.stack = stack
        self.infra = infra
        self.api = httpx.Client(base_url=stack.url("notifier"), timeout=30)
        self.sinks = httpx.Client(base_url=stack.url("sinks"), timeout=10)
        self.admin = infra.headers("admin")

    # --- broker ---------------------------------------------------------------------------

    def publish(self, *envelopes: Envelope) -> None:
        async def go() -> None:
            connection = await aio_pika.connect(self.infra.amqp_url)
            async with connection:
                channel = await connection.channel(publisher_confirms=True)
                exchange = await channel.declare_exchange("lcs.events", aio_pika.ExchangeType.TOPIC, durable=True)
                for env in envelopes:
                    await exchange.publish(
                        aio_pika.Message(env.to_json(), message_id=str(env.id), type=env.type,
                                         content_type="application/cloudevents+json",
                                         delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=env.type)

        run_sync(go())

    def envelope(self, event: Event, *, at: datetime | None = None, source: str = "/lcs/tracking") -> Envelope:
        return make_envelope(event, source, time=at)

    # --- database -------------------------------------------------------------------------

    def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async def go() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(self.infra.database_url)
            try:
                return list(await conn.fetch(query, *args))
            finally:
                await conn.close()

        return run_sync(go())

    # --- notifier -------------------------------------------------------------------------

    def notifications(self, **params: str) -> list[dict[str, Any]]:
        r = self.api.get("/v1/notifications", params={"limit": "500", **params}, headers=self.admin)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    def wait_notifications(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 20.0,
                           **params: str) -> list[dict[str, Any]]:
        return wait_until(lambda: self.notifications(**params), predicate, timeout)

    def handled_so_far(self) -> None:
        """Publish a marker event behind everything published so far and wait until the
        notifier handled it (its inbox row). The notifier takes its queue in order (one
        consumer, groups in delivery order), so every earlier delivery, a redelivered copy
        included, has been handled by then."""
        marker = self.envelope(self.registered(unique("WB"), self.party()))
        self.publish(marker)
        wait_until(lambda: self.sql("SELECT 1 FROM notifier.inbox WHERE event_id = $1", marker.id), bool)

    def dispatch(self, now: datetime, waybill_no: str) -> int:
        r = self.api.post("/v1/admin/dispatch", params={"now": now.isoformat(), "waybill_no": waybill_no},
                          headers=self.admin)
        assert r.status_code == 200, r.text
        processed: int = r.json()["processed"]
        return processed

    def later_passes(self, waybill_no: str, read: Callable[[], T]) -> Callable[[], T]:
        """Each call: one dispatch pass an hour later than the previous one, then `read()`. The
        back-off is seconds long; a pass "as of" later times replays it now."""
        clock = {"at": datetime.now(UTC)}

        def step() -> T:
            clock["at"] += timedelta(hours=1)
            self.dispatch(clock["at"], waybill_no)
            return read()

        return step

    # --- sinks ----------------------------------------------------------------------------

    def control(self, **modes: str) -> None:
        r = self.sinks.put("/control", json=modes)
        assert r.status_code == 200, r.text

    def sms_to(self, number: str, which: str = "/sms") -> list[dict[str, Any]]:
        return [m for m in self.sinks.get(which).json() if m["to"] == number]

    def emails_to(self, address: str) -> list[dict[str, Any]]:
        return [e for e in self.sinks.get("/emails").json() if address in e["to"]]

    def group_messages(self, key: str) -> list[dict[str, Any]]:
        """What the WeChat Work group robot stand-in received for the robot `key`."""
        return [m for m in self.sinks.get("/wecom").json() if m["key"] == key]

    def webhook(self, key: str) -> str:
        """A group robot's webhook as its settings show it, on the stand-in (LCS_WECOM_BASE_URL)."""
        return f"{self.stack.url('sinks')}/wecom/cgi-bin/webhook/send?key={key}"

    # --- events ---------------------------------------------------------------------------

    def party(self, *, with_phone: bool = True, with_email: bool = True) -> Party:
        return Party(customer_id=unique("C"), name="无锡精工", phone=phone() if with_phone else None,
                     email=email() if with_email else None)

    def registered(self, waybill: str, shipper: Party, consignee: Party | None = None, *,
                   origin: str = "SH01", destination: str = "WX02", via: list[str] | None = None,
                   promised_at: datetime | None = None) -> ShipmentRegistered:
        consignee = consignee or Party(customer_id="", name="杨民敬", phone=phone(), email=None)
        return ShipmentRegistered(
            waybill_no=waybill, origin=origin, destination=destination, via=via or [],
            shipper=Shipper(customer_id=shipper.customer_id, name=shipper.name, phone=shipper.phone,
                            email=shipper.email),
            consignee=Consignee(name=consignee.name, phone=consignee.phone, email=consignee.email),
            cargo=Cargo(description="轴承", pieces=10, weight_kg=120.5, volume_m3=1.2),
            promised_at=promised_at or datetime.now(UTC) + timedelta(hours=3), payment="prepaid",
            receipt=ReceiptRequirements(required=True), registered_at=datetime.now(UTC))

    def delayed(self, waybill: str, *, minutes: int = 90, reason: str = "traffic_jam") -> ShipmentDelayed:
        now = datetime.now(UTC)
        return ShipmentDelayed(waybill_no=waybill, eta=now + timedelta(hours=3, minutes=minutes),
                               promised_at=now + timedelta(hours=3), delay_minutes=minutes, reason=reason)


@pytest.fixture
def kit(stack: Stack, infra: Infra) -> Iterator[Kit]:
    k = Kit(stack, infra)
    try:
        yield k
    finally:
        k.control(sms="ok", fallback="ok", smtp="ok", wecom="ok")
        k.api.close()
        k.sinks.close()
