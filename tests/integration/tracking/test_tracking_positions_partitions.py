"""`positions` partitioned by fix time (migration 0016, feeds.partitions): the conversion of an existing
table keeps every row and index, fixes land in their day's partition (or the default one, and move out
at the next maintenance), retention drops whole expired partitions and keeps recent ones, the job is
idempotent and safe run twice at once, and reads across partition boundaries return the same rows,
pruned to the partitions they need.

Each test works in a schema of its own, migrated here with tracking's migrations (the running stack's
`tracking` schema, whose own job runs meanwhile, is left alone), except the one through the API."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.tracking.context import TrackingRuntime
from services.tracking.feeds import repository
from services.tracking.feeds.partitions import (
    DEFAULT,
    LEGACY,
    day_start,
    ensure_partitions,
    maintain_partitions,
    partition_name,
    partitions,
    run_maintenance,
    utc_day,
)
from services.tracking.settings import TrackingSettings
from shared.context import Runtime
from shared.db import create_pool, migrate, migrations_for
from shared.devtools.plans import plan_nodes
from shared.devtools.stack import Stack
from shared.migrate import service_dir
from tests.conftest import Infra, unique
from tests.integration.tracking.core_support import client, fix, new_vehicle, post_positions, sql

BEFORE = "0016_positions_partitioned"
TRACK_SQL = ("SELECT at, lat, lon, speed_kmh FROM positions WHERE vehicle_id = $1 AND at BETWEEN $2 AND $3 "
             "ORDER BY at")


def _migrations(until: str | None = None) -> list[Any]:
    ms = migrations_for(service_dir("tracking"))
    return ms if until is None else [m for m in ms if m.version < until]


async def _schema(infra: Infra, until: str | None = None) -> str:
    schema = f"tp_{unique().lower()}"
    await migrate(infra.database_url, schema, _migrations(until))
    return schema


@pytest.fixture
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    schema = await _schema(infra)
    p = await create_pool(infra.database_url, schema, min_size=1, max_size=4)
    try:
        yield p
    finally:
        try:  # a failed test may leave a connection acquired: never hang the suite on it
            await asyncio.wait_for(p.close(), timeout=10)
        except TimeoutError:
            p.terminate()
        conn = await asyncpg.connect(infra.database_url)
        try:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        finally:
            await conn.close()


def _row(vid: str, at: datetime, lat: float = 31.0) -> tuple[Any, ...]:
    # POSITION_COLUMNS order: vehicle_id, at, lat, lon, speed_kmh, heading, altitude, accuracy, battery, sampled
    return (vid, at, lat, 121.0, 60.0, 280.0, None, None, None, True)


async def _insert(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> int:
    """Through the ingest's own statements: a few fixes by INSERT ... unnest ... ON CONFLICT, many by COPY."""
    async with conn.transaction():
        return await repository.store_positions(conn, sorted(rows, key=lambda r: (r[0], r[1])), all_new=False)


async def _where(conn: asyncpg.Connection, vid: str) -> dict[datetime, str]:
    """Each fix of the vehicle and the partition it is stored in."""
    rows = await conn.fetch("SELECT at, tableoid::regclass::text AS part FROM positions WHERE vehicle_id = $1", vid)
    return {r["at"]: r["part"].split(".")[-1] for r in rows}


def _noon(day: date) -> datetime:
    return day_start(day) + timedelta(hours=12)


# --- the migration ------------------------------------------------------------------------------


async def test_a_new_database_gets_daily_partitions_and_a_default_one(pool: asyncpg.Pool) -> None:
    today = utc_day(datetime.now(UTC))
    async with pool.acquire() as conn:
        parts = await partitions(conn)
        kind = await conn.fetchval("SELECT relkind::text FROM pg_class WHERE oid = 'positions'::regclass")
    assert kind == "p"
    names = [p.name for p in parts]
    assert LEGACY not in names  # the old table was empty: dropped, not attached
    assert DEFAULT in names
    assert [p.name for p in parts if not p.default] == [partition_name(today + timedelta(days=i)) for i in range(8)]
    for p in parts:
        if not p.default:
            assert p.lower is not None and p.upper is not None and p.upper - p.lower == timedelta(days=1)
            assert p.lower == day_start(utc_day(p.lower))


