"""The transactional outbox: `publish` inside the caller's transaction, and the relay.

`publish(conn, event, source=...)` only inserts a row (and queues a NOTIFY that
PostgreSQL delivers at commit): the event exists if and only if the business change
committed. The relay takes unsent rows oldest first with `FOR UPDATE SKIP LOCKED`
(so several replicas share the work and never publish a row concurrently), publishes
them with publisher confirms, and marks them sent in the same transaction — only after
every confirm arrived. A crash in between re-publishes the batch: at-least-once on the
wire; consumers' inboxes make it exactly-once in effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime

import asyncpg

from shared import metrics
from shared.bus import Bus
from shared.db import Listener
from shared.events import Envelope, Event, make_envelope

log = logging.getLogger("lcs.outbox")

NOTIFY_CHANNEL_PREFIX = "lcs_outbox_"


async def publish(conn: asyncpg.Connection, event: Event, *, source: str,
                  event_id: uuid.UUID | None = None, time: datetime | None = None) -> Envelope:
    """Record `event` in the outbox of the current schema, inside the caller's transaction."""
    envelope = make_envelope(event, source, event_id=event_id, time=time)
    await conn.execute(
        "INSERT INTO outbox (id, type, body) VALUES ($1, $2, $3)",
        envelope.id, envelope.type, envelope.to_json().decode(),
    )
    # Delivered at commit only; wakes the relay without waiting for its poll.
    await conn.execute("SELECT pg_notify($1 || current_schema(), '')", NOTIFY_CHANNEL_PREFIX)
    return envelope


class OutboxRelay:
    def __init__(self, *, service: str, pool: asyncpg.Pool, bus: Bus, dsn: str, batch: int = 200,
                 poll_seconds: float = 1.0, retention_hours: int = 72) -> None:
        self.service = service
        self.pool = pool
        self.bus = bus
        self.dsn = dsn
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.retention_hours = retention_hours
        self._wake = asyncio.Event()
        self._stopping = False
        self._listener = Listener(dsn, NOTIFY_CHANNEL_PREFIX + service, self._wake)

    async def flush_once(self) -> int:
        """Publish one batch of unsent rows; returns how many were published."""
        if not self.bus.is_connected:
            return 0
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT seq, id, type, body FROM outbox WHERE sent_at IS NULL "
                "ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
                self.batch,
            )
            if not rows:
                return 0
            # One channel keeps frames in order; confirms are awaited together.
            results = await self.bus.publish_many(
                [(r["body"].encode(), r["type"], str(r["id"]), r["type"]) for r in rows])
            confirmed = [r["seq"] for r, res in zip(rows, results, strict=True) if res is None]
            failed = [(r["seq"], repr(res)) for r, res in zip(rows, results, strict=True) if res is not None]
            if confirmed:
                await conn.execute("UPDATE outbox SET sent_at = now(), attempts = attempts + 1 "
                                   "WHERE seq = ANY($1::bigint[])", confirmed)
            if failed:
                await conn.executemany("UPDATE outbox SET attempts = attempts + 1, last_error = $2 "
                                       "WHERE seq = $1", failed)
        for r, res in zip(rows, results, strict=True):
            if res is None:
                metrics.EVENTS_PUBLISHED.labels(self.service, r["type"]).inc()
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(rows)} events not confirmed: {failed[0][1]}")
        return len(confirmed)

    async def observe_backlog(self) -> None:
        row = await self.pool.fetchrow(
            "SELECT count(*) AS n, extract(epoch FROM now() - min(created_at)) AS age "
            "FROM outbox WHERE sent_at IS NULL")
        assert row is not None
        metrics.OUTBOX_BACKLOG.labels(self.service).set(row["n"])
        metrics.OUTBOX_OLDEST_AGE.labels(self.service).set(float(row["age"] or 0))

    async def sweep(self) -> None:
        """Drop sent rows past the retention period (the audit lives in the services' own tables)."""
        await self.pool.execute(
            "DELETE FROM outbox WHERE sent_at < now() - make_interval(hours => $1)", self.retention_hours)

    async def run(self) -> None:
        backoff = 0.2
        ticks = 0
        while not self._stopping:
            try:
                await self._listener.ensure()
                published = await self.flush_once()
                backoff = 0.2
                if published >= self.batch:
                    continue  # more waiting: no pause
                ticks += 1
                if ticks % 10 == 1:
                    await self.observe_backlog()
                if ticks % 3600 == 1:
                    await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker or database away: retry with back-off
                log.warning("outbox relay error", extra={"error": repr(exc), "retry_in_s": backoff})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def stop(self) -> None:
        """Stop after a last flush attempt, so committed events leave before shutdown if they can."""
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(self.flush_once(), 5)
        except Exception:  # noqa: BLE001 - whatever is left stays in the outbox for the next start
            log.info("outbox left with unsent rows at shutdown")
        await self._listener.close()
