"""Event handlers: one per consumed event type, collected in one dict, plus the set-based
form of the high-volume one (registrations) for the consumer's groups.

Each runs inside the consumer's inbox transaction and only delegates to the service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from services.notifier.routing import BINDINGS
from services.notifier.service import NotifierService
from shared.bus import GroupHandler, Handler
from shared.events import Envelope, Event, ShipmentRegistered


def make_handlers(service: NotifierService) -> Mapping[str, Handler]:
    async def on_registered(conn: asyncpg.Connection, event: ShipmentRegistered, envelope: Envelope) -> None:
        await service.on_registered(conn, event, envelope)

    async def on_routed(conn: asyncpg.Connection, event: Event, envelope: Envelope) -> None:
        await service.on_event(conn, event, envelope)

    handlers: dict[str, Handler] = {ShipmentRegistered.TYPE: on_registered}
    handlers.update({event_type: on_routed for event_type in BINDINGS})
    return handlers


def make_group_handlers(service: NotifierService) -> Mapping[str, GroupHandler]:
    async def on_registered_many(conn: asyncpg.Connection,
                                 events: Sequence[tuple[ShipmentRegistered, Envelope]]) -> None:
        await service.on_registered_many(conn, events)

    return {ShipmentRegistered.TYPE: on_registered_many}
