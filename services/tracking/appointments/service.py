"""Use cases of delivery appointments (预约送货), one transaction each; the booking leaves as
`tracking.delivery.appointed.v1` through the outbox. Rules: `domain.appointments`."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import asyncpg
from prometheus_client import Counter

from services.tracking.appointments import repository
from services.tracking.appointments.models import (
    AppointmentCreate,
    AppointmentDay,
    AppointmentDayItem,
    AppointmentRead,
)
from services.tracking.context import SOURCE, TrackingRuntime
from services.tracking.domain.appointments import (
    AppointmentOutcome,
    Window,
    check_bookable,
    check_window,
    outcome,
)
from services.tracking.domain.scans import ShipmentStatus
from services.tracking.shipments.timeline import append as timeline_append
from shared.auth import DESK, Principal
from shared.clock import day_bounds, utcnow
from shared.context import uow
from shared.errors import Forbidden, NotFound
from shared.events import DeliveryAppointed
from shared.outbox import publish
from shared.pii import mask_name

APPOINTMENTS_BOOKED = Counter("lcs_tracking_appointments_booked_total", "Delivery appointments booked",
                              ["channel"])


def sees_shipment(principal: Principal, shipment: asyncpg.Record) -> bool:
    """Desk roles see every shipment, a branch those touching its stations, a customer its own
    (the shipper's customer id)."""
    return principal.sees(shipment["origin"], shipment["destination"], *shipment["via"],
                          customer=shipment["customer_id"])


def window_of(row: asyncpg.Record) -> Window:
    return Window(row["window_start"], row["window_end"])


def appointment_read(row: asyncpg.Record, *, delivered: datetime | None, now: datetime,
                     cls: type[AppointmentRead] = AppointmentRead, **extra: Any) -> Any:
    return cls(appointment_id=str(row["id"]), waybill_no=row["waybill_no"], station=row["station"],
               window_start=row["window_start"], window_end=row["window_end"], contact=row["contact"],
               channel=row["channel"], note=row["note"], booked_by=row["booked_by"], booked_at=row["booked_at"],
               superseded_at=row["superseded_at"],
               outcome=outcome(window_of(row), delivered_at=delivered, superseded=row["superseded_at"] is not None,
                               now=now).value, **extra)


async def book(rt: TrackingRuntime, *, principal: Principal, waybill_no: str,
               body: AppointmentCreate) -> AppointmentRead:
    """Book a delivery window for a waybill that is not delivered; it supersedes the current one.
    422 for a window that cannot be promised, 409 `already_delivered`, 404 when not visible."""
    now = utcnow()
    window = check_window(body.window_start, body.window_end, now)
    appointment_id = uuid.uuid4()
    async with uow(rt) as conn:
        shipment = await repository.get_shipment(conn, waybill_no, lock=True)
        if shipment is None or not sees_shipment(principal, shipment):
            raise NotFound.of("shipment", waybill_no)
        check_bookable(ShipmentStatus(shipment["status"]), waybill_no)
        superseded = await repository.supersede(conn, waybill_no, by=appointment_id, at=now)
        station = shipment["destination"]
        row = await repository.insert(conn, appointment_id=appointment_id, waybill_no=waybill_no, station=station,
                                      window_start=window.start, window_end=window.end, contact=body.contact,
                                      channel=body.channel, note=body.note, booked_by=principal.actor,
                                      booked_at=now)
        await timeline_append(conn, waybill_no, now, "appointment", {
            "appointment_id": str(appointment_id), "window_start": window.start.isoformat(),
            "window_end": window.end.isoformat(), "contact": body.contact, "channel": body.channel,
            "note": body.note, "supersedes": superseded, "by": principal.actor})
        await publish(conn, DeliveryAppointed(
            appointment_id=str(appointment_id), waybill_no=waybill_no, station=station, window_start=window.start,
            window_end=window.end, channel=body.channel, note=body.note, booked_by=principal.actor,
        ), source=SOURCE)
    APPOINTMENTS_BOOKED.labels(body.channel).inc()
    return appointment_read(row, delivered=None, now=now)


async def current_of(conn: asyncpg.Connection, waybill_no: str, *, delivered_at: datetime | None,
                     now: datetime) -> AppointmentRead | None:
    """A waybill's current appointment and its outcome (for ShipmentRead)."""
    row = await repository.current(conn, waybill_no)
    return None if row is None else appointment_read(row, delivered=delivered_at, now=now)


async def station_day(rt: TrackingRuntime, *, principal: Principal, station: str | None, day: date,
                      as_of: datetime) -> AppointmentDay:
    """A station's appointments of one business day (windows starting that day), each with its
    outcome as of `as_of`: the day's delivery plan, and afterwards what was kept and missed.
    A branch reads its own station (403 for another), a customer only its own waybills."""
    customer = None
    if principal.role == "branch":
        if station is not None and station != principal.branch:
            raise Forbidden("forbidden", f"a branch token reads its own station's appointments ({principal.branch})")
        station = principal.branch
    elif principal.role == "customer":
        customer = principal.customer
    elif principal.role not in DESK:
        raise Forbidden("forbidden", f"role {principal.role} may not read appointments")
    start, end = day_bounds(day)
    async with rt.pool.acquire() as conn:
        rows = await repository.day(conn, start=start, end=end, station=station, customer=customer)
    items: list[AppointmentDayItem] = [
        appointment_read(r, delivered=r["delivered_at"], now=as_of, cls=AppointmentDayItem, status=r["status"],
                         pieces=r["pieces"], pieces_arrived=r["pieces_arrived"],
                         consignee_name=mask_name(r["consignee_name"]), delivered_at=r["delivered_at"])
        for r in rows
    ]
    return AppointmentDay(
        station=station, date=day.isoformat(), as_of=as_of, total=len(items),
        missed=sum(i.outcome == AppointmentOutcome.MISSED for i in items),
        outside_window=sum(i.outcome == AppointmentOutcome.OUTSIDE_WINDOW for i in items), items=items)
