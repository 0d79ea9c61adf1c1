"""Periodic jobs with one runner across replicas.

The leader is whoever holds a PostgreSQL session advisory lock named after the job
on its own connection. If the leader dies, its connection closes, the lock goes with
it and another replica takes over at its next attempt. Jobs are written to be
idempotent anyway (each emits "once per ..." through a recorded marker), so a brief
overlap during a takeover changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg

log = logging.getLogger("lcs.scheduler")

_LOCK_NAMESPACE = 0x5C4ED

Job = Callable[[datetime], Awaitable[None]]


class Periodic:
    def __init__(self, *, name: str, dsn: str, interval_seconds: float, job: Job) -> None:
        self.name = name
        self.dsn = dsn
        self.interval = interval_seconds
        self.job = job
        self.is_leader = False
        self._stopping = asyncio.Event()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def run(self) -> None:
        while not self._stopping.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.dsn, timeout=5)
                while not self._stopping.is_set():
                    self.is_leader = bool(await conn.fetchval(
                        "SELECT pg_try_advisory_lock($1, hashtext($2))", _LOCK_NAMESPACE, self.name))
                    if self.is_leader:
                        break
                    await self._sleep(self.interval)
                while not self._stopping.is_set():
                    try:
                        await self.job(datetime.now(UTC))
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("periodic job failed", extra={"job": self.name})
                    await self._sleep(self.interval)
                    await conn.fetchval("SELECT 1")  # leadership is only as alive as this session
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - database away: try again later
                log.warning("scheduler connection lost", extra={"job": self.name, "error": repr(exc)})
                await self._sleep(min(self.interval, 5))
            finally:
                self.is_leader = False
                if conn is not None and not conn.is_closed():
                    await conn.close()

    def stop(self) -> None:
        self._stopping.set()
