"""What the notifier keeps of a shipment: its registration (contacts for routing, stations for
branch scoping), and the events that came before it, replayed once it is known."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.notifier.context import NotifierRuntime
from services.notifier.notifications.service import on_event
from services.notifier.shipments import repository
from shared.bus import repeated_keys
from shared.events import Envelope, ShipmentRegistered, parse_event


async def on_registered(conn: asyncpg.Connection, *, rt: NotifierRuntime, event: ShipmentRegistered) -> None:
    """Store the shipment's contacts and stations, then replay events that waited for them."""
    await repository.lock_waybill(conn, event.waybill_no)
    await repository.upsert_shipment(conn, event)
    for parked in await repository.take_parked(conn, event.waybill_no):
        await _replay(conn, rt=rt, parked=parked)


async def on_registered_many(conn: asyncpg.Connection, *, rt: NotifierRuntime,
                             events: Sequence[ShipmentRegistered]) -> None:
    """`on_registered` of each registration in turn, set-based (the consumer's group handler).

    The waybills named once are locked, stored and cleared of parked events with one
    statement each. A registration changes nothing another waybill's events read, so the
    only order that matters is that of what sends (the parked events' replays: throttling
    counts per recipient across waybills); those replays, and the waybills named twice or
    more here (through `on_registered`), then run in delivery order."""
    repeated = repeated_keys(event.waybill_no for event in events)
    once = [event for event in events if event.waybill_no not in repeated]
    waybills = [event.waybill_no for event in once]
    await repository.lock_waybills(conn, waybills)
    await repository.upsert_shipments(conn, once)
    parked = await repository.take_parked_of(conn, waybills)
    for event in events:
        if event.waybill_no in repeated:
            await on_registered(conn, rt=rt, event=event)
            continue
        for row in parked.get(event.waybill_no, ()):
            await _replay(conn, rt=rt, parked=row)


async def _replay(conn: asyncpg.Connection, *, rt: NotifierRuntime, parked: asyncpg.Record) -> None:
    parked_envelope = Envelope.model_validate(parked["envelope"])
    await on_event(conn, rt=rt, event=parse_event(parked_envelope), envelope=parked_envelope)
