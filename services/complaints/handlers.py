"""Tracking's events feed the local shipment read model and proactive care.

One handler per event type; each runs inside the transaction that also records the
inbox row, so its effects and the "seen" mark commit together.
"""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

from services.complaints import readmodel
from services.complaints import repository as repo
from services.complaints.service import open_care_ticket
from services.complaints.settings import ComplaintsSettings
from shared.bus import Handler
from shared.events import (
    Envelope,
    Event,
    ExceptionReported,
    ShipmentArrived,
    ShipmentDelayed,
    ShipmentDelivered,
    ShipmentDeparted,
    ShipmentOutForDelivery,
    ShipmentRecovered,
    ShipmentRegistered,
)
from shared.web import Runtime

TRACKING_EVENTS: tuple[type[Event], ...] = (
    ShipmentRegistered, ShipmentDeparted, ShipmentDelayed, ShipmentRecovered, ShipmentArrived,
    ShipmentOutForDelivery, ShipmentDelivered, ExceptionReported,
)


async def apply_tracking_event(conn: asyncpg.Connection, settings: ComplaintsSettings, event: Event,
                               envelope: Envelope) -> None:
    waybill_no: str = getattr(event, "waybill_no")  # noqa: B009 - every tracking event names its waybill
    view = await repo.lock_shipment(conn, waybill_no)
    updated = readmodel.apply(view, event, envelope.time)
    if updated != view:
        await repo.save_shipment(conn, updated)
    if isinstance(event, ShipmentRegistered) and event.shipper.customer_id:
        await repo.customer_seen(conn, event.shipper.customer_id, at=event.registered_at, name=event.shipper.name,
                                 phone=event.shipper.phone, email=event.shipper.email)
    # A delay of a key customer's shipment opens a care ticket; the registration can arrive
    # after the delay (then we learn the customer only now), so both events may trigger it.
    if isinstance(event, ShipmentDelayed | ShipmentRegistered) and updated.delayed:
        await open_care_ticket(conn, settings, updated)


def make_handlers(rt: Runtime) -> Mapping[str, Handler]:
    settings = rt.settings
    assert isinstance(settings, ComplaintsSettings)

    async def on_tracking_event(conn: asyncpg.Connection, event: Event, envelope: Envelope) -> None:
        await apply_tracking_event(conn, settings, event, envelope)

    return {cls.TYPE: on_tracking_event for cls in TRACKING_EVENTS}
