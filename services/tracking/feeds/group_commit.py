"""/osmand: the OsmAnd / Traccar Client protocol, as phones and trackers speak it.

A request is parsed and checked (`parse_osmand_request`; the protocol's only "no" is 400), then
group committed: concurrent requests queue their fix, a committer writes whatever is queued in
one transaction (`feeds.ingest.ingest`), and each request is answered only after that
transaction committed (200): many phones, few transactions, nothing acknowledged that is not
durable. `LCS_OSMAND_COMMITTERS` loops share the queue (`run_osmand_group_commit`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from prometheus_client import Histogram

from services.tracking.context import TrackingRuntime
from services.tracking.domain.fixes import Fix
from services.tracking.feeds import repository
from services.tracking.feeds.ingest import POSITIONS, checked_fix, ingest, unknown_device
from services.tracking.feeds.models import Incoming
from services.tracking.feeds.parsing import parse_osmand
from shared.context import uow
from shared.errors import BadRequest, DomainError, Unavailable

log = logging.getLogger("lcs.tracking.feeds")

GROUP_SIZE = Histogram("lcs_tracking_osmand_group_size", "fixes per /osmand group commit",
                       buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000))
GROUP_SECONDS = Histogram("lcs_tracking_osmand_commit_seconds", "duration of one /osmand group commit",
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))


def parse_osmand_request(rt: TrackingRuntime, *, data: Mapping[str, Any], now: datetime) -> Fix:
    """Parse and check an OsmAnd request (query/form parameters or the JSON body). The protocol
    answers every refusal with 400 (a device knows only "stored" and "not"), so the rules' 422s
    are answered as 400 here, with their codes."""
    try:
        return checked_fix(parse_osmand(data, received_at=now), now=now, limits=rt.context.limits)
    except DomainError as err:
        POSITIONS.labels("osmand", "rejected").inc()
        raise BadRequest(err.code, err.message, err.details) from err


async def store_osmand(rt: TrackingRuntime, *, fix: Fix) -> None:
    """Store a device's fix (200 once committed); 400 `unknown_device`."""
    try:
        await rt.context.osmand.store(fix)
    except UnknownDevice as exc:
        raise refused_device(exc) from None


def refused_device(exc: UnknownDevice) -> BadRequest:
    """How /osmand answers a fix of a device on no vehicle (400 `unknown_device`), counted."""
    POSITIONS.labels("osmand", "unknown_device").inc()
    return unknown_device(exc.device_id)


class UnknownDevice(Exception):
    """The fix's device is on no vehicle (`args[0]`: its id)."""

    @property
    def device_id(self) -> str:
        return str(self.args[0])


