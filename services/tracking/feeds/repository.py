"""SQL of the position feeds: the vehicles an ingest locks, the fixes it stores (`positions`,
and each vehicle moved to its newest fix with its stored track), the sampled tracks read back.
Every function takes the connection of the caller's transaction. (The partitions of `positions`
and their retention: feeds.partitions.)"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg import Record

from services.tracking.feeds.track_cache import pack_track
from services.tracking.shipments.repository import on_board_query

# --- vehicles, as an ingest locks them ----------------------------------------------------

_INGEST_VEHICLE_COLUMNS = ("vehicle_id, device_id, plate, carrier, last_fix_at, last_lat, last_lon, last_speed_kmh, "
                           "last_heading, last_sample_at, last_evaluated_at, recent_track, recent_track_since, "
                           "recent_track_sample_at")


async def _lock_vehicles_where(conn: asyncpg.Connection, column: str, values: Iterable[str]) -> list[Record]:
    # Locked in vehicle id order whatever the key: two transactions never deadlock on them.
    return await conn.fetch(
        f"SELECT {_INGEST_VEHICLE_COLUMNS} FROM vehicles WHERE {column} = ANY($1::text[]) "
        "ORDER BY vehicle_id FOR UPDATE", sorted(set(values)))


async def lock_vehicles(conn: asyncpg.Connection, ids: Iterable[str]) -> dict[str, Record]:
    """The vehicles, row-locked in id order (two batches touching the same vehicles never
    deadlock), with what ingest needs: owner, newest fix, newest sample."""
    return {r["vehicle_id"]: r for r in await _lock_vehicles_where(conn, "vehicle_id", ids)}


async def lock_vehicles_by_device(conn: asyncpg.Connection, devices: Iterable[str]) -> dict[str, Record]:
    """`lock_vehicles` found by their devices (keyed by device id): the /osmand group commit's
    first statement."""
    return {r["device_id"]: r for r in await _lock_vehicles_where(conn, "device_id", devices)}


# --- positions --------------------------------------------------------------------------

# The columns a stored fix is written with, and their types: the COPY column list, the staging
# table and the array casts of the small-group INSERT (`_STORE_SMALL`) all come from here.
_POSITION_TYPES = (("vehicle_id", "text"), ("at", "timestamptz"), ("lat", "float8"), ("lon", "float8"),
                   ("speed_kmh", "float8"), ("heading", "float8"), ("altitude", "float8"), ("accuracy", "float8"),
                   ("battery", "float8"), ("sampled", "boolean"))
POSITION_COLUMNS = tuple(name for name, _ in _POSITION_TYPES)
_INSERT_FROM_ARRAYS = (
    f"INSERT INTO positions ({', '.join(POSITION_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(_POSITION_TYPES, start=1))
    + ") ON CONFLICT (vehicle_id, at) DO NOTHING")
_STAGING = "positions_in"
_STAGING_DDL = (f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} ("
                + ", ".join(f"{name} {t}" for name, t in _POSITION_TYPES) + ") ON COMMIT DELETE ROWS")
_SMALL = 64  # up to this many fixes, one statement (INSERT ... SELECT unnest) beats a savepoint + COPY


async def _copy_positions(conn: asyncpg.Connection, records: Sequence[tuple[Any, ...]], *, all_new: bool) -> int:
    """Many fixes (tuples in POSITION_COLUMNS order), inside the caller's transaction: COPYed
    straight into `positions` (one pass, what the benchmark's raw-COPY ceiling does) inside a
    savepoint. Only when that hits the primary key (a retried batch, a fix sent twice) does it
    roll back to the savepoint and take the slower path: COPY into a session temp table, then
    INSERT ... ON CONFLICT DO NOTHING. Returns how many were new.

    `all_new`: the caller vouches that none can be stored yet (see `store_fixes`); the COPY then
    runs without the savepoint, two round trips fewer."""
    if all_new:
        await conn.copy_records_to_table("positions", records=records, columns=POSITION_COLUMNS)
        return len(records)
    # The savepoint in SQL, not `conn.transaction()`: the /osmand committer runs its groups in
    # transactions it begins itself (feeds.group_commit.OsmandGroupCommit), where asyncpg refuses to nest one.
    await conn.execute("SAVEPOINT positions_copy")
    try:
        await conn.copy_records_to_table("positions", records=records, columns=POSITION_COLUMNS)
    except asyncpg.UniqueViolationError:
        await conn.execute("ROLLBACK TO SAVEPOINT positions_copy")
    else:
        await conn.execute("RELEASE SAVEPOINT positions_copy")
        return len(records)
    await conn.execute(_STAGING_DDL)
    # ON COMMIT DELETE ROWS empties the staging table at every commit, so inside a transaction
    # it starts empty (the savepoint above left nothing in it).
    await conn.copy_records_to_table(_STAGING, records=records, columns=POSITION_COLUMNS)
    status: str = await conn.execute(
        f"INSERT INTO positions ({', '.join(POSITION_COLUMNS)}) "
        f"SELECT {', '.join(POSITION_COLUMNS)} FROM {_STAGING} ORDER BY vehicle_id, at "
        "ON CONFLICT (vehicle_id, at) DO NOTHING")
    return int(status.split()[-1])


_VEHICLE_FIX_ARRAYS = 11  # the parameters of `_vehicle_fixes_update`, as `_vehicle_fix_arrays` makes them


def _vehicle_fixes_update(first: int) -> str:
    """The UPDATE that moves each vehicle to its newest fix, sample, evaluation and stored track,
    its `_VEHICLE_FIX_ARRAYS` arrays (one element per vehicle) numbered from parameter `first` on
    (alone, or inside `_STORE_SMALL`)."""
    p = [f"${first + i}" for i in range(_VEHICLE_FIX_ARRAYS)]
    return f"""
        UPDATE vehicles v SET
            last_fix_at = COALESCE(n.at, v.last_fix_at), last_lat = COALESCE(n.lat, v.last_lat),
            last_lon = COALESCE(n.lon, v.last_lon),
            last_speed_kmh = CASE WHEN n.at IS NULL THEN v.last_speed_kmh ELSE n.speed_kmh END,
            last_heading = CASE WHEN n.at IS NULL THEN v.last_heading ELSE n.heading END,
            last_sample_at = n.sample_at, last_evaluated_at = COALESCE(n.evaluated_at, v.last_evaluated_at),
            recent_track = CASE WHEN n.write THEN n.track ELSE v.recent_track END,
            recent_track_since = CASE WHEN n.write THEN n.since ELSE v.recent_track_since END,
            recent_track_sample_at = n.sample_at
        FROM unnest({p[0]}::text[], {p[1]}::timestamptz[], {p[2]}::float8[], {p[3]}::float8[], {p[4]}::float8[],
                    {p[5]}::float8[], {p[6]}::timestamptz[], {p[7]}::timestamptz[], {p[8]}::boolean[],
                    {p[9]}::timestamptz[], {p[10]}::bytea[])
             AS n(vehicle_id, at, lat, lon, speed_kmh, heading, sample_at, evaluated_at, write, since, track)
        WHERE v.vehicle_id = n.vehicle_id"""


_VEHICLE_FIXES = _vehicle_fixes_update(1)
# A few fixes: stored and their vehicles moved in ONE statement (both data-modifying CTEs run to
# completion whatever the outer SELECT reads). An /osmand group waits on each round trip while
# the event loop serves the other requests, so each statement saved shortens every commit.
_STORE_SMALL = (f"WITH stored AS ({_INSERT_FROM_ARRAYS} RETURNING 1), "
                f"moved AS ({_vehicle_fixes_update(len(_POSITION_TYPES) + 1)} RETURNING 1) "
                "SELECT count(*) FROM stored")
_CLEAR_TRACKS = ("UPDATE vehicles SET recent_track = NULL, recent_track_since = NULL "
                 "WHERE vehicle_id = ANY($1::text[])")
# `store_fixes`' UPDATE of the vehicles and, in the same round trip, the shipments on board those
# evaluated now (`shipments.repository.on_board_many`; the data-modifying CTE runs to completion,
# the SELECT reads shipments only)
_VEHICLE_FIXES_THEN_ON_BOARD = (f"WITH moved AS ({_VEHICLE_FIXES} RETURNING 1) "
                                f"{on_board_query(_VEHICLE_FIX_ARRAYS + 1)}")

# What a vehicle's stored track becomes (track_cache.merge_track): None keeps it; (since, rows)
# replaces it, rows [epoch µs, lat, lon, speed_kmh] oldest first (since None clears it).
TrackWrite = tuple[datetime | None, Sequence[Sequence[Any]]] | None
# (vehicle id, its new newest fix (at, lat, lon, speed_kmh, heading) or None, its newest sample
# time, the fix time its shipments were evaluated at now or None, its stored track)
VehicleFix = tuple[str, tuple[Any, ...] | None, datetime | None, datetime | None, TrackWrite]
_NO_FIX = (None, None, None, None, None)


def _vehicle_fix_arrays(changes: Sequence[VehicleFix]) -> list[Sequence[Any]]:
    fixes = [c[1] or _NO_FIX for c in changes]
    tracks = [c[4] for c in changes]
    return _columns([[c[0] for c in changes], [f[0] for f in fixes], [f[1] for f in fixes], [f[2] for f in fixes],
                     [f[3] for f in fixes], [f[4] for f in fixes], [c[2] for c in changes], [c[3] for c in changes],
                     [None if t is None else True for t in tracks], [None if t is None else t[0] for t in tracks],
                     [None if t is None or t[0] is None else pack_track(t[1]) for t in tracks]])


def _columns(columns: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    """Array parameters for a multi-argument `unnest`, each column that holds only NULLs sent as an
    empty array: unnest pads a shorter array with NULLs, and the driver encodes an array element
    by element (a type check each), on the ingest hot path."""
    return [() if column.count(None) == len(column) else column for column in columns]


async def store_fixes(conn: asyncpg.Connection, records: Sequence[tuple[Any, ...]],
                      changes: Sequence[VehicleFix], *, all_new: bool = False,
                      on_board: Sequence[str] = ()) -> tuple[int, list[Record] | None]:
    """Store fixes (tuples in POSITION_COLUMNS order; a fix already stored, same vehicle and same
    time, is kept once) and move each changed vehicle (locked by the caller) to its new newest fix
    `(at, lat, lon, speed_kmh, heading)` (None: the fixes did not advance it), its newest sample
    time, when its shipments are evaluated now that fix time, and its stored track (`VehicleFix`).
    Returns how many fixes were new. When that is fewer than given (a fix sent twice), which
    sampled fixes were kept is not known here: the changed vehicles' stored tracks are cleared
    instead of written (read back from `positions` at their next fix).

    Shaped for the ingest hot path: a few fixes (an /osmand group) take ONE statement for both
    (`_STORE_SMALL`); a batch is COPYed (`_copy_positions`), then one UPDATE moves its vehicles.

    `all_new`: the caller vouches that no fix can be stored yet: each is later than its vehicle's
    newest fix (`last_fix_at`, read under the vehicle's lock, which every writer of fixes takes)
    and none comes twice. A batch is then COPYed without a savepoint; should a conflict happen
    anyway (something stored a fix without moving its vehicle), UniqueViolationError aborts the
    transaction, and the caller retries without vouching.

    Returns how many fixes were new and, when `on_board` names vehicles and the fixes were
    COPYed, `shipments.repository.on_board_many(on_board)` read in the UPDATE's round trip (else None: the caller
    reads it)."""
    if not conn.is_in_transaction():
        raise RuntimeError("store_fixes must run inside a transaction")
    if 0 < len(records) <= _SMALL:
        stored: int = await conn.fetchval(_STORE_SMALL, *_columns(list(zip(*records, strict=True))),
                                          *_vehicle_fix_arrays(changes))
        if stored < len(records) and changes:
            await conn.execute(_CLEAR_TRACKS, [c[0] for c in changes])
        return stored, None
    stored = await _copy_positions(conn, records, all_new=all_new)
    if not changes:
        return stored, None
    if stored < len(records):
        changes = [(*c[:4], (None, ())) for c in changes]  # the tracks cleared
    if on_board:
        return stored, await conn.fetch(_VEHICLE_FIXES_THEN_ON_BOARD, *_vehicle_fix_arrays(changes), list(on_board),
                                        None)
    await conn.execute(_VEHICLE_FIXES, *_vehicle_fix_arrays(changes))
    return stored, None


async def recent_tracks(
        conn: asyncpg.Connection, windows: Sequence[tuple[str, datetime, datetime]],
) -> dict[str, list[list[float | None]]]:
    """Each vehicle's sampled fixes (domain.track.sample_track) inside its own (since, until) window as a
    `domain.track.TrackRow` list, oldest first: [epoch microseconds, lat, lon, speed_kmh or None] — one
    query for all the vehicles of a transaction, each window served by the partial index
    positions_sampled_idx."""
    # One row per vehicle, its track one 2-D float8 array: one sort per vehicle and plain floats
    # to decode (a datetime per fix cost more than the rules that read it; epoch microseconds are
    # below 2**53, exact in a float8).
    # LATERAL, one index range per vehicle: as a plain join, a plan cached while `positions` was
    # small (a new database, a new partition of history) is a hash join over a sequential scan,
    # which a prepared statement keeps using while the table grows under it.
    rows = await conn.fetch(
        "SELECT w.vehicle_id, t.track "
        "FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS w(vehicle_id, since, until) "
        "CROSS JOIN LATERAL (SELECT array_agg(ARRAY[(extract(epoch FROM p.at) * 1000000)::float8, p.lat, p.lon, "
        "p.speed_kmh] ORDER BY p.at) AS track "
        "FROM positions p WHERE p.vehicle_id = w.vehicle_id AND p.at BETWEEN w.since AND w.until AND p.sampled) t "
        "WHERE t.track IS NOT NULL",
        [w[0] for w in windows], [w[1] for w in windows], [w[2] for w in windows])
    return {r["vehicle_id"]: r["track"] for r in rows}

