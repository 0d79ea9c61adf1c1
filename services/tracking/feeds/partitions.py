"""The partitions of `positions` (migration 0016): one per UTC day of fix time, plus `positions_legacy`
(everything before the partitioning, until it expires) and `positions_default` (a fix no daily partition
takes: never refused for want of one).

`maintain_partitions`, the service's periodic job (one replica at a time: the scheduler's advisory lock;
and every change of partitions below takes a transaction-level advisory lock of its own and looks again
at what exists, so two runs at once — a leader's takeover, a manual run — do each thing once):

- creates the partition of every day from yesterday to `LCS_POSITIONS_PARTITION_AHEAD_DAYS` ahead,
  and of every day the default partition holds fixes of (moving them into it);
- retention: drops every partition whose whole range is older than `LCS_POSITIONS_RETENTION_DAYS`
  (DETACH, then DROP: no row is deleted one by one), and deletes the expired rows of the two partitions
  that span many days (legacy, default) in batches of `LCS_POSITIONS_SWEEP_BATCH`. A daily partition is
  dropped once its last fix has expired, so a fix is kept between the retention period and one day more.

The DDL takes short strong locks (creating a partition: SHARE on `positions`, so writers of fixes wait a
moment and readers do not; DETACH/DROP: ACCESS EXCLUSIVE on it for a moment), each under `lock_timeout`:
behind a long transaction it gives up and the next run tries again, instead of queueing every writer
behind it."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import asyncpg

from services.tracking.context import TrackingRuntime

log = logging.getLogger("lcs.tracking.feeds")

PARENT = "positions"
DEFAULT = "positions_default"
LEGACY = "positions_legacy"
_DAILY = re.compile(r"^positions_p\d{8}$")
_LOCK = (0x5C4ED, 0x7057)  # (namespace, key) of the transaction-level advisory lock of partition changes
LOCK_TIMEOUT = "3s"
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Partition:
    name: str
    lower: datetime | None  # None: MINVALUE (the legacy partition) or the default partition
    upper: datetime | None  # None: the default partition
    default: bool = False


@dataclass
class Maintenance:
    """What one run did."""
    created: list[str] = field(default_factory=list)
    moved: int = 0  # fixes moved out of the default partition into the partitions created for them
    dropped: list[str] = field(default_factory=list)
    deleted: int = 0  # expired fixes deleted row by row (legacy and default partitions)
    skipped: list[str] = field(default_factory=list)  # what a lock timeout left for the next run


def partition_name(day: date) -> str:
    return f"positions_p{day:%Y%m%d}"


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def utc_day(t: datetime) -> date:
    return t.astimezone(UTC).date()


# Bounds as PostgreSQL prints them, read back as timestamptz in the same session (whatever its TimeZone).
_PARTITIONS = rf"""
    SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' AS is_default,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']*)''\)'))[1]::timestamptz AS lower,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']*)''\)'))[1]::timestamptz AS upper
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = '{PARENT}'::regclass
    ORDER BY lower NULLS FIRST, c.relname"""


async def partitions(conn: asyncpg.Connection) -> list[Partition]:
    """The partitions of `positions`, oldest first (legacy, daily...), the default one among them."""
    return [Partition(r["name"], r["lower"], r["upper"], r["is_default"]) for r in await conn.fetch(_PARTITIONS)]


def _covered(parts: Iterable[Partition], lo: datetime, hi: datetime) -> bool:
    """Whether some partition other than the default takes any time of [lo, hi)."""
    return any(not p.default and p.upper is not None and p.upper > lo and (p.lower is None or p.lower < hi)
               for p in parts)


async def _lock(conn: asyncpg.Connection) -> None:
    await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *_LOCK)


async def ensure_partition(conn: asyncpg.Connection, day: date) -> tuple[bool, int]:
    """The partition of `day` (UTC), created unless some partition takes that day already; the fixes the
    default partition holds of that day move into it. Returns (created, fixes moved). Its own
    transaction; waits for no lock longer than LOCK_TIMEOUT (asyncpg.LockNotAvailableError)."""
    lo, hi = day_start(day), day_start(day + DAY)
    name = partition_name(day)
    async with conn.transaction():
        await _lock(conn)
        if _covered(await partitions(conn), lo, hi):
            return False, 0
        # Writers of fixes wait for this transaction (SHARE conflicts with their ROW EXCLUSIVE; readers
        # go on), and those under way finish first: a fix stored into the default partition between
        # the move and the ATTACH would make the ATTACH fail, and one routed to the default partition
        # before the ATTACH but stored after it would fail itself. A writer that waited here routes
        # its rows with the new partition. Milliseconds for the days ahead (nothing to move).
        await conn.execute(f"LOCK TABLE {PARENT} IN SHARE MODE")
        await conn.execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS)")
        status = await conn.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE at >= $1 AND at < $2 RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved", lo, hi)
        # The partitioned indexes are built on the new table here (on the moved fixes only).
        await conn.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} "
                           f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')")
    return True, int(status.split()[-1])


async def ensure_partitions(conn: asyncpg.Connection, first: date, last: date) -> list[str]:
    """The partitions of every day from `first` to `last` (UTC, inclusive); the names created."""
    created = []
    day = first
    while day <= last:
        made, _ = await ensure_partition(conn, day)
        if made:
            created.append(partition_name(day))
        day += DAY
    return created


async def _default_days(conn: asyncpg.Connection, since: datetime) -> list[date]:
    rows = await conn.fetch(f"SELECT DISTINCT (at AT TIME ZONE 'UTC')::date AS day FROM {DEFAULT} "
                            "WHERE at >= $1 ORDER BY 1", since)
    return [r["day"] for r in rows]


async def _drop(conn: asyncpg.Connection, part: Partition) -> bool:
    async with conn.transaction():
        await _lock(conn)
        if part.name not in {p.name for p in await partitions(conn)}:
            return False
        await conn.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {part.name}")
        await conn.execute(f"DROP TABLE {part.name}")
    return True


async def _delete_expired(conn: asyncpg.Connection, name: str, before: datetime, batch: int) -> int:
    """Row by row, in batches (each its own statement): only in the partitions spanning many days.
    By ctid on the partition itself, where a ctid is unique."""
    total = 0
    while True:
        status: str = await conn.execute(
            f"DELETE FROM {name} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {name} WHERE at < $1 LIMIT $2))",
            before, batch)
        deleted = int(status.split()[-1])
        total += deleted
        if deleted < batch:
            return total


async def maintain_partitions(conn: asyncpg.Connection, *, now: datetime, ahead_days: int, retention_days: int,
                              batch: int) -> Maintenance:
    """One run of the job (see the module's docstring), on a connection outside any transaction."""
    done = Maintenance()
    cutoff = now - timedelta(days=retention_days)
    today = utc_day(now)
    days = sorted({*(today + timedelta(days=i) for i in range(-1, ahead_days + 1)),
                   *await _default_days(conn, cutoff)})
    for day in days:
        try:
            made, moved = await ensure_partition(conn, day)
        except asyncpg.LockNotAvailableError:
            done.skipped.append(partition_name(day))
            continue
        if made:
            done.created.append(partition_name(day))
            done.moved += moved
    for part in await partitions(conn):
        if part.default or part.upper is None:
            continue
        if part.upper <= cutoff:
            try:
                if await _drop(conn, part):
                    done.dropped.append(part.name)
            except asyncpg.LockNotAvailableError:
                done.skipped.append(part.name)
        elif (part.lower is None or part.lower < cutoff) and not _DAILY.match(part.name):
            # the legacy partition (or one made by hand) spanning the cutoff
            done.deleted += await _delete_expired(conn, part.name, cutoff, batch)
    done.deleted += await _delete_expired(conn, DEFAULT, cutoff, batch)
    return done


async def run_maintenance(rt: TrackingRuntime, *, now: datetime) -> Maintenance:
    s = rt.settings
    async with rt.pool.acquire() as conn:
        done = await maintain_partitions(conn, now=now, ahead_days=s.positions_partition_ahead_days,
                                         retention_days=s.positions_retention_days, batch=s.positions_sweep_batch)
    if done.created or done.dropped or done.deleted or done.skipped:
        # (not "created": a LogRecord attribute)
        log.info("positions partitions maintained",
                 extra={"partitions_created": done.created, "fixes_moved": done.moved,
                        "partitions_dropped": done.dropped, "fixes_deleted": done.deleted,
                        "skipped": done.skipped})
    return done