class OsmandGroupCommit:
    """Concurrent /osmand fixes share one transaction; each caller waits for its commit.

    Each committer loop keeps its pooled connection from group to group (rather than a pool
    round trip per group) and gives it back after a failed group, so a broken
    connection is never used twice. Under load it also saves a round trip per group: when more
    fixes are waiting as a group commits, the next group's `BEGIN` is sent with the `COMMIT`
    (`COMMIT; BEGIN`, one simple query; the commit is durable when it answers). A transaction
    so begun that finds no group within `IDLE_SECONDS` is ended, so the connection never sits
    idle in a transaction (a server's `idle_in_transaction_session_timeout` would cut it)."""

    IDLE_SECONDS = 1.0

    def __init__(self, rt: TrackingRuntime, max_group: int) -> None:
        self.rt = rt
        self.max_group = max_group
        self.queue: asyncio.Queue[tuple[Fix, asyncio.Future[None]]] = asyncio.Queue()
        self.loops = 0  # committer loops running (`run`)
        # the committers' event loop, kept by `run` (before it, a caller's): `asyncio.get_running_loop()`
        # makes a getpid() system call on Python 3.11, about 2% of tracking's CPU in figure 2's native
        # profile when it ran once per /osmand request
        self._loop: asyncio.AbstractEventLoop | None = None

    async def store(self, fix: Fix) -> None:
        """Returns once the fix is committed: in the next group when the committer runs, else (an
        app without the service's workers, e.g. in a test) alone. Raises UnknownDevice, or the
        commit's error."""
        if self.loops:
            await self.submit(fix)
            return
        async with uow(self.rt) as conn:
            outcomes, _ = await self._store(conn, [fix])
        if not outcomes[0]:
            raise UnknownDevice(fix.device_id)

    async def submit(self, fix: Fix) -> None:
        """Returns once the fix is committed; raises UnknownDevice, or the commit's error."""
        await self._queued(fix)

    def enqueue(self, fix: Fix) -> asyncio.Future[None] | None:
        """The fix queued for the next group: the future of its commit (its exception UnknownDevice,
        or the commit's error), or None (nothing queued) when no committer loop runs."""
        return self._queued(fix) if self.loops else None

    def _queued(self, fix: Fix) -> asyncio.Future[None]:
        future: asyncio.Future[None] = (self._loop or asyncio.get_running_loop()).create_future()
        self.queue.put_nowait((fix, future))  # unbounded: what the HTTP server admits is bounded
        return future

    async def run(self) -> None:
        conn: asyncpg.pool.PoolConnectionProxy | None = None
        begun = False  # `conn` is inside a transaction begun for the next group
        self._loop = asyncio.get_running_loop()
        self.loops += 1
        try:
            while True:
                if begun and self.queue.empty():
                    try:
                        first = await asyncio.wait_for(self.queue.get(), self.IDLE_SECONDS)
                    except TimeoutError:
                        assert conn is not None
                        begun = False
                        try:
                            await conn.execute("ROLLBACK")  # nothing was done in it
                        except Exception:  # noqa: BLE001 - a broken connection: the next group takes another
                            released, conn = conn, None
                            await self._give_back(released)
                        continue
                else:
                    first = await self.queue.get()
                group = [first]
                while len(group) < self.max_group and not self.queue.empty():
                    group.append(self.queue.get_nowait())
                group = [(fix, fut) for fix, fut in group if not fut.done()]  # callers gone (disconnect)
                if not group:
                    continue
                GROUP_SIZE.observe(len(group))
                started = time.perf_counter()
                try:
                    if conn is None:
                        conn = await self.rt.pool.acquire()
                    if not begun:
                        await conn.execute("BEGIN")
                    begun = False  # from here on, the transaction is this group's
                    outcomes, stored = await self._store(conn, [fix for fix, _ in group])
                    if self.queue.empty():
                        await conn.execute("COMMIT")
                    else:
                        await conn.execute("COMMIT; BEGIN")
                        begun = True
                except asyncio.CancelledError:
                    for _, fut in group:
                        if not fut.done():
                            fut.set_exception(Unavailable("unavailable", "the service is shutting down"))
                    raise
                except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
                    log.warning("osmand group commit failed", extra={"size": len(group), "error": repr(exc)})
                    for _, fut in group:
                        if not fut.done():
                            fut.set_exception(exc)
                    if conn is not None:
                        released, conn = conn, None
                        await self._give_back(released)
                    continue
                GROUP_SECONDS.observe(time.perf_counter() - started)
                POSITIONS.labels("osmand", "stored").inc(stored)
                for (fix, fut), known in zip(group, outcomes, strict=True):
                    if not fut.done():
                        if known:
                            fut.set_result(None)
                        else:
                            fut.set_exception(UnknownDevice(fix.device_id))
        finally:
            self.loops -= 1
            if not self.loops:
                self._loop = None
            if conn is not None:
                await self._give_back(conn)

    async def _give_back(self, conn: asyncpg.pool.PoolConnectionProxy) -> None:
        """Back to the pool, after rolling back what is open (the pool would too, but warns)."""
        with contextlib.suppress(Exception):
            if not conn.is_closed() and conn.is_in_transaction():
                await conn.execute("ROLLBACK")
        await self.rt.pool.release(conn)

    async def _store(self, conn: asyncpg.pool.PoolConnectionProxy, fixes: Sequence[Fix]) -> tuple[list[bool], int]:
        """The group's work inside the transaction the caller began and commits: whether each
        fix's device is known, and how many fixes were new."""
        claim = await repository.claim_vehicles(conn, "device_id", [f.device_id for f in fixes])
        vehicles = {v["device_id"]: v["vehicle_id"] for v in claim.rows.values()}
        items = [Incoming.from_fix(vehicles[f.device_id], f) for f in fixes if f.device_id in vehicles]
        result = await ingest(conn, eta=self.rt.context.eta, items=items, vehicles=claim)
        return [f.device_id in vehicles for f in fixes], result.stored


async def run_osmand_group_commit(rt: TrackingRuntime) -> None:
    """Service worker: runs the /osmand committer's loops for the life of the process.

    `osmand_committers` loops share the queue, so a group forms and starts while the previous
    one is still committing (one loop alone leaves the database idle while it collects, and the
    requests idle while it commits). Groups touching the same vehicle do not wait for each other
    but for the statement that ends each (`feeds.ingest.ingest`)."""
    committer = rt.context.osmand
    await asyncio.gather(*(committer.run() for _ in range(rt.settings.osmand_committers)))
