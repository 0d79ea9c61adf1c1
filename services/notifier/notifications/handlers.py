"""The routed events (every type in `bindings.BINDINGS`): each becomes its notifications, in the
consumer's inbox transaction."""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

from services.notifier.context import NotifierRuntime
from services.notifier.notifications import service
from services.notifier.notifications.bindings import BINDINGS
from shared.bus import Handler
from shared.events import Envelope, Event


def handlers(rt: NotifierRuntime) -> Mapping[str, Handler]:
    async def on_routed(conn: asyncpg.Connection, event: Event, envelope: Envelope) -> None:
        await service.on_event(conn, rt=rt, event=event, envelope=envelope)

    return {event_type: on_routed for event_type in BINDINGS}
