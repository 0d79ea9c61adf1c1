"""Registrations handled as a group (`apply_registrations`, the consumer's group handler) leave
the complaints schema exactly as `apply_tracking_event` of each in turn: the shipment read model,
the customer files (first sight, gaps filled, first_seen moved back) and proactive care, whose
cases go through the one-event path — a key customer's shipment that was delayed before its
registration arrived gets its care ticket — as does a waybill registered twice in the group."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from services.complaints.context import ComplaintsContext, ComplaintsRuntime
from services.complaints.customers.repository import upsert_customer
from services.complaints.domain.shipments import ShipmentView, apply
from services.complaints.settings import ComplaintsSettings
from services.complaints.shipments import repository
from services.complaints.shipments.handlers import apply_registrations, apply_tracking_event
from shared.context import Runtime
from shared.events import ShipmentDelayed, ShipmentDeparted
from tests.conftest import Infra
from tests.integration.group_support import T0, enveloped, in_transaction, registered, same_tables, twin_schemas

SETTINGS = ComplaintsSettings(env="dev")
# The handlers read only the settings and the context (each runs on the connection it is given).
RT: ComplaintsRuntime = Runtime(service="complaints", settings=SETTINGS, pool=None,  # type: ignore[arg-type]
                                context=ComplaintsContext.of(SETTINGS))
TABLES = {
    "shipments": ("waybill_no", ("updated_at",)),
    "customers": ("customer_id", ("updated_at",)),
    # a care ticket's id and times come from the clock when it is opened
    "complaints": ("waybill_no", ("id", "opened_at", "last_action_at", "first_response_due", "resolution_due",
                                  "created_at", "updated_at")),
    "complaint_history": ("seq", ("seq", "complaint_id", "at", "details", "recorded_at")),
    "outbox": ("seq", ("seq", "id", "body", "created_at")),
}


def delayed(no: str) -> ShipmentDelayed:
    return ShipmentDelayed(waybill_no=no, eta=T0 + timedelta(days=3), promised_at=T0 + timedelta(days=2),
                           delay_minutes=90, reason="slow_progress", detected_at=T0 + timedelta(hours=20))


async def before(conn: asyncpg.Connection) -> None:
    """Customers on file, and tracking events that came before their registrations."""
    await upsert_customer(conn, "KEY", {"key_flag": True, "name": "重点客户", "phone": "13700000000"},
                               at=T0 - timedelta(days=30), actor="test")
    await upsert_customer(conn, "C-EXIST", {"name": "老客户", "email": "old@example.com"},
                               at=T0 + timedelta(days=10), actor="test")
    for event in (delayed("DELAYED-KEY"), delayed("DELAYED-PLAIN"),
                  ShipmentDeparted(waybill_no="DEPARTED", station="BSH", at=T0 + timedelta(hours=2),
                                   eta=T0 + timedelta(days=1), vehicle_id="V-1")):
        [(e, env)] = enveloped([event])
        await apply_tracking_event(conn, RT, e, env)


GROUP = enveloped([
    registered("N1", customer_id="C-NEW", shipper_name=None, shipper_email=None, shipper_phone="13811111111"),
    registered("N2", customer_id="C-NEW", shipper_name="新客户", shipper_phone="13822222222",
               registered_at=T0 - timedelta(days=1)),
    registered("N2B", customer_id="C-NEW", shipper_name="别名", registered_at=T0 + timedelta(hours=2)),
    registered("DELAYED-KEY", customer_id="KEY", shipper_name=None),
    registered("N3", customer_id="C-EXIST", shipper_phone="13833333333", shipper_email="new@example.com"),
    registered("TWICE", customer_id="C-A"),
    registered("DEPARTED", customer_id="C-NEW"),
    registered("TWICE", customer_id="C-B", registered_at=T0 + timedelta(hours=1)),
    registered("DELAYED-PLAIN", customer_id="C-PLAIN"),
    registered("N4", customer_id=None),
    registered("N5", customer_id="C-NEW", shipper_email="late@example.com"),
])


async def test_a_group_of_registrations_gives_the_same_read_model_customers_and_care_as_one_by_one(
        infra: Infra) -> None:
    async with twin_schemas(infra, "complaints") as (one, grp):
        for pool in (one, grp):
            await in_transaction(pool, before)

        async def one_by_one(conn: asyncpg.Connection) -> None:
            for event, envelope in GROUP:
                await apply_tracking_event(conn, RT, event, envelope)

        async def as_group(conn: asyncpg.Connection) -> None:
            await apply_registrations(conn, RT, GROUP)

        await in_transaction(one, one_by_one)
        await in_transaction(grp, as_group)
        found = await same_tables(one, grp, TABLES)

    customers = {c["customer_id"]: c for c in found["customers"]}
    assert (customers["C-NEW"]["name"], customers["C-NEW"]["phone"], customers["C-NEW"]["email"]) == (
        "新客户", "13811111111", "ops@example.com")  # N1 had none; N2 filled it, N5 came too late
    assert customers["C-NEW"]["first_seen_at"] == T0 - timedelta(days=1)
    assert (customers["C-EXIST"]["name"], customers["C-EXIST"]["phone"], customers["C-EXIST"]["email"]) == (
        "老客户", "13833333333", "old@example.com")
    assert customers["C-EXIST"]["first_seen_at"] == T0
    [ticket] = found["complaints"]  # the key customer's delayed shipment; not the plain customer's
    assert (ticket["waybill_no"], ticket["customer_id"], ticket["proactive"]) == ("DELAYED-KEY", "KEY", True)
    shipments = {s["waybill_no"]: s for s in found["shipments"]}
    assert shipments["TWICE"]["customer_id"] == "C-B"
    assert shipments["DEPARTED"]["status"] == "in_transit" and shipments["DEPARTED"]["customer_id"] == "C-NEW"
    assert [e["type"] for e in found["outbox"]] == ["complaints.complaint.opened.v1"]


async def test_the_usual_group_takes_three_statements_and_writes_each_row_once(infra: Infra) -> None:
    """New waybills, no delay known: lock what is stored (nothing), insert the views whole, record
    the customers. Each new row is written once: no empty row that an update then replaces."""
    events = enveloped([registered(f"MANY-{i}", customer_id=f"C-{i % 3}") for i in range(50)])
    async with twin_schemas(infra, "complaints") as (_, grp):
        async with grp.acquire() as conn, conn.transaction():
            statements: list[str] = []
            conn.add_query_logger(lambda q: statements.append(q.query))
            await apply_registrations(conn, RT, events)
            versions = await conn.fetchval("SELECT n_tup_ins + n_tup_upd FROM pg_stat_xact_user_tables "
                                           "WHERE relid = 'shipments'::regclass")
        ours = [q for q in statements  # not asyncpg's own, nor the count just above
                if ("shipments" in q or "customers" in q) and "pg_stat" not in q]
        # the lookup of what is stored is a statement prepared for the call, which the query logger
        # does not see; the two it sees are the inserts
        assert [q.split(" (")[0] for q in ours] == ["INSERT INTO shipments", "INSERT INTO customers"]
        assert versions == 50
        assert await grp.fetchval("SELECT count(*) FROM shipments WHERE customer_id IS NOT NULL") == 50
        assert await grp.fetchval("SELECT count(*) FROM customers") == 3


async def test_a_view_stored_meanwhile_rolls_the_group_back_and_one_by_one_applies_it(infra: Infra) -> None:
    """Another transaction stores a waybill after the group found it absent (a second replica
    handling a redelivered registration): the insert must not skip it silently. It raises, the
    consumer rolls the group back, and the one-event path merges the event into the stored view."""
    [(event, envelope)] = enveloped([registered("RACED", customer_id="C-R")])
    async with twin_schemas(infra, "complaints") as (_, grp):
        async with grp.acquire() as conn, grp.acquire() as other:
            async with conn.transaction():
                assert await repository.lock_stored_shipments(conn, ["RACED"]) == {}
                async with other.transaction():  # stored meanwhile, e.g. by a departure seen first
                    departed = ShipmentDeparted(waybill_no="RACED", station="BSH", at=T0 + timedelta(hours=2),
                                                eta=T0 + timedelta(days=1), vehicle_id="V-1")
                    [(d, denv)] = enveloped([departed])
                    await apply_tracking_event(other, RT, d, denv)
                view = apply(ShipmentView(waybill_no="RACED"), event, envelope.time)
                with pytest.raises(repository.ShipmentStoredMeanwhile, match="RACED"):
                    await repository.insert_shipments(conn, [view])
                # the group raised: the consumer rolls it back and applies each event on its own
            async with conn.transaction():
                await apply_tracking_event(conn, RT, event, envelope)
        row = await grp.fetchrow("SELECT status, customer_id FROM shipments WHERE waybill_no = 'RACED'")
        assert (row["status"], row["customer_id"]) == ("in_transit", "C-R")
