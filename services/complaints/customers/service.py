"""Use cases of customer files (客户档案) and return visits (回访), and the key-customer rule
as the tickets and proactive care apply it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.complaints.context import ComplaintsRuntime
from services.complaints.customers import repository
from services.complaints.domain.care import CustomerFile, VisitDue, csat_average, is_key_customer, visits_due
from services.complaints.domain.hours import Month, parse_month
from services.complaints.domain.vocabulary import parse_language
from shared.auth import Principal
from shared.clock import utcnow
from shared.context import uow
from shared.errors import NotFound

Row = repository.Row


async def is_key(conn: asyncpg.Connection, rt: ComplaintsRuntime, customer: Mapping[str, Any] | None, *,
                 at: datetime) -> bool:
    """Whether the customer on file is a key customer at `at`: flagged, or shipping at least the
    configured volume in the month before."""
    if customer is None:
        return False
    if customer["key_flag"]:
        return True
    rules = rt.context.care
    if rules.key_min_monthly_shipments is None:
        return False
    tz = rt.settings.desk_tz
    previous = Month.of(at, tz).previous()
    counts = await repository.shipments_between(conn, [customer["customer_id"]], previous.starts_at(tz),
                                                previous.ends_at(tz))
    return is_key_customer(flagged=False, shipments_last_month=counts.get(customer["customer_id"], 0), rules=rules)


async def customer_file(rt: ComplaintsRuntime, *, customer_id: str) -> dict[str, Any]:
    """The file: contacts, shipments seen, complaints, CSAT, key flag, last return visit (one snapshot)."""
    async with rt.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        customer = await repository.get_customer(conn, customer_id)
        if customer is None:
            raise NotFound.of("customer", customer_id)
        shipments_count, shipments = await repository.customer_shipments(conn, customer_id, 20)
        stats, complaints = await repository.customer_complaints(conn, customer_id, 20)
        distribution = await repository.customer_csat(conn, customer_id)
        visit = await repository.last_visit(conn, customer_id)
        return {
            **{k: customer[k] for k in ("customer_id", "name", "key_flag", "phone", "email", "language",
                                        "contacts", "first_seen_at")},
            "key_customer": await is_key(conn, rt, customer, at=utcnow()),
            "shipments_count": shipments_count, "shipments": shipments,
            "complaints_count": stats["total"], "open_complaints": stats["open"], "complaints": complaints,
            "csat": {"average": csat_average(distribution), "count": sum(distribution.values()),
                     "distribution": {str(s): distribution.get(s, 0) for s in range(1, 6)}},
            "calls_count": await repository.count_calls(conn, customer_id),
            "last_visit": visit,
        }


async def update_customer(rt: ComplaintsRuntime, *, principal: Principal, customer_id: str,
                          fields: Mapping[str, Any]) -> dict[str, Any]:
    """Create or update the file; only the fields given change (`key_customer` sets the key flag)."""
    columns: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "key_customer":
            columns["key_flag"] = bool(value)
        elif name == "language":
            columns["language"] = None if value is None else parse_language(value).value
        elif name == "contacts":
            columns["contacts"] = value or []  # an explicit null clears the list
        else:
            columns[name] = value
    async with uow(rt) as conn:
        await repository.upsert_customer(conn, customer_id, columns, at=utcnow(), actor=principal.actor)
    return await customer_file(rt, customer_id=customer_id)


async def record_visit(rt: ComplaintsRuntime, *, principal: Principal, customer_id: str,
                       visit: Mapping[str, Any]) -> Row:
    async with uow(rt) as conn:
        if await repository.get_customer(conn, customer_id, for_update=True) is None:
            raise NotFound.of("customer", customer_id)
        return await repository.insert_visit(conn, {**visit, "id": uuid.uuid4(), "customer_id": customer_id,
                                                    "by": visit["by"] or principal.actor,
                                                    "recorded_by": principal.actor})


async def due_visits(rt: ComplaintsRuntime, *, month: str) -> tuple[Month, list[VisitDue]]:
    """Key and new customers without a return visit in `month` (YYYY-MM, desk timezone)."""
    parsed = parse_month(month)
    rules, tz = rt.context.care, rt.settings.desk_tz
    previous = parsed.previous()
    async with rt.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        candidates = await repository.visit_candidates(
            conn, new_since=parsed.ends_at(tz) - timedelta(days=rules.new_customer_days),
            volume_start=previous.starts_at(tz), volume_end=previous.ends_at(tz),
            min_volume=rules.key_min_monthly_shipments)
        ids = [c["customer_id"] for c in candidates]
        volumes = await repository.shipments_between(conn, ids, previous.starts_at(tz), previous.ends_at(tz))
        visits = await repository.visits_of(conn, ids)
    files = [CustomerFile(customer_id=c["customer_id"], name=c["name"], first_seen_at=c["first_seen_at"],
                          key_flag=c["key_flag"], shipments_last_month=volumes.get(c["customer_id"], 0),
                          visits=tuple(visits.get(c["customer_id"], ()))) for c in candidates]
    return parsed, visits_due(files, parsed, rules=rules, tz=tz)
