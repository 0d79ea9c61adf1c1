"""SQL of the tracking core, one section per table family. Every function takes the
connection of the caller's transaction; none opens its own."""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg import Record

from services.tracking.domain import DelayState, ScanState

# --- stations ---------------------------------------------------------------------------


async def upsert_station(conn: asyncpg.Connection, code: str, data: dict[str, Any]) -> bool:
    """Create or replace a station; True when it was created."""
    created: bool = await conn.fetchval(
        """
        INSERT INTO stations (code, name, city, region, lat, lon, contact_phone, contact_email)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (code) DO UPDATE SET
            name = EXCLUDED.name, city = EXCLUDED.city, region = EXCLUDED.region,
            lat = EXCLUDED.lat, lon = EXCLUDED.lon, contact_phone = EXCLUDED.contact_phone,
            contact_email = EXCLUDED.contact_email, updated_at = now()
        RETURNING (xmax = 0)
        """,
        code, data["name"], data["city"], data["region"], data["lat"], data["lon"],
        data.get("contact_phone"), data.get("contact_email"),
    )
    return created


async def get_station(conn: asyncpg.Connection, code: str) -> Record | None:
    return await conn.fetchrow("SELECT * FROM stations WHERE code = $1", code)


async def stations_by_code(conn: asyncpg.Connection, codes: Sequence[str]) -> dict[str, Record]:
    rows = await conn.fetch("SELECT * FROM stations WHERE code = ANY($1::text[])", list(set(codes)))
    return {r["code"]: r for r in rows}


async def list_stations(conn: asyncpg.Connection, *, after: str | None, limit: int) -> list[Record]:
    return await conn.fetch(
        "SELECT * FROM stations WHERE ($1::text IS NULL OR code > $1) ORDER BY code LIMIT $2",
        after, limit)


# --- vehicles ---------------------------------------------------------------------------


async def upsert_vehicle(conn: asyncpg.Connection, vehicle_id: str, data: dict[str, Any]) -> bool:
    """Create or replace a vehicle's registry data (never its positions); True when created."""
    created: bool = await conn.fetchval(
        """
        INSERT INTO vehicles (vehicle_id, plate, carrier, driver_name, driver_phone, device_id)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (vehicle_id) DO UPDATE SET
            plate = EXCLUDED.plate, carrier = EXCLUDED.carrier, driver_name = EXCLUDED.driver_name,
            driver_phone = EXCLUDED.driver_phone, device_id = EXCLUDED.device_id, updated_at = now()
        RETURNING (xmax = 0)
        """,
        vehicle_id, data["plate"], data["carrier"], data.get("driver_name"), data.get("driver_phone"),
        data.get("device_id"),
    )
    return created


async def get_vehicle(conn: asyncpg.Connection, vehicle_id: str, *, for_update: bool = False) -> Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT * FROM vehicles WHERE vehicle_id = $1{lock}", vehicle_id)


async def vehicle_with_device(conn: asyncpg.Connection, device_id: str) -> Record | None:
    return await conn.fetchrow("SELECT vehicle_id, carrier FROM vehicles WHERE device_id = $1", device_id)


async def vehicles_by_id(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, Record]:
    rows = await conn.fetch("SELECT * FROM vehicles WHERE vehicle_id = ANY($1::text[])", list(set(ids)))
    return {r["vehicle_id"]: r for r in rows}


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


async def waybills_on_board(conn: asyncpg.Connection, vehicle_id: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT waybill_no FROM shipments WHERE vehicle_id = $1 AND status = 'in_transit' ORDER BY waybill_no",
        vehicle_id)
    return [r["waybill_no"] for r in rows]


async def silent_vehicles(conn: asyncpg.Connection, *, silent_since: datetime) -> list[Record]:
    """Vehicles silent since at least `silent_since` that either owe a stale notice (a new
    silence) or carry in-transit shipments (re-evaluated with reason no_signal). A vehicle
    busy in a position batch right now is skipped: it is evidently not silent."""
    return await conn.fetch(
        """
        SELECT * FROM vehicles v
        WHERE v.last_fix_at <= $1
          AND (v.stale_flagged_for IS DISTINCT FROM v.last_fix_at
               OR EXISTS (SELECT 1 FROM shipments s WHERE s.vehicle_id = v.vehicle_id AND s.status = 'in_transit'))
        ORDER BY v.vehicle_id
        FOR UPDATE SKIP LOCKED
        """,
        silent_since)


async def mark_stale_reported(conn: asyncpg.Connection, vehicle_id: str, last_fix_at: datetime) -> None:
    await conn.execute("UPDATE vehicles SET stale_flagged_for = $2 WHERE vehicle_id = $1", vehicle_id, last_fix_at)


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
    # transactions it begins itself (feeds.OsmandGroupCommit), where asyncpg refuses to nest one.
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

