"""Registrations handled as a group (`shipments.service.on_registered_many`, the consumer's group
handler) leave the notifier schema exactly as `on_registered` of each in turn: the shipments, and
the events parked until their registration, replayed in delivery order — which decides who is
throttled, as the recipients are shared across waybills — as well as a waybill registered twice
in the group and registrations older or newer than the stored one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg

from services.notifier.context import NotifierRuntime
from services.notifier.main import build_context
from services.notifier.notifications.service import on_event
from services.notifier.settings import NotifierSettings
from services.notifier.shipments.service import on_registered, on_registered_many
from shared.context import Runtime
from shared.events import Event, ShipmentDelayed, ShipmentDeparted
from tests.conftest import Infra
from tests.integration.group_support import T0, enveloped, in_transaction, registered, same_tables, twin_schemas

# The parked events are stamped a little ahead of the wall clock, so their decision time is
# their own (see `domain.decisions.decision_time`), the same in both schemas.
SOON = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
SETTINGS = NotifierSettings(env="dev", throttle_per_hour=2, supervisor_email="supervisor@desk.example.com")
TABLES = {
    "shipments": ("waybill_no", ("updated_at",)),
    "parked_events": ("event_id", ("parked_at",)),
    # which message goes out now, which later, and which is throttled is the point; the
    # wall-clock bookkeeping (created, next attempt of a queued message) is not
    "notifications": ("idempotency_key", ("id", "created_at", "updated_at", "next_attempt_at")),
    "outbox": ("seq", ("seq", "id", "body", "created_at")),
}


@asynccontextmanager
async def services(infra: Infra) -> AsyncIterator[tuple[NotifierRuntime, NotifierRuntime]]:
    async with twin_schemas(infra, "notifier") as (one, grp):
        runtimes: list[NotifierRuntime] = []
        for pool in (one, grp):
            rt: NotifierRuntime = Runtime(service="notifier", settings=SETTINGS, pool=pool)
            rt.context = await build_context(rt)
            runtimes.append(rt)
        try:
            yield runtimes[0], runtimes[1]
        finally:
            for rt in runtimes:
                await rt.context.http.aclose()


def delayed(no: str, minutes: int) -> ShipmentDelayed:
    return ShipmentDelayed(waybill_no=no, eta=T0 + timedelta(days=3), promised_at=T0 + timedelta(days=2),
                           delay_minutes=minutes, reason="slow_progress")


def departed(no: str) -> ShipmentDeparted:
    return ShipmentDeparted(waybill_no=no, station="BSH", at=T0 + timedelta(hours=2), eta=T0 + timedelta(days=1))


PARKED: list[Event] = [delayed("PARKED-1", 60), departed("PARKED-2"), delayed("PARKED-2", 90),
                       delayed("TWICE", 30), delayed("PARKED-3", 45)]
PARKED_ENVELOPED = [enveloped([e], time=SOON + timedelta(minutes=i))[0] for i, e in enumerate(PARKED)]


async def before(rt: NotifierRuntime, conn: asyncpg.Connection) -> None:
    """Events that came before their registration (parked), and shipments registered earlier."""
    for event, envelope in PARKED_ENVELOPED:
        await on_event(conn, rt=rt, event=event, envelope=envelope)
    for event, _ in enveloped([registered("STORED-NEWER", registered_at=T0 + timedelta(days=5)),
                               registered("STORED-OLDER", registered_at=T0 - timedelta(days=5))]):
        await on_registered(conn, rt=rt, event=event)


GROUP = enveloped([
    registered("N1"),
    registered("PARKED-1", consignee_name="甲"),
    registered("N2"),
    registered("PARKED-2", consignee_name="乙"),
    registered("TWICE", consignee_phone="13900000001"),
    registered("STORED-NEWER", consignee_name="旧的"),  # older than the stored one: ignored
    registered("TWICE", consignee_phone="13900000002", registered_at=T0 + timedelta(hours=1)),
    registered("STORED-OLDER", consignee_name="新的"),
    registered("PARKED-3"),
    registered("N3", customer_id=None),
])


async def test_a_group_of_registrations_gives_the_same_shipments_and_replays_as_one_by_one(infra: Infra) -> None:
    async with services(infra) as (one, grp):
        for rt in (one, grp):
            await in_transaction(rt.pool, lambda conn, rt=rt: before(rt, conn))
        assert await one.pool.fetchval("SELECT count(*) FROM parked_events") == len(PARKED)

        async def one_by_one(conn: asyncpg.Connection) -> None:
            for event, _ in GROUP:
                await on_registered(conn, rt=one, event=event)

        await in_transaction(one.pool, one_by_one)
        await in_transaction(grp.pool, lambda conn: on_registered_many(conn, rt=grp, events=[e for e, _ in GROUP]))
        found = await same_tables(one.pool, grp.pool, TABLES)

    assert found["parked_events"] == []
    shipments = {s["waybill_no"]: s for s in found["shipments"]}
    assert shipments["STORED-NEWER"]["consignee"]["name"] == "杨民敬"
    assert shipments["STORED-OLDER"]["consignee"]["name"] == "新的"
    assert shipments["TWICE"]["consignee"]["phone"] == "13900000002"
    notes = found["notifications"]
    # a throttle summary names no waybill of its own (its held messages do)
    assert {n["waybill_no"] for n in notes if n["template"] != "summary"} == {"PARKED-1", "PARKED-2", "TWICE",
                                                                               "PARKED-3"}
    assert "queued" in {n["status"] for n in notes}
    # the throttle did bite (it holds messages for a summary; quiet hours depend on the hour it runs)
    assert any(n["status"] == "deferred" and n["reason"] == "rolled_up" and n["rolled_into"] for n in notes)
    assert not any(n["status"] == "suppressed" for n in notes)


async def test_the_usual_group_takes_three_statements(infra: Infra) -> None:
    """New waybills, nothing parked: lock them, store them, look for parked events."""
    events = enveloped([registered(f"MANY-{i}") for i in range(50)])
    async with services(infra) as (_, grp), grp.pool.acquire() as conn:
        async with conn.transaction():
            statements: list[str] = []
            conn.add_query_logger(lambda q: statements.append(q.query))
            await on_registered_many(conn, rt=grp, events=[e for e, _ in events])
        ours = [q for q in statements if "pg_advisory_xact_lock" in q or "shipments" in q or "parked" in q]
        assert len(ours) == 3
        assert await conn.fetchval("SELECT count(*) FROM shipments") == 50