async def test_converting_a_table_with_rows_keeps_them_all_and_its_indexes(infra: Infra) -> None:
    schema = await _schema(infra, until=BEFORE)
    conn = await asyncpg.connect(infra.database_url, server_settings={"search_path": schema})
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        vid = "VLEGACY"
        rows = [_row(vid, now - timedelta(days=d, minutes=m), lat=30 + d / 100)
                for d in (100, 60, 3, 1, 0) for m in (0, 7)]
        await conn.copy_records_to_table("positions", records=rows, columns=repository.POSITION_COLUMNS)
        before = await conn.fetch("SELECT * FROM positions ORDER BY vehicle_id, at")
        # the previous release's indexes, whose files must be taken over, not rebuilt
        old_indexes = dict(await conn.fetch("SELECT relname, relfilenode FROM pg_class WHERE relname = ANY($1)",
                                            ["positions_pkey", "positions_sampled_idx", "positions_at_brin"]))

        applied = await migrate(infra.database_url, schema, _migrations())
        assert BEFORE in applied

        assert await conn.fetchval("SELECT relkind::text FROM pg_class WHERE oid = 'positions'::regclass") == "p"
        after = await conn.fetch("SELECT * FROM positions ORDER BY vehicle_id, at")
        assert [dict(r) for r in after] == [dict(r) for r in before]
        assert set((await _where(conn, vid)).values()) == {LEGACY}
        parts = {p.name: p for p in await partitions(conn)}
        legacy = parts[LEGACY]
        assert legacy.lower is None and legacy.upper == day_start(utc_day(now) + timedelta(days=3))
        first_daily = utc_day(legacy.upper)
        assert partition_name(first_daily) in parts and partition_name(first_daily - timedelta(days=1)) not in parts
        # the old indexes are now the legacy partition's, the same files
        renamed = dict(await conn.fetch(
            "SELECT relname, relfilenode FROM pg_class WHERE relname = ANY($1)",
            ["positions_legacy_pkey", "positions_legacy_sampled_idx", "positions_legacy_at_brin"]))
        assert sorted(renamed.values()) == sorted(old_indexes.values())
        attached = await conn.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = ANY(ARRAY['positions_pkey', 'positions_sampled_idx', 'positions_at_brin']"
            "::regclass[]) AND c.relname LIKE 'positions_legacy%'")
        assert len(attached) == 3
        # the primary key still keeps a fix once, across the old rows
        assert await _insert(conn, [_row(vid, now - timedelta(days=1)), _row(vid, now + timedelta(minutes=1))]) == 1
        # migrating again changes nothing
        assert await migrate(infra.database_url, schema, _migrations()) == []
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


async def test_a_delete_through_the_parent_is_refused(pool: asyncpg.Pool) -> None:
    """The previous release's sweep deleted by ctid through `positions`: across partitions that would
    hit other days' rows, so the parent refuses any DELETE; a partition's own is fine."""
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        await _insert(conn, [_row("VDEL", now)])
        with pytest.raises(asyncpg.FeatureNotSupportedError):
            await conn.execute("DELETE FROM positions WHERE ctid = ANY(ARRAY(SELECT ctid FROM positions "
                               "WHERE at < $1 LIMIT 10))", now + timedelta(days=1))
        assert await conn.fetchval("SELECT count(*) FROM positions") == 1
        part = partition_name(utc_day(now))
        assert await conn.execute(f"DELETE FROM {part} WHERE vehicle_id = 'VDEL'") == "DELETE 1"


# --- where fixes land --------------------------------------------------------------------------