# What a vehicle's stored track becomes (domain.merge_track): None keeps it; (since, rows)
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
    by element (a type check each), which was a good part of an /osmand group's CPU."""
    return [() if column.count(None) == len(column) else column for column in columns]


_ROW = struct.Struct("<4d")
_NAN = struct.pack("<d", math.nan)


def pack_track(rows: Sequence[Sequence[Any]]) -> bytes:
    """A track's rows (epoch µs, lat, lon, speed_kmh or None) as `vehicles.recent_track` holds
    them: little-endian float64s, four a row, NaN for no speed (exact: epoch microseconds are
    below 2**53)."""
    return b"".join([_ROW.pack(r[0], r[1], r[2], math.nan if r[3] is None else r[3]) for r in rows])


def unpack_track(data: bytes | None) -> list[tuple[float, float, float, float | None]]:
    """`pack_track` undone (None: no stored track, no rows), C-level unless a row lacks a speed."""
    if not data:
        return []
    rows: list[tuple[float, float, float, float | None]] = list(_ROW.iter_unpack(data))
    if _NAN in data:  # a row without speed (or, harmlessly, those 8 bytes across two values)
        rows = [(r[0], r[1], r[2], None if r[3] != r[3] else r[3]) for r in rows]
    return rows


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
    COPYed, `on_board_many(on_board)` read in the UPDATE's round trip (else None: the caller
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
    """Each vehicle's sampled fixes (domain.sample_track) inside its own (since, until) window as a
    `domain.TrackRow` list, oldest first: [epoch microseconds, lat, lon, speed_kmh or None] — one
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


async def delete_positions_before(conn: asyncpg.Connection, before: datetime, batch: int) -> int:
    status: str = await conn.execute(
        "DELETE FROM positions WHERE ctid = ANY(ARRAY(SELECT ctid FROM positions WHERE at < $1 LIMIT $2))",
        before, batch)
    return int(status.split()[-1])


# --- shipments --------------------------------------------------------------------------


async def insert_shipment(conn: asyncpg.Connection, data: dict[str, Any], *, registered_by: str,
                          registered_at: datetime) -> bool:
    """Insert a new shipment; False (and nothing written) when the waybill exists.
    ON CONFLICT keeps the caller's transaction usable (a bulk import reports the row)."""
    inserted = await conn.fetchval(
        """
        INSERT INTO shipments (waybill_no, origin, destination, via, shipper, consignee, cargo, pieces,
                               promised_at, payment, receipt, registered_by, registered_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        ON CONFLICT (waybill_no) DO NOTHING
        RETURNING true
        """,
        data["waybill_no"], data["origin"], data["destination"], data["via"], data["shipper"],
        data["consignee"], data["cargo"], data["cargo"]["pieces"], data["promised_at"], data["payment"],
        data["receipt"], registered_by, registered_at,
    )
    return bool(inserted)


async def get_shipment(conn: asyncpg.Connection, waybill_no: str, *, for_update: bool = False) -> Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT * FROM shipments WHERE waybill_no = $1{lock}", waybill_no)


async def save_scan_state(conn: asyncpg.Connection, waybill_no: str, state: ScanState,
                          vehicle_id: str | None) -> None:
    await conn.execute(
        """
        UPDATE shipments SET status = $2, pieces_arrived = $3, departed_at = $4, last_scan_at = $5,
               reached_via = $6, final_arrived_at = COALESCE(final_arrived_at, $7), vehicle_id = $8,
               updated_at = now()
        WHERE waybill_no = $1
        """,
        waybill_no, state.status.value, state.pieces_arrived, state.departed_at, state.last_scan_at,
        list(state.reached_via), state.arrived_at, vehicle_id,
    )


def _on_board_query(first: int) -> str:
    """`on_board_many`'s SELECT, its two parameters numbered from `first` on."""
    ids, only = f"${first}", f"${first + 1}"
    # `station_points`: (code, lat, lon) of the destination and the transfers, read in the same
    # round trip (the evaluation needs them for the ETA).
    # Only the columns the evaluation reads: the shipment's parties and cargo (jsonb) would be
    # decoded for nothing on the ingest hot path.
    # Per vehicle (LATERAL, `shipments_on_vehicle_idx`), whatever the planner thinks of the
    # array's size: as `vehicle_id = ANY($1)` a prepared statement's generic plan read every
    # in-transit shipment of the company through `shipments_status_idx` for each group commit.
    # Locks: vehicle by vehicle (the caller holds the vehicles' locks, taken in id order, and a
    # shipment is on one vehicle), in waybill order within each.
    return (
        f"SELECT s.* FROM (SELECT DISTINCT unnest({ids}::text[]) AS id ORDER BY 1) AS v "
        "CROSS JOIN LATERAL (SELECT s.waybill_no, s.vehicle_id, s.origin, s.destination, s.via, s.reached_via, "
        "s.promised_at, s.delayed, s.notified_eta, s.delay_minutes, s.delay_reason, s.eta, s.evaluated_at, "
        "s.delay_notified_at, s.note_reason, ARRAY(SELECT ROW(st.code, st.lat, st.lon) FROM stations st "
        "                  WHERE st.code = s.destination OR st.code = ANY(s.via)) AS station_points "
        "FROM shipments s WHERE s.vehicle_id = v.id AND s.status = 'in_transit' "
        f"AND ({only}::text[] IS NULL OR s.waybill_no = ANY({only}::text[])) "
        "ORDER BY s.waybill_no FOR UPDATE OF s) AS s ORDER BY s.waybill_no")


