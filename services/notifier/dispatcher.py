"""The dispatcher worker: sends due notifications as soon as they are committed.

Wake-ups: the consumer's insert transaction does `pg_notify('lcs_dispatch_notifier')`, which
PostgreSQL delivers at commit; a dedicated connection LISTENs to it. Without a listener (or a
lost notification) the worker still polls: it sleeps until the earliest `next_attempt_at`, at
most `dispatch_poll_seconds`.

`dispatch_concurrency` lanes each claim one row at a time with `FOR UPDATE SKIP LOCKED`, so
several lanes and several replicas never send the same row. The row stays locked while it is
being sent and the outcome commits with it; a crash mid-send rolls back and the row is sent
again after a restart (the SMS `Idempotency-Key` header and the e-mail `Message-ID` let the
provider drop that duplicate). On shutdown (task cancelled) the lanes finish the message in
hand and take no new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from services.notifier import repository as repo
from services.notifier.service import NotifierService
from shared.db import Listener
from shared.errors import DB_UNAVAILABLE

log = logging.getLogger("lcs.notifier.dispatcher")

MIN_SLEEP_S = 0.02


class Dispatcher:
    def __init__(self, service: NotifierService, *, dsn: str, concurrency: int, poll_seconds: float) -> None:
        self.service = service
        self.dsn = dsn
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._listener = Listener(dsn, repo.DISPATCH_CHANNEL, self._wake)

    async def _lane(self) -> int:
        sent = 0
        while not self._stopping:
            try:
                if not await self.service.dispatch_one():
                    break
                sent += 1
            except DB_UNAVAILABLE as exc:
                log.warning("database unavailable while dispatching", extra={"error": repr(exc)})
                break
            except Exception:
                log.exception("dispatch failed")
                break
        return sent

    async def _sleep_seconds(self) -> float:
        try:
            due = await repo.next_due_at(self.service.pool)
        except Exception:  # noqa: BLE001 - fall back to the poll interval
            return self.poll_seconds
        if due is None:
            return self.poll_seconds
        return min(self.poll_seconds, max(MIN_SLEEP_S, (due - datetime.now(UTC)).total_seconds()))

    async def run(self) -> None:
        in_flight: asyncio.Future[list[int]] | None = None
        try:
            while not self._stopping:
                await self._listener.ensure()
                self._wake.clear()
                in_flight = asyncio.gather(*(self._lane() for _ in range(self.concurrency)))
                await asyncio.shield(in_flight)
                in_flight = None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), await self._sleep_seconds())
        except asyncio.CancelledError:
            self._stopping = True
            if in_flight is not None and not in_flight.done():
                # Finish the messages in hand (bounded by the provider timeouts), take no new ones.
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(in_flight, 30)
            raise
        finally:
            await self._listener.close()
            with contextlib.suppress(Exception):
                await self.service.http.aclose()