async def test_fixes_land_in_their_days_partition_or_the_default_one_until_moved(pool: asyncpg.Pool) -> None:
    now = datetime.now(UTC)
    today = utc_day(now)
    vid = "VLAND"
    old = [_noon(today - timedelta(days=d)) for d in (5, 3)]  # no partition for those days yet
    small = [_row(vid, t) for t in (*old, _noon(today), _noon(today + timedelta(days=2)))]
    many = [_row(vid, day_start(today + timedelta(days=1)) + timedelta(seconds=s)) for s in range(100)]  # COPY
    async with pool.acquire() as conn:
        assert await _insert(conn, small) == 4
        assert await _insert(conn, many) == 100
        where = await _where(conn, vid)
        assert {where[t] for t in old} == {DEFAULT}
        assert where[_noon(today)] == partition_name(today)
        assert where[_noon(today + timedelta(days=2))] == partition_name(today + timedelta(days=2))
        assert {where[r[1]] for r in many} == {partition_name(today + timedelta(days=1))}
        # a boundary: midnight belongs to the day it starts
        midnight = day_start(today + timedelta(days=3))
        await _insert(conn, [_row(vid, midnight), _row(vid, midnight - timedelta(microseconds=1))])
        where = await _where(conn, vid)
        assert where[midnight] == partition_name(today + timedelta(days=3))
        assert where[midnight - timedelta(microseconds=1)] == partition_name(today + timedelta(days=2))

        done = await maintain_partitions(conn, now=now, ahead_days=7, retention_days=90, batch=1000)
        assert done.created == [partition_name(today - timedelta(days=d)) for d in (5, 3, 1)]
        assert done.moved == 2 and done.dropped == [] and done.deleted == 0
        where = await _where(conn, vid)
        assert [where[t] for t in old] == [partition_name(today - timedelta(days=d)) for d in (5, 3)]
        assert await conn.fetchval(f"SELECT count(*) FROM {DEFAULT}") == 0
        assert len(where) == 106  # nothing lost, nothing doubled
        # the primary key holds across the move: the moved fix is still a duplicate
        assert await _insert(conn, [_row(vid, old[0])]) == 0


def test_fixes_posted_through_the_api_land_in_todays_partition(stack: Stack, infra: Infra) -> None:
    with client(stack.url("tracking")) as api:
        vid, dev = new_vehicle(api, infra)
        t = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        assert post_positions(api, infra, [fix(vid, t, 31.2, 121.4)]).status_code == 200
        r = api.get("/osmand", params={"id": dev, "lat": 31.21, "lon": 121.41, "timestamp": int(t.timestamp()) + 30})
        assert r.status_code == 200, r.text
    rows = sql(infra, "SELECT at, tableoid::regclass::text AS part FROM tracking.positions WHERE vehicle_id = $1 "
                      "ORDER BY at", vid)
    assert [r["at"] for r in rows] == [t, t + timedelta(seconds=30)]
    # (the stack's own job created yesterday's to a week ahead's when it started)
    assert [r["part"] for r in rows] == [f"tracking.{partition_name(utc_day(r['at']))}" for r in rows]


# --- retention ---------------------------------------------------------------------------------


async def test_retention_drops_whole_expired_partitions_and_keeps_recent_ones(pool: asyncpg.Pool) -> None:
    start = datetime.now(UTC)
    today = utc_day(start)
    vid = "VRET"
    async with pool.acquire() as conn:
        await ensure_partitions(conn, today - timedelta(days=6), today)
        await _insert(conn, [_row(vid, _noon(today - timedelta(days=d))) for d in range(0, 7)]
                      + [_row(vid, _noon(today - timedelta(days=40)))])  # in the default partition
        # five days of retention at noon today: the days that ended before noon 5 days ago are gone
        now = _noon(today)
        done = await maintain_partitions(conn, now=now, ahead_days=7, retention_days=5, batch=1000)
        expired = [partition_name(today - timedelta(days=d)) for d in (6,)]
        assert done.dropped == expired
        assert done.deleted == 1  # the default partition's old fix, deleted row by row
        names = {p.name for p in await partitions(conn)}
        assert not names & set(expired)
        # the day spanning the cutoff (5 days ago: its noon fix is exactly 5 days old) is kept whole
        kept = [partition_name(today - timedelta(days=d)) for d in range(0, 6)]
        assert set(kept) <= names
        ats = sorted((await _where(conn, vid)).keys())
        assert ats == [_noon(today - timedelta(days=d)) for d in range(5, -1, -1)]
        # a day later, the next one goes; the fixes of the others stay
        done = await maintain_partitions(conn, now=now + timedelta(days=1), ahead_days=7, retention_days=5,
                                         batch=1000)
        assert done.dropped == [partition_name(today - timedelta(days=5))]
        assert len(await _where(conn, vid)) == 5


