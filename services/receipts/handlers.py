"""Event handlers: what receipts learns from tracking. One function per event type.

Each runs inside the consumer's transaction (with the inbox row); the service layer
makes the result independent of order and repetition.
"""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

from services.receipts import service
from services.receipts.service import Rules
from shared.bus import Handler
from shared.events import Envelope, ShipmentArrived, ShipmentDelivered, ShipmentRegistered
from shared.web import Runtime


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


def handlers_for(rt: Runtime) -> Mapping[str, Handler]:
    return make_handlers(service.rules_of(rt))
