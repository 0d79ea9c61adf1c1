"""What receipts learns from tracking: one function per event type, plus the set-based form of
the high-volume one (registrations) for the consumer's groups.

Each runs inside the consumer's transaction (with the inbox row). Order and repetition do
not matter: every handler first upserts the waybill's `shipment_facts` row (latest final
arrival, earliest delivery), which also serialises concurrent handlers of one waybill, and
then derives the receipt's columns from those facts alone; a registration arriving last
merges the facts already there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from services.receipts.context import ReceiptsRuntime
from services.receipts.domain.deadlines import DeadlineConfig, clock_changes
from services.receipts.domain.lifecycle import Payment, ReceiptAction, ReceiptStatus
from services.receipts.receipts import repository, service
from shared.bus import GroupHandler, Handler, repeated_keys
from shared.events import Envelope, ShipmentArrived, ShipmentDelivered, ShipmentRegistered

log = logging.getLogger("lcs.receipts")

TRACKING_ACTOR = "system:tracking"  # custody actor of what tracking's events report


def handlers(rt: ReceiptsRuntime) -> Mapping[str, Handler]:
    deadlines = rt.context.deadlines

    async def on_registered(conn: asyncpg.Connection, event: ShipmentRegistered, envelope: Envelope) -> None:
        await record_registration(conn, event=event, deadlines=deadlines)

    async def on_arrived(conn: asyncpg.Connection, event: ShipmentArrived, envelope: Envelope) -> None:
        await record_arrival(conn, event=event, deadlines=deadlines)

    async def on_delivered(conn: asyncpg.Connection, event: ShipmentDelivered, envelope: Envelope) -> None:
        await record_delivery(conn, event=event, deadlines=deadlines)

    return {
        ShipmentRegistered.TYPE: on_registered,
        ShipmentArrived.TYPE: on_arrived,
        ShipmentDelivered.TYPE: on_delivered,
    }


def group_handlers(rt: ReceiptsRuntime) -> Mapping[str, GroupHandler]:
    deadlines = rt.context.deadlines

    async def on_registered_many(conn: asyncpg.Connection,
                                 events: Sequence[tuple[ShipmentRegistered, Envelope]]) -> None:
        await record_registrations(conn, events=[event for event, _ in events], deadlines=deadlines)

    return {ShipmentRegistered.TYPE: on_registered_many}


# --------------------------------------------------------------------------- facts → receipt


async def _apply_facts(conn: asyncpg.Connection, row: asyncpg.Record, facts: asyncpg.Record,
                       deadlines: DeadlineConfig) -> None:
    changes = clock_changes(row, facts, deadlines)
    if facts["delivered_at"] is not None and row["status"] == ReceiptStatus.AWAITING_DELIVERY:
        await service.record_step(conn, row, ReceiptAction.DELIVER, at=facts["delivered_at"], actor=TRACKING_ACTOR,
                                  note=facts["delivery_note"] or "", changes=changes)
        return
    await repository.update_receipt(conn, row["waybill_no"], changes)


def _receipt_values(event: ShipmentRegistered) -> dict[str, Any]:
    """The receipt a registration creates (ValueError on an unknown payment type: a bad event,
    retried, then dead-lettered)."""
    payment = Payment(event.payment)
    dest = event.destination_station
    orig = event.origin_station
    contact = None
    if dest is not None and (dest.contact_phone or dest.contact_email):
        contact = {"name": dest.name, "phone": dest.contact_phone, "email": dest.contact_email}
    destination_region = dest.region if dest is not None and dest.region else None
    copies = event.receipt.copies
    if copies < 1:
        log.warning("registration with fewer than one receipt copy; counting one",
                    extra={"waybill_no": event.waybill_no, "copies": copies})
        copies = 1
    return {
        "waybill_no": event.waybill_no,
        "status": ReceiptStatus.AWAITING_DELIVERY.value,
        "required": True,
        "req_signature": event.receipt.signature,
        "req_stamp": event.receipt.stamp,
        "req_id_number": event.receipt.id_number,
        "req_copies": min(copies, 100),
        "payment": payment.value,
        "origin": event.origin,
        "destination": event.destination,
        "via": list(event.via),
        "transfers": len(event.via),
        "origin_region": orig.region if orig is not None and orig.region else None,
        "destination_region": destination_region,
        "region": (destination_region or "unknown")[:100],
        "station_contact": contact,
        "registered_at": event.registered_at,
        "customer_id": event.shipper.customer_id if event.shipper is not None else None,
    }


def _came_before_registration(facts: Mapping[str, Any]) -> bool:
    """Whether tracking reported an arrival or a delivery before the registration reached us."""
    return facts["final_arrived_at"] is not None or facts["delivered_at"] is not None


async def _merge_earlier_facts(conn: asyncpg.Connection, waybill_no: str, facts: asyncpg.Record,
                               deadlines: DeadlineConfig) -> None:
    row = await repository.get_receipt(conn, waybill_no, for_update=True)
    assert row is not None
    await _apply_facts(conn, row, facts, deadlines)


async def record_registration(conn: asyncpg.Connection, *, event: ShipmentRegistered,
                              deadlines: DeadlineConfig) -> None:
    """Create the receipt of a waybill that requires one, merging facts that came earlier."""
    facts = await repository.upsert_registration_fact(conn, event.waybill_no, registered_at=event.registered_at,
                                                      receipt_required=bool(event.receipt.required))
    if not facts["receipt_required"]:
        return  # no receipt asked for (the first registration decides, like everything else in it)
    created = await repository.insert_receipt(conn, _receipt_values(event))
    if not created:
        return  # a repeated registration: the first one stands
    if not _came_before_registration(facts):
        return  # the usual order: nothing came before the registration, nothing to merge
    await _merge_earlier_facts(conn, event.waybill_no, facts, deadlines)


async def record_registrations(conn: asyncpg.Connection, *, events: Sequence[ShipmentRegistered],
                               deadlines: DeadlineConfig) -> None:
    """`record_registration` of each event in turn, set-based (the consumer's group handler).

    The waybills named once in `events` take one facts upsert and one receipts insert for all
    of them; a waybill's effects depend on no other waybill, so only what is per waybill
    order-dependent goes through `record_registration`, in delivery order: a waybill named
    twice or more here, and the merge of facts that came before the registration."""
    repeated = repeated_keys(e.waybill_no for e in events)
    once = [e for e in events if e.waybill_no not in repeated]
    facts = await repository.upsert_registration_facts(
        conn, [(e.waybill_no, e.registered_at, bool(e.receipt.required)) for e in once])
    created = await repository.insert_receipts(
        conn, [_receipt_values(e) for e in once if facts[e.waybill_no]["receipt_required"]])
    for e in events:
        if e.waybill_no in repeated:
            await record_registration(conn, event=e, deadlines=deadlines)
        elif e.waybill_no in created and _came_before_registration(facts[e.waybill_no]):
            await _merge_earlier_facts(conn, e.waybill_no, facts[e.waybill_no], deadlines)


async def record_arrival(conn: asyncpg.Connection, *, event: ShipmentArrived, deadlines: DeadlineConfig) -> None:
    """A final arrival (every piece in) fixes the clock; partial batches do not start it."""
    if not event.final:
        return
    facts = await repository.upsert_final_arrival(conn, event.waybill_no, event.arrived_at)
    row = await repository.get_receipt(conn, event.waybill_no, for_update=True)
    if row is not None:  # otherwise the registration merges the fact later
        await _apply_facts(conn, row, facts, deadlines)


async def record_delivery(conn: asyncpg.Connection, *, event: ShipmentDelivered,
                          deadlines: DeadlineConfig) -> None:
    """Signed for at the destination: the receipt is `signed` (and the clock runs, at the latest now)."""
    how = "delegate" if event.delegated else "consignee"
    note = f"signed by the {how}" + (" with company stamp" if event.company_stamp else "")
    if event.station:
        note += f" at {event.station}"
    facts = await repository.upsert_delivery(conn, event.waybill_no, event.delivered_at, note[:500])
    row = await repository.get_receipt(conn, event.waybill_no, for_update=True)
    if row is not None:
        await _apply_facts(conn, row, facts, deadlines)