async def test_retention_deletes_expired_rows_of_the_legacy_partition_then_drops_it(infra: Infra) -> None:
    schema = await _schema(infra, until=BEFORE)
    conn = await asyncpg.connect(infra.database_url, server_settings={"search_path": schema})
    try:
        start = datetime.now(UTC)
        rows = [_row("VOLD", start - timedelta(days=d)) for d in (30, 20, 10, 1)]
        await conn.copy_records_to_table("positions", records=rows, columns=repository.POSITION_COLUMNS)
        await migrate(infra.database_url, schema, _migrations())
        done = await maintain_partitions(conn, now=start, ahead_days=2, retention_days=15, batch=100)
        assert done.deleted == 2 and done.dropped == []
        assert sorted(await _where(conn, "VOLD")) == [start - timedelta(days=d) for d in (10, 1)]
        legacy = {p.name: p for p in await partitions(conn)}[LEGACY]
        assert legacy.upper is not None
        done = await maintain_partitions(conn, now=legacy.upper + timedelta(days=15), ahead_days=2,
                                         retention_days=15, batch=100)
        assert LEGACY in done.dropped
        assert LEGACY not in {p.name for p in await partitions(conn)}
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


# --- the job: idempotent, and safe twice at once ---------------------------------------------------


async def test_the_job_is_idempotent_and_two_runs_at_once_do_each_thing_once(pool: asyncpg.Pool) -> None:
    now = datetime.now(UTC)
    today = utc_day(now)
    async with pool.acquire() as conn:
        await _insert(conn, [_row("VTWO", _noon(today - timedelta(days=d))) for d in (2, 3, 4)])
    before = await _list(pool)

    async def run() -> Any:
        async with pool.acquire() as conn:
            return await maintain_partitions(conn, now=now, ahead_days=12, retention_days=90, batch=1000)

    first, second = await asyncio.gather(run(), run())
    created = first.created + second.created
    assert sorted(created) == sorted(set(created))  # no partition made twice
    expected = {partition_name(today - timedelta(days=d)) for d in (1, 2, 3, 4)} | \
        {partition_name(today + timedelta(days=d)) for d in range(8, 13)}
    assert set(created) == expected
    assert first.moved + second.moved == 3
    after = await _list(pool)
    assert after == sorted(before + list(expected))
    again = await run()
    assert again.created == [] and again.dropped == [] and again.moved == 0 and again.deleted == 0
    assert await _list(pool) == after
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM positions WHERE vehicle_id = 'VTWO'") == 3


async def test_fixes_stored_while_their_days_partition_is_created_are_neither_lost_nor_refused(
        pool: asyncpg.Pool) -> None:
    """Fixes of a day without a partition go on arriving (into the default partition) while the job
    creates that day's: each lands once, and none is left behind in the default partition."""
    now = datetime.now(UTC)
    day = utc_day(now) - timedelta(days=20)
    stop, started = asyncio.Event(), asyncio.Event()
    stored: list[datetime] = []

    async def feed() -> None:
        async with pool.acquire() as conn:
            i = 0
            while not stop.is_set() or i < 20:
                at = day_start(day) + timedelta(seconds=i)
                await _insert(conn, [_row("VRACE", at)])
                stored.append(at)
                i += 1
                if i == 5:
                    started.set()

    async def job() -> None:
        async with pool.acquire() as conn:
            await started.wait()  # the feed is storing fixes of that day
            await maintain_partitions(conn, now=now, ahead_days=1, retention_days=90, batch=1000)
        stop.set()

    await asyncio.gather(feed(), job())
    async with pool.acquire() as conn:
        await maintain_partitions(conn, now=now, ahead_days=1, retention_days=90, batch=1000)
        where = await _where(conn, "VRACE")
    assert sorted(where) == stored
    assert set(where.values()) == {partition_name(day)}


