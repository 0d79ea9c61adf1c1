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

from services.notifier.context import NotifierRuntime
from services.notifier.delivery import repository, service
from shared.clock import utcnow
from shared.db import Listener
from shared.errors import DB_UNAVAILABLE

log = logging.getLogger("lcs.notifier.dispatcher")

MIN_SLEEP_S = 0.02


class Dispatcher:
    """The send worker of one replica (a long-lived object: its listener and lanes)."""

    def __init__(self, rt: NotifierRuntime) -> None:
        self.rt = rt
        self.concurrency = rt.settings.dispatch_concurrency
        self.poll_seconds = rt.settings.dispatch_poll_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._listener = Listener(rt.settings.database_url, repository.DISPATCH_CHANNEL, self._wake)

    async def _lane(self) -> int:
        sent = 0
        while not self._stopping:
            try:
                if not await service.dispatch_one(self.rt):
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
            due = await repository.next_due_at(self.rt.pool)
        except Exception:  # noqa: BLE001 - fall back to the poll interval
            return self.poll_seconds
        if due is None:
            return self.poll_seconds
        return min(self.poll_seconds, max(MIN_SLEEP_S, (due - utcnow()).total_seconds()))

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
                await self.rt.context.http.aclose()


async def dispatch_worker(rt: NotifierRuntime) -> None:
    """The service's worker (`ServiceSpec.workers`): runs the dispatcher until shutdown."""
    await Dispatcher(rt).run()
