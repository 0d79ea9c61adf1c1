"""Registrations: one handler, and its set-based form for the consumer's groups (the
high-volume event). Both run inside the consumer's inbox transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from services.notifier.context import NotifierRuntime
from services.notifier.shipments import service
from shared.bus import GroupHandler, Handler
from shared.events import Envelope, ShipmentRegistered


def handlers(rt: NotifierRuntime) -> Mapping[str, Handler]:
    async def on_registered(conn: asyncpg.Connection, event: ShipmentRegistered, envelope: Envelope) -> None:
        await service.on_registered(conn, rt=rt, event=event)

    return {ShipmentRegistered.TYPE: on_registered}


def group_handlers(rt: NotifierRuntime) -> Mapping[str, GroupHandler]:
    async def on_registered_many(conn: asyncpg.Connection,
                                 events: Sequence[tuple[ShipmentRegistered, Envelope]]) -> None:
        await service.on_registered_many(conn, rt=rt, events=[event for event, _ in events])

    return {ShipmentRegistered.TYPE: on_registered_many}