async def test_the_services_job_runs_with_its_settings_and_logs_what_it_did(
        pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture) -> None:
    now = datetime.now(UTC)
    today = utc_day(now)
    settings = TrackingSettings(env="dev", positions_partition_ahead_days=9)
    rt: TrackingRuntime = Runtime(service="tracking", settings=settings, pool=pool)
    with caplog.at_level(logging.INFO, logger="lcs.tracking.feeds"):
        done = await run_maintenance(rt, now=now)
    assert done.created == [partition_name(today - timedelta(days=1))] + \
        [partition_name(today + timedelta(days=d)) for d in (8, 9)]
    (record,) = [r for r in caplog.records if r.getMessage() == "positions partitions maintained"]
    assert record.partitions_created == done.created  # type: ignore[attr-defined]
    assert (await run_maintenance(rt, now=now)).created == []


async def _list(pool: asyncpg.Pool) -> list[str]:
    async with pool.acquire() as conn:
        return sorted(p.name for p in await partitions(conn))


# --- reads across partitions -------------------------------------------------------------------


async def test_reads_across_partition_boundaries_return_every_row_and_are_pruned(pool: asyncpg.Pool) -> None:
    now = datetime.now(UTC)
    today = utc_day(now)
    vid, other = "VREAD", "VOTHER"
    midnight = day_start(today + timedelta(days=1))
    times = [midnight + timedelta(minutes=m) for m in range(-180, 180, 7)]  # across midnight
    rows = [_row(vid, t, lat=31 + i / 1000) for i, t in enumerate(times)] + [_row(other, t) for t in times]
    async with pool.acquire() as conn:
        await _insert(conn, rows)
        await conn.execute("ANALYZE positions")
        since, until = midnight - timedelta(hours=2), midnight + timedelta(hours=2)
        want = [t for t in times if since <= t <= until]
        # the figure-5 track query
        got = await conn.fetch(TRACK_SQL, vid, since, until)
        assert [r["at"] for r in got] == want
        assert [r["lat"] for r in got] == [31 + times.index(t) / 1000 for t in want]
        # pruned to the two days' partitions (not the default one, nor any other day's), at plan time
        # for literal bounds and at run time for a prepared statement's parameters (the generic plan)
        both = {partition_name(today), partition_name(today + timedelta(days=1))}
        literal = TRACK_SQL.replace("$1", f"'{vid}'").replace("$2", f"'{since.isoformat()}'").replace(
            "$3", f"'{until.isoformat()}'")
        async with conn.transaction():
            # a few dozen rows are read fastest by a sequential scan; the big table's plan (docs/BENCHMARKS.md)
            # takes the index, which is what this shows it can
            await conn.execute("SET LOCAL enable_seqscan = off")
            plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {literal}")
            assert _relations(plan) == both
            assert _index_names(plan) == {f"{p}_pkey" for p in both}
            await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            await conn.execute(f"PREPARE track(text, timestamptz, timestamptz) AS {TRACK_SQL}")
            plan = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE track('{vid}', "
                                       f"'{since.isoformat()}', '{until.isoformat()}')")
            await conn.execute("DEALLOCATE track")
            assert _relations(plan) >= both  # planned for every partition, then ...
            assert _executed(plan) == both  # ... only these two opened
        # the evaluation's read of sampled tracks (LATERAL, one index range per vehicle): pruned at run time
        tracks = await repository.recent_tracks(conn, [(vid, since, until), (other, since, midnight)])
        assert [int(r[0] or 0) for r in tracks[vid]] == [int(t.timestamp() * 1_000_000) for t in want]
        assert len(tracks[other]) == len([t for t in times if since <= t <= midnight])


def _relations(plan: Any) -> set[str]:
    return {node["Relation Name"] for node in plan_nodes(plan) if "Relation Name" in node}


def _index_names(plan: Any) -> set[str]:
    return {node["Index Name"] for node in plan_nodes(plan) if "Index Name" in node}


def _executed(plan: Any) -> set[str]:
    """The relations an EXPLAIN ANALYZE's plan really scanned (a run-time pruned subplan is either left
    out or shown never executed)."""
    return {node["Relation Name"] for node in plan_nodes(plan)
            if "Relation Name" in node and node.get("Actual Loops", 1) > 0}
