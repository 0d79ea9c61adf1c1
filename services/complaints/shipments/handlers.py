"""Tracking's events feed the local shipment read model and proactive care.

One handler per event type; each runs inside the transaction that also records the
inbox row, so its effects and the "seen" mark commit together. Registrations, the
high-volume event, also have a set-based form for the consumer's groups
(`apply_registrations`), which gives the same result as `apply_tracking_event` per event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from services.complaints.context import ComplaintsRuntime
from services.complaints.customers.repository import customer_seen, customers_seen
from services.complaints.domain.care import CustomerSighting, merge_sightings
from services.complaints.domain.shipments import TRACKING_EVENTS, ShipmentView, apply, new_view
from services.complaints.shipments import repository
from services.complaints.tickets.service import open_care_ticket
from shared.bus import GroupHandler, Handler, repeated_keys
from shared.events import Envelope, Event, ShipmentDelayed, ShipmentRegistered


def _sighting(event: Event) -> CustomerSighting | None:
    """The shipper a registration names, if it names a customer."""
    if not isinstance(event, ShipmentRegistered) or not event.shipper.customer_id:
        return None
    shipper = event.shipper
    return CustomerSighting(customer_id=event.shipper.customer_id, at=event.registered_at, name=shipper.name,
                            phone=shipper.phone, email=shipper.email)


async def apply_tracking_event(conn: asyncpg.Connection, rt: ComplaintsRuntime, event: Event,
                               envelope: Envelope) -> None:
    waybill_no: str = getattr(event, "waybill_no")  # noqa: B009 - every tracking event names its waybill
    view = await repository.lock_shipment(conn, waybill_no)
    updated = apply(view, event, envelope.time)
    if updated != view:
        await repository.save_shipment(conn, updated)
    sighting = _sighting(event)
    if sighting is not None:
        await customer_seen(conn, sighting.customer_id, at=sighting.at, name=sighting.name,
                                 phone=sighting.phone, email=sighting.email)
    # A delay of a key customer's shipment opens a care ticket; the registration can arrive
    # after the delay (then we learn the customer only now), so both events may trigger it.
    if isinstance(event, ShipmentDelayed | ShipmentRegistered) and updated.delayed:
        await open_care_ticket(conn, rt, updated)


async def apply_registrations(conn: asyncpg.Connection, rt: ComplaintsRuntime,
                              events: Sequence[tuple[ShipmentRegistered, Envelope]]) -> None:
    """`apply_tracking_event` of each registration in turn, set-based (the consumer's group handler).

    The stored views of the waybills named once are locked in one statement and merged in
    memory; a waybill not stored yet (the usual case: registration comes first) is merged into
    an empty view and inserted whole, so its row is written once, not created empty and then
    updated. The new views are inserted in one statement, the changed ones saved in one, the
    customers' sightings recorded in one. An event whose effect depends on what came before it
    in the run goes through `apply_tracking_event` in its turn, after everything before it has
    been written: a waybill named twice or more here, and a registration that finds its
    shipment already delayed (proactive care may open a ticket, which reads the customer and the
    shipments)."""
    repeated = repeated_keys(event.waybill_no for event, _ in events)
    stored = await repository.lock_stored_shipments(conn, [event.waybill_no for event, _ in events
                                                     if event.waybill_no not in repeated])
    new: list[ShipmentView] = []
    changed: list[ShipmentView] = []
    sightings: list[CustomerSighting] = []

    async def write() -> None:
        await repository.insert_shipments(conn, new)
        await repository.save_shipments(conn, changed)
        await customers_seen(conn, merge_sightings(sightings))
        new.clear()
        changed.clear()
        sightings.clear()

    for event, envelope in events:
        if event.waybill_no not in repeated:
            view = stored.get(event.waybill_no)
            updated = apply(view or new_view(event.waybill_no), event, envelope.time)
            if not updated.delayed:
                if view is None:
                    new.append(updated)
                elif updated != view:
                    changed.append(updated)
                sighting = _sighting(event)
                if sighting is not None:
                    sightings.append(sighting)
                continue
        await write()
        await apply_tracking_event(conn, rt, event, envelope)
    await write()


def make_handlers(rt: ComplaintsRuntime) -> Mapping[str, Handler]:
    async def on_tracking_event(conn: asyncpg.Connection, event: Event, envelope: Envelope) -> None:
        await apply_tracking_event(conn, rt, event, envelope)

    return {cls.TYPE: on_tracking_event for cls in TRACKING_EVENTS}


def make_group_handlers(rt: ComplaintsRuntime) -> Mapping[str, GroupHandler]:
    async def on_registered_many(conn: asyncpg.Connection,
                                 events: Sequence[tuple[ShipmentRegistered, Envelope]]) -> None:
        await apply_registrations(conn, rt, events)

    return {ShipmentRegistered.TYPE: on_registered_many}
