"""The replica's ear: LISTEN web_live on a dedicated connection, hand each notice to the hub.

Reconnects with back-off when the database goes away; while it is away, pages keep their
stream (heartbeats continue) and, once it is back, every stream is told to re-read its
lists, since notices sent meanwhile are lost to this replica.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

from services.web.context import WebRuntime
from services.web.live.handlers import CHANNEL
from services.web.live.hub import RELOAD, LiveMessage

log = logging.getLogger("lcs.web.live")


async def listen(rt: WebRuntime) -> None:
    hub = rt.context.hub
    backoff = 0.5
    reconnected = False
    while not hub.closed:
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(rt.settings.database_url)
            lost = asyncio.Event()

            def on_lost(_: Any, lost: asyncio.Event = lost) -> None:
                lost.set()

            def on_notice(_: Any, __: int, ___: str, payload: str) -> None:
                try:
                    hub.publish(LiveMessage.from_json(payload))
                except (ValueError, TypeError):
                    log.warning("malformed live notice")

            await conn.add_listener(CHANNEL, on_notice)
            conn.add_termination_listener(on_lost)
            if reconnected:
                hub.publish(RELOAD)
            backoff = 0.5
            log.info("listening for live notices")
            while not lost.is_set() and not hub.closed:
                try:
                    await asyncio.wait_for(lost.wait(), 10)
                except TimeoutError:
                    await conn.fetchval("SELECT 1")  # notices a silently dropped connection
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure: reconnect after a pause
            log.warning("live listener lost the database", extra={"error": repr(exc)})
        finally:
            if conn is not None and not conn.is_closed():
                await conn.close()
        reconnected = True
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 5)
