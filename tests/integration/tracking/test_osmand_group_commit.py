"""The /osmand group committer against the real database: a group's BEGIN rides on the previous
group's COMMIT under load, a transaction so begun never idles, and a big group with a fix stored
before takes the savepoint path inside the committer's own transaction."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import asyncpg

from services.tracking.domain.fixes import Fix
from services.tracking.feeds.group_commit import OsmandGroupCommit
from services.tracking.main import build_context
from services.tracking.settings import TrackingSettings
from shared.context import Runtime
from shared.db import create_pool
from tests.conftest import Infra, run_sync
from tests.integration.tracking.core_support import minutes, new_vehicle, now, sql
from tests.support.wait import eventually


async def _idle_in_transaction(admin: asyncpg.Connection, pids: set[int]) -> int:
    return int(await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[]) "
                                    "AND state = 'idle in transaction'", list(pids)))


async def _committer_run(infra: Infra, max_group: int, body):  # type: ignore[no-untyped-def]
    """Run `body(committer, pids, admin)` with a committer on a pool of its own."""
    pool = await create_pool(infra.database_url, "tracking", min_size=2, max_size=2)
    admin = await asyncpg.connect(infra.database_url)
    try:
        taken = [await pool.acquire() for _ in range(2)]  # the pool's connections, to learn their pids
        pids = {await c.fetchval("SELECT pg_backend_pid()") for c in taken}
        for c in taken:
            await pool.release(c)
        rt = Runtime(service="tracking", settings=TrackingSettings(env="dev"), pool=pool)
        rt.context = await build_context(rt)
        committer = OsmandGroupCommit(rt, max_group)
        committer.IDLE_SECONDS = 0.3
        task = asyncio.create_task(committer.run())
        try:
            return await body(committer, pids, admin)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        await admin.close()
        await pool.close()


def test_next_begin_rides_on_the_commit_and_an_unused_one_is_rolled_back(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    vid, dev = new_vehicle(api, infra)
    t = now() - minutes(10)

    async def body(committer: OsmandGroupCommit, pids: set[int], admin: asyncpg.Connection) -> tuple[int, int]:
        # Long enough that the begun transaction is certainly still idle when it is looked at
        # (how long that takes is no part of the test); shortened below to see it ended.
        committer.IDLE_SECONDS = 60
        loop = asyncio.get_running_loop()

        def gone_caller() -> asyncio.Future[None]:  # a caller that went away (disconnected)
            gone: asyncio.Future[None] = loop.create_future()
            gone.cancel()
            return gone

        fixes = [Fix(device_id=dev, at=t + timedelta(seconds=i), lat=31.2, lon=121.4) for i in range(2)]
        callers = [asyncio.create_task(committer.submit(f)) for f in fixes]
        # One loop turn, not a wait: both callers run up to their enqueue, while the committer,
        # woken by the first put, has not yet run; then `gone` goes in behind them.
        await asyncio.sleep(0)
        # still in the queue when the first group commits
        committer.queue.put_nowait((Fix(device_id=dev, at=t, lat=0.0, lon=0.0), gone_caller()))
        await asyncio.gather(*callers)  # group of 2 (max_group), committed with more waiting
        during = await _idle_in_transaction(admin, pids)
        # No group coming: the committer, woken by another gone caller, now waits a short
        # IDLE_SECONDS for one and then ends the transaction.
        committer.IDLE_SECONDS = 0.05
        committer.queue.put_nowait((Fix(device_id=dev, at=t, lat=0.0, lon=0.0), gone_caller()))

        async def ended() -> bool:
            return await _idle_in_transaction(admin, pids) == 0
        await eventually(ended, what="the idle transaction ended")
        return during, committer.queue.qsize()

    during, left = run_sync(_committer_run(infra, 2, body))
    assert during == 1  # the next group's BEGIN went with the COMMIT
    assert left == 0  # the cancelled caller's fix was taken off the queue, not stored
    assert len(sql(infra, "SELECT 1 FROM tracking.positions WHERE vehicle_id = $1", vid)) == 2


def test_a_big_group_with_a_fix_stored_before_takes_the_savepoint_path(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    vid, dev = new_vehicle(api, infra)
    t = now() - minutes(30)
    fixes = [Fix(device_id=dev, at=t + timedelta(seconds=i), lat=31.2 + i / 1e4, lon=121.4) for i in range(100)]

    async def body(committer: OsmandGroupCommit, pids: set[int], admin: asyncpg.Connection) -> None:
        await committer.submit(fixes[50])  # stored alone first
        await asyncio.gather(*(committer.submit(f) for f in fixes))  # one group of 100, one of them stored

    run_sync(_committer_run(infra, 500, body))
    stored = sql(infra, "SELECT at FROM tracking.positions WHERE vehicle_id = $1 ORDER BY at", vid)
    assert [r["at"] for r in stored] == [f.at for f in fixes]