_ON_BOARD = _on_board_query(1)
# `store_fixes`' UPDATE of the vehicles and, in the same round trip, `on_board_many` for those
# evaluated now (the data-modifying CTE runs to completion; the SELECT reads shipments only)
_VEHICLE_FIXES_THEN_ON_BOARD = (f"WITH moved AS ({_VEHICLE_FIXES} RETURNING 1) "
                                f"{_on_board_query(_VEHICLE_FIX_ARRAYS + 1)}")


async def on_board_many(conn: asyncpg.Connection, vehicle_ids: Sequence[str],
                        only: Sequence[str] | None = None) -> list[Record]:
    """In-transit shipments carried by the vehicles (or just those of `only`), in waybill order,
    locked for the delay evaluation (see `_on_board_query` for the order the locks are taken in)."""
    return await conn.fetch(_ON_BOARD, list(vehicle_ids), None if only is None else list(only))


async def list_shipments(conn: asyncpg.Connection, *, status: str | None, station: str | None,
                         branch: str | None, delayed: bool | None, after: str | None,
                         limit: int) -> list[Record]:
    """Keyset page on waybill_no. `status` is the displayed status (`exception` = open exceptions)."""
    return await conn.fetch(
        """
        SELECT * FROM shipments
        WHERE ($1::text IS NULL
               OR ($1 = 'exception' AND open_exceptions > 0)
               OR ($1 <> 'exception' AND status = $1 AND open_exceptions = 0))
          AND ($2::text IS NULL OR origin = $2 OR destination = $2 OR via @> ARRAY[$2])
          AND ($3::text IS NULL OR origin = $3 OR destination = $3 OR via @> ARRAY[$3])
          AND ($4::boolean IS NULL OR delayed = $4)
          AND ($5::text IS NULL OR waybill_no > $5)
        ORDER BY waybill_no
        LIMIT $6
        """,
        status, station, branch, delayed, after, limit)


# --- scans and timeline -----------------------------------------------------------------


async def insert_scan(conn: asyncpg.Connection, waybill_no: str, *, type_: str, station: str, at: datetime,
                      vehicle_id: str | None, pieces: int, actor: str) -> None:
    await conn.execute(
        "INSERT INTO scans (waybill_no, type, station, at, vehicle_id, pieces, actor) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        waybill_no, type_, station, at, vehicle_id, pieces, actor)


async def save_delay_states(conn: asyncpg.Connection, states: Sequence[tuple[str, DelayState]]) -> None:
    """The shipments' new delay states, in one statement (an evaluation saves one per shipment of
    every vehicle of a batch)."""
    rows = [(waybill_no, st.eta, st.delayed, st.delay_minutes, None if st.reason is None else st.reason.value,
             st.notified_eta, st.evaluated_at, st.notified_at) for waybill_no, st in states]
    await conn.execute(
        """
        UPDATE shipments s SET eta = n.eta, delayed = n.delayed, delay_minutes = n.delay_minutes,
               delay_reason = n.delay_reason, notified_eta = n.notified_eta, evaluated_at = n.evaluated_at,
               delay_notified_at = n.delay_notified_at, updated_at = now()
        FROM unnest($1::text[], $2::timestamptz[], $3::boolean[], $4::int[], $5::text[], $6::timestamptz[],
                    $7::timestamptz[], $8::timestamptz[])
             AS n(waybill_no, eta, delayed, delay_minutes, delay_reason, notified_eta, evaluated_at,
                  delay_notified_at)
        WHERE s.waybill_no = n.waybill_no
        """,
        *([r[i] for r in rows] for i in range(8)))


async def append_timeline(conn: asyncpg.Connection, waybill_no: str, at: datetime, kind: str,
                          data: dict[str, Any]) -> None:
    await conn.execute("INSERT INTO timeline (waybill_no, at, kind, data) VALUES ($1, $2, $3, $4)",
                       waybill_no, at, kind, data)


async def timeline(conn: asyncpg.Connection, waybill_no: str) -> list[Record]:
    return await conn.fetch("SELECT at, kind, data FROM timeline WHERE waybill_no = $1 ORDER BY at, id",
                            waybill_no)
