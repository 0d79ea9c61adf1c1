"""Registrations handled as a group (`record_registrations`, the consumer's group handler) leave
the receipts schema exactly as `record_registration` of each in turn, in the usual case and in
every case that goes through the one-event path: a waybill registered twice in the group,
facts (arrival, delivery) that came before the registration, a repeated registration, a
registration without a receipt."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from services.receipts.receipts import handlers
from services.receipts.settings import ReceiptsSettings
from shared.events import ShipmentArrived, ShipmentDelivered, ShipmentRegistered
from tests.conftest import Infra
from tests.integration.group_support import T0, in_transaction, registered, same_tables, twin_schemas

DEADLINES = ReceiptsSettings(env="dev").deadlines()
TABLES = {
    "shipment_facts": ("waybill_no", ("updated_at",)),
    "receipts": ("waybill_no", ("created_at", "updated_at")),
    "custody": ("id", ("id", "recorded_at")),
    "outbox": ("seq", ("seq", "id", "body", "created_at")),
}


async def before(conn: asyncpg.Connection) -> None:
    """What both schemas hold before the group: facts that came first, an earlier registration."""
    await handlers.record_arrival(conn, event=ShipmentArrived(
        waybill_no="ARRIVED-FIRST", station="BWX", arrived_at=T0 + timedelta(days=1), pieces=10, pieces_arrived=10,
        pieces_total=10, final=True), deadlines=DEADLINES)
    await handlers.record_delivery(conn, event=ShipmentDelivered(
        waybill_no="DELIVERED-FIRST", delivered_at=T0 + timedelta(days=2), signer_name="杨民敬", pieces=10,
        company_stamp=True, station="BWX"), deadlines=DEADLINES)
    await handlers.record_arrival(conn, event=ShipmentArrived(
        waybill_no="BOTH-FIRST", station="BWX", arrived_at=T0 + timedelta(days=1), pieces=10, pieces_arrived=10,
        pieces_total=10, final=True), deadlines=DEADLINES)
    await handlers.record_delivery(conn, event=ShipmentDelivered(
        waybill_no="BOTH-FIRST", delivered_at=T0 + timedelta(days=1, hours=3), signer_name="杨民敬", pieces=10,
        delegated=True), deadlines=DEADLINES)
    await handlers.record_registration(conn, event=registered("KNOWN", payment="cod"), deadlines=DEADLINES)
    await handlers.record_registration(conn, event=registered("FACTS-NO-RECEIPT", required=False), deadlines=DEADLINES)


GROUP = [
    registered("PLAIN-1"),
    registered("ARRIVED-FIRST", via=("BNJ", "BHZ")),
    registered("PLAIN-2", payment="monthly", via=(), copies=0),
    registered("TWICE", required=False),
    registered("DELIVERED-FIRST", payment="cod"),
    registered("KNOWN", payment="monthly"),  # repeated: the first registration stands
    registered("TWICE", required=True, registered_at=T0 + timedelta(hours=1)),
    registered("FACTS-NO-RECEIPT", required=True),  # the first registration said no receipt
    registered("NO-RECEIPT", required=False),
    registered("BOTH-FIRST"),
    registered("TWICE-TOO", payment="cod"),
    registered("TWICE-TOO", payment="monthly", via=()),
    registered("PLAIN-3"),
]


async def test_a_group_of_registrations_gives_the_same_receipts_as_one_by_one(infra: Infra) -> None:
    async with twin_schemas(infra, "receipts") as (one, grp):
        for pool in (one, grp):
            await in_transaction(pool, before)

        async def one_by_one(conn: asyncpg.Connection) -> None:
            for event in GROUP:
                await handlers.record_registration(conn, event=event, deadlines=DEADLINES)

        async def as_group(conn: asyncpg.Connection) -> None:
            await handlers.record_registrations(conn, events=GROUP, deadlines=DEADLINES)

        await in_transaction(one, one_by_one)
        await in_transaction(grp, as_group)
        found = await same_tables(one, grp, TABLES)

    receipts = {r["waybill_no"]: r for r in found["receipts"]}
    # the cases did happen (so the comparison above covered them)
    assert {"PLAIN-1", "PLAIN-2", "PLAIN-3", "ARRIVED-FIRST", "DELIVERED-FIRST", "BOTH-FIRST", "KNOWN",
            "TWICE-TOO"} == set(receipts)
    arrived_first = receipts["ARRIVED-FIRST"]
    assert arrived_first["due_at"] is not None and arrived_first["status"] == "awaiting_delivery"
    assert receipts["DELIVERED-FIRST"]["status"] == "signed" and receipts["BOTH-FIRST"]["status"] == "signed"
    assert receipts["KNOWN"]["payment"] == "cod" and receipts["TWICE-TOO"]["payment"] == "cod"
    assert receipts["PLAIN-2"]["req_copies"] == 1
    assert [c["waybill_no"] for c in found["custody"]] == ["DELIVERED-FIRST", "BOTH-FIRST"]


async def test_an_unknown_payment_type_fails_the_group_as_it_fails_the_event(infra: Infra) -> None:
    """The consumer then handles the group one by one: only that event is retried."""
    bad = registered("BAD-PAYMENT", payment="barter")
    async with twin_schemas(infra, "receipts") as (one, grp):
        with pytest.raises(ValueError, match="barter"):
            await in_transaction(one, lambda conn: handlers.record_registration(conn, event=bad, deadlines=DEADLINES))
        with pytest.raises(ValueError, match="barter"):
            await in_transaction(grp, lambda conn: handlers.record_registrations(
                conn, events=[registered("FINE"), bad], deadlines=DEADLINES))


async def test_the_group_path_takes_a_constant_number_of_statements(infra: Infra) -> None:
    """The point of it: two statements for the registrations of distinct new waybills, however many."""
    events: list[ShipmentRegistered] = [registered(f"MANY-{i}") for i in range(50)]
    async with twin_schemas(infra, "receipts") as (_, grp):
        async with grp.acquire() as conn, conn.transaction():
            statements: list[str] = []
            conn.add_query_logger(lambda q: statements.append(q.query))
            await handlers.record_registrations(conn, events=events, deadlines=DEADLINES)
        ours = [q for q in statements if "INTO shipment_facts" in q or "receipts" in q]  # not asyncpg's own
        assert len(ours) == 2
        assert await grp.fetchval("SELECT count(*) FROM receipts") == 50
