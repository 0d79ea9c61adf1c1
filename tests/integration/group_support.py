"""Support of the group-handler equivalence tests.

A service's set-based group handler must leave the database exactly as its one-event handler
applied to each event in turn. The tests build the same starting state in two fresh schemas
of the service, feed the same run of events to each (event by event into one, as one group
into the other, each in one transaction as the consumer would) and compare the tables,
leaving out only what the clock or a random id decides.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from shared.db import create_pool, migrate, migrations_for
from shared.events import (
    Cargo,
    Consignee,
    Envelope,
    Event,
    ReceiptRequirements,
    ShipmentRegistered,
    Shipper,
    StationRef,
    make_envelope,
)
from tests.conftest import Infra

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
SERVICES = Path(__file__).resolve().parents[2] / "services"

Apply = Callable[[asyncpg.Connection], Awaitable[None]]


@asynccontextmanager
async def twin_schemas(infra: Infra, service: str) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:
    """Two fresh, migrated schemas of `service` (pools pinned to each)."""
    pools = []
    try:
        for side in ("one", "grp"):
            schema = f"{service}_{side}_{uuid.uuid4().hex[:8]}"
            await migrate(infra.database_url, schema, migrations_for(SERVICES / service))
            pools.append(await create_pool(infra.database_url, schema, min_size=1, max_size=2))
        yield pools[0], pools[1]
    finally:
        for pool in pools:
            await pool.close()


async def in_transaction(pool: asyncpg.Pool, apply: Apply) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await apply(conn)


async def table(pool: asyncpg.Pool, name: str, order_by: str, *, leave_out: Sequence[str] = ()) -> list[dict[str, Any]]:
    rows = await pool.fetch(f"SELECT * FROM {name} ORDER BY {order_by}")  # noqa: S608 - test constants
    return [{k: v for k, v in dict(r).items() if k not in leave_out} for r in rows]


async def same_tables(one: asyncpg.Pool, grp: asyncpg.Pool,
                      tables: dict[str, tuple[str, Sequence[str]]]) -> dict[str, list[dict[str, Any]]]:
    """Assert each table `name: (order_by, columns left out)` is the same in both schemas; the
    rows of the event-by-event schema, for further checks."""
    found = {}
    for name, (order_by, leave_out) in tables.items():
        a = await table(one, name, order_by, leave_out=leave_out)
        b = await table(grp, name, order_by, leave_out=leave_out)
        assert a == b, (f"{name} differs: only one by one {[r for r in a if r not in b]}; "
                        f"only as a group {[r for r in b if r not in a]}")[:4000]
        found[name] = a
    return found


def registered(waybill_no: str, *, customer_id: str | None = "C-1", shipper_name: str | None = "无锡精工",
               shipper_phone: str | None = "13800000000", shipper_email: str | None = "ops@example.com",
               consignee_name: str = "杨民敬", consignee_phone: str | None = "13900000000",
               registered_at: datetime = T0, required: bool = True, copies: int = 1, payment: str = "prepaid",
               via: Sequence[str] = ("BNJ",), pieces: int = 10) -> ShipmentRegistered:
    refs = {code: StationRef(code=code, name=f"{code}站", city=code, region="华东", contact_phone="02100000000",
                             contact_email=f"{code.lower()}@station.example.com") for code in ("BSH", "BWX")}
    return ShipmentRegistered(
        waybill_no=waybill_no, origin="BSH", destination="BWX", via=list(via), origin_station=refs["BSH"],
        destination_station=refs["BWX"],
        shipper=Shipper(customer_id=customer_id, name=shipper_name, phone=shipper_phone, email=shipper_email),
        consignee=Consignee(name=consignee_name, phone=consignee_phone),
        cargo=Cargo(description="轴承", pieces=pieces, weight_kg=120.5),
        promised_at=registered_at + timedelta(days=2), payment=payment,
        receipt=ReceiptRequirements(required=required, signature=True, id_number=True, copies=copies),
        registered_at=registered_at)


def enveloped(events: Sequence[Event], *, time: datetime | None = None) -> list[tuple[Any, Envelope]]:
    """The events with their envelopes, as the consumer hands them to handlers."""
    return [(e, make_envelope(e, "/lcs/tracking", time=time)) for e in events]
