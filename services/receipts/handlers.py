"""Event handlers: what receipts learns from tracking. One function per event type, plus the
set-based form of the high-volume one (registrations) for the consumer's groups.

Each runs inside the consumer's transaction (with the inbox row); the service layer
makes the result independent of order and repetition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from services.receipts import service
from services.receipts.service import Rules
from shared.bus import GroupHandler, Handler
from shared.context import Runtime
from shared.events import Envelope, ShipmentArrived, ShipmentDelivered, ShipmentRegistered


def make_handlers(rules: Rules) -> Mapping[str, Handler]:
    async def on_registered(conn: asyncpg.Connection, event: ShipmentRegistered, envelope: Envelope) -> None:
        await service.record_registration(conn, event, rules)

    async def on_arrived(conn: asyncpg.Connection, event: ShipmentArrived, envelope: Envelope) -> None:
        await service.record_arrival(conn, event, rules)

    async def on_delivered(conn: asyncpg.Connection, event: ShipmentDelivered, envelope: Envelope) -> None:
        await service.record_delivery(conn, event, rules)

    return {
        ShipmentRegistered.TYPE: on_registered,
        ShipmentArrived.TYPE: on_arrived,
        ShipmentDelivered.TYPE: on_delivered,
    }


def make_group_handlers(rules: Rules) -> Mapping[str, GroupHandler]:
    async def on_registered_many(conn: asyncpg.Connection,
                                 events: Sequence[tuple[ShipmentRegistered, Envelope]]) -> None:
        await service.record_registrations(conn, [event for event, _ in events], rules)

    return {ShipmentRegistered.TYPE: on_registered_many}


def handlers_for(rt: Runtime) -> Mapping[str, Handler]:
    return make_handlers(service.rules_of(rt))


def group_handlers_for(rt: Runtime) -> Mapping[str, GroupHandler]:
    return make_group_handlers(service.rules_of(rt))
