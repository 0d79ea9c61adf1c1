"""SQL of the position feeds: the vehicles an ingest locks, the fixes it stores (`positions`,
and each vehicle moved to its newest fix with its stored track), the sampled tracks read back.
Every function takes the connection of the caller's transaction. (The partitions of `positions`
and their retention: feeds.partitions.)"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import asyncpg
from asyncpg import Record

from services.tracking.feeds.pgcopy import encode_positions
from services.tracking.feeds.track_cache import STORED_TRACK_MAX_ROWS, pack_track
from services.tracking.shipments.repository import (
    EVALUATION_LOCK,
    EVALUATION_LOCK_NAMESPACE,
    BoardState,
    board_states_params,
    save_board_states,
    save_board_states_sql,
)
from shared.db import execute_and_commit, prepare_on_connect
from shared.sql import json_row_columns, json_rows, literal

# --- vehicles, as an ingest reads and claims them ----------------------------------------

# What an ingest reads of each vehicle: of every one its id, carrier (a carrier's token is checked
# against it) and newest fix time; the rest only of the vehicles it claimed ({claimed}: an
# expression of the claim), NULL for the others. `feeds.ingest.ingest` samples, evaluates and keeps
# the stored track of a claimed vehicle only (the others' are their claim holder's), and each
# `timestamptz` the driver decodes costs tracking about 1 µs: a whole-fleet batch reads 200 vehicle
# rows, most of them claimed by a concurrent batch (replayed: 200 rows of five timestamps each cost
# the driver about 2.0 ms of tracking's CPU, 0.8 ms with all but the newest fix time NULL).
_CLAIMED_ONLY = ("device_id", "plate", "last_lat", "last_lon", "last_speed_kmh", "last_heading", "last_sample_at",
                 "last_evaluated_at", "recent_track", "recent_track_since", "recent_track_sample_at")
_INGEST_VEHICLE_COLUMNS = "vehicle_id, carrier, last_fix_at, " + ", ".join(
    f"CASE WHEN {{claimed}} THEN {column} END AS {column}" for column in _CLAIMED_ONLY)


class Claimed(NamedTuple):
    """The vehicles an ingest stores fixes for, read without a row lock, and those of them whose
    evaluation it holds (`shipments.repository.EVALUATION_LOCK`): for those, the row was read
    after the claim, so it holds what every earlier evaluator committed. Of a vehicle not claimed,
    only `vehicle_id`, `carrier` and `last_fix_at` are to be read (`begin_and_claim` leaves the rest
    NULL; `_INGEST_VEHICLE_COLUMNS`)."""

    rows: dict[str, Record]  # by vehicle id
    claimed: frozenset[str]


async def claim_vehicles(conn: asyncpg.Connection, column: str, values: Iterable[str]) -> Claimed:
    """The vehicles whose `column` (vehicle_id, or device_id: through the device map `devices`,
    so that every statement names the vehicles by their id) is one of `values`, and the claim of
    their evaluations (`pg_try_advisory_xact_lock`, never waits: a vehicle another transaction is
    evaluating is not claimed). No row is locked: concurrent ingests of the same vehicles run side
    by side, and only the short `store_fixes` UPDATE at the end of each locks their rows.

    The claims first, then the rows: in READ COMMITTED a statement sees what was committed when it
    started, so a row read by the statement that takes the claim could miss what the previous
    holder committed between that start and the claim. Both are statements of the database
    function `claim_vehicles` (migration 0021), VOLATILE, so each takes its own snapshot: the
    order of two statements in one round trip (an /osmand group commit waits on each of them)."""
    if column not in ("vehicle_id", "device_id"):
        raise ValueError(f"vehicles are claimed by vehicle_id or device_id, not {column}")
    rows = await conn.fetch("SELECT * FROM claim_vehicles($1::text[], $2, $3)",
                            sorted(set(values)), column == "device_id", EVALUATION_LOCK_NAMESPACE)
    return Claimed({r["vehicle_id"]: r for r in rows}, frozenset(r["vehicle_id"] for r in rows if r["claimed"]))


def _text_array(values: Sequence[str]) -> str:
    """A text[] literal of the values, each an SQL string constant (`shared.sql.literal`)."""
    return "ARRAY[" + ",".join(map(literal, values)) + "]::text[]"


# The rows of `begin_and_claim`, each with whether it is claimed: the ids and the claimed ids (the
# setting read and parsed once, as an InitPlan) joined, never `vehicle_id = ANY(<array>)`. An array
# that is not a constant of the statement (a parameter of a generic plan, the setting) is searched
# element by element for every row it is tested on (the hashed search of PostgreSQL 14+ is for
# constants only), and the planner reads a fleet of a few hundred vehicles whole: replaying
# whole-fleet batches of 200 vehicles, the claims' two tests cost the read about 1.3 of its 2 ms,
# and the ids' own test of each row of a 250-vehicle table about half the read of a 50-vehicle batch.
_CLAIMED = "c.id IS NOT NULL"
_CLAIMED_ROWS = (
    f"SELECT v.{_INGEST_VEHICLE_COLUMNS.format(claimed=_CLAIMED)}, {_CLAIMED} AS claimed "
    "FROM unnest($1::text[]) AS k(id) JOIN vehicles v ON v.vehicle_id = k.id "
    "LEFT JOIN unnest((SELECT current_setting('lcs.claimed')::text[])) AS c(id) ON c.id = k.id")


async def begin_and_claim(conn: asyncpg.Connection, vehicle_ids: Iterable[str]) -> Claimed:
    """`BEGIN` and `claim_vehicles(conn, "vehicle_id", vehicle_ids)` in two round trips instead of three
    (the batch path's fast way; the caller then commits or rolls back the transaction itself).

    Why: on this path each statement costs the service a send, a wake-up of the backend and a
    reply to read, well above its SQL (the batch path's profile). `BEGIN` and the claims go as one
    simple query, whose results are not returned, so the claims are kept in a transaction-local
    setting (`lcs.claimed`, a text[] literal) that the rows' read (the next statement, which sees
    what every earlier evaluator committed) turns back into a column. The ids are inlined as quoted
    constants (a simple query takes no parameters). `test_begin_and_claim_claims_as_claim_vehicles`
    holds it to `claim_vehicles`."""
    keys = sorted(set(vehicle_ids))
    await conn.execute(
        # over the ids alone: beside another condition, the planner could try the lock first, on rows
        # the other condition then drops (an unknown id's claim is harmless: the batch is refused)
        "BEGIN; SELECT set_config('lcs.claimed', COALESCE(array_agg(id)::text, '{}'), true) "
        f"FROM unnest({_text_array(keys)}) AS id WHERE {EVALUATION_LOCK.format('id')}")
    rows = await conn.fetch(_CLAIMED_ROWS, keys)
    return Claimed({r["vehicle_id"]: r for r in rows}, frozenset(r["vehicle_id"] for r in rows if r["claimed"]))


# --- positions --------------------------------------------------------------------------

# The columns a stored fix is written with, and their types: the COPY column list, the staging
# table and the array casts of the small-group INSERT (`_STORE_SMALL`) all come from here.
_POSITION_TYPES = (("vehicle_id", "text"), ("at", "timestamptz"), ("lat", "float8"), ("lon", "float8"),
                   ("speed_kmh", "float8"), ("heading", "float8"), ("altitude", "float8"), ("accuracy", "float8"),
                   ("battery", "float8"), ("sampled", "boolean"))
POSITION_COLUMNS = tuple(name for name, _ in _POSITION_TYPES)
# a few fixes, from their rows as one parameter (shared.sql.json_rows: the records as they are)
_INSERT_FROM_ROWS = (
    f"INSERT INTO positions ({', '.join(POSITION_COLUMNS)}) SELECT {json_row_columns(_POSITION_TYPES)} "
    "FROM jsonb_array_elements($1::text::jsonb) AS e ON CONFLICT (vehicle_id, at) DO NOTHING")
_STAGING = "positions_in"
_STAGING_DDL = (f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} ("
                + ", ".join(f"{name} {t}" for name, t in _POSITION_TYPES) + ") ON COMMIT DELETE ROWS")
SMALL = 64  # up to this many fixes, one statement (INSERT ... SELECT unnest) beats a savepoint + COPY


async def _copy_positions(conn: asyncpg.Connection, records: Sequence[tuple[Any, ...]], *, all_new: bool) -> int:
    """Many fixes (tuples in POSITION_COLUMNS order), inside the caller's transaction: COPYed
    (binary, the stream built by `pgcopy.encode_positions`) straight into `positions` (one pass,
    as the benchmark's raw-COPY ceiling does) inside a savepoint. Only when that hits the primary
    key (a retried batch, a fix sent twice) does it roll back to the savepoint and take the slower
    path: COPY into a session temp table, then INSERT ... ON CONFLICT DO NOTHING. Returns how many
    were new.

    `all_new`: the caller vouches that none can be stored yet (see `feeds.ingest.ingest`); the COPY then
    runs without the savepoint, two round trips fewer."""
    stream = memoryview(encode_positions(records))  # a buffer: asyncpg would open bytes as a path
    if all_new:
        await conn.copy_to_table("positions", source=stream, columns=POSITION_COLUMNS, format="binary")
        return len(records)
    # The savepoint in SQL, not `conn.transaction()`: the /osmand committer runs its groups in
    # transactions it begins itself (feeds.group_commit.OsmandGroupCommit), where asyncpg refuses to nest one.
    await conn.execute("SAVEPOINT positions_copy")
    try:
        await conn.copy_to_table("positions", source=stream, columns=POSITION_COLUMNS, format="binary")
    except asyncpg.UniqueViolationError:
        await conn.execute("ROLLBACK TO SAVEPOINT positions_copy")
    else:
        await conn.execute("RELEASE SAVEPOINT positions_copy")
        return len(records)
    await conn.execute(_STAGING_DDL)
    # ON COMMIT DELETE ROWS empties the staging table at every commit, so inside a transaction
    # it starts empty (the savepoint above left nothing in it).
    await conn.copy_to_table(_STAGING, source=stream, columns=POSITION_COLUMNS, format="binary")
    status: str = await conn.execute(
        f"INSERT INTO positions ({', '.join(POSITION_COLUMNS)}) "
        f"SELECT {', '.join(POSITION_COLUMNS)} FROM {_STAGING} ORDER BY vehicle_id, at "
        "ON CONFLICT (vehicle_id, at) DO NOTHING")
    return int(status.split()[-1])


async def store_positions(conn: asyncpg.Connection, records: Sequence[tuple[Any, ...]], *, all_new: bool) -> int:
    """Fixes (tuples in POSITION_COLUMNS order, sorted by vehicle and time) stored on their own,
    before the evaluation: COPYed when many (`_copy_positions`), else one INSERT ... ON CONFLICT
    DO NOTHING. No vehicle row is locked: `positions` is append-only, and two transactions storing
    the same fix meet only on its primary key entry (in the same vehicle and time order, so they
    wait for each other rather than deadlock). Returns how many were new."""
    if len(records) > SMALL:
        return await _copy_positions(conn, records, all_new=all_new)
    status: str = await conn.execute(_INSERT_FROM_ROWS, json_rows(records))
    return int(status.split()[-1])


# What the statement that ends an ingest reads per vehicle: its scalars as rows of one parameter
# (`shared.sql.json_rows`), its packed tracks as three bytea arrays beside them (bytes have no
# JSON form; a bytea element costs asyncpg a copy).
_VEHICLE_FIX_TYPES = (("vehicle_id", "text"), ("at", "timestamptz"), ("lat", "float8"), ("lon", "float8"),
                      ("speed_kmh", "float8"), ("heading", "float8"), ("sample_at", "timestamptz"),
                      ("evaluated_at", "timestamptz"), ("due_in", "float8"), ("write", "boolean"),
                      ("since", "timestamptz"), ("read_since", "timestamptz"), ("read_stamp", "timestamptz"),
                      ("read_sample_at", "timestamptz"), ("fresh_from", "timestamptz"))
_VEHICLE_FIX_TRACKS = ("track", "read_track", "fresh")
_VEHICLE_FIX_PARAMS = 1 + len(_VEHICLE_FIX_TRACKS)  # the parameters of `_vehicle_fixes_update` (`_vehicle_fix_params`)


def _vehicle_fixes_update(first: int, *, store: str = "", save: bool = False) -> str:
    """The statement that ends an ingest: each vehicle moved to its newest fix (never back), its
    newest sample, evaluation, trailing evaluation due time and stored track, from its
    `_VEHICLE_FIX_PARAMS` parameters (`_vehicle_fix_params`: a row per vehicle) numbered from `first` on;
    with `store` (an INSERT ... RETURNING 1), the fixes stored by the same statement; with `save`, the
    evaluated shipments' delay states written by it too (their parameter after the vehicles').

    It is the only statement of an ingest that locks vehicle rows, in vehicle id order (the
    `locked` CTE: every ingest locks them in that order, so two never deadlock; only the rows it
    changes), and the last one
    before COMMIT, so concurrent ingests of the same vehicles wait for each other only that long.
    What it writes holds whatever committed since the ingest read the rows:
    - the newest fix is a monotonic max (`adv`: only a later fix moves the vehicle);
    - the newest sample and evaluation times are maxima;
    - the stored track is compare-and-set: written only if the row's track is still the one the
      ingest merged its samples into; else, when the ingest's new samples are all later than the
      row's newest sample (concurrent live batches), appended to the row's track; else cleared
      (rebuilt from `positions` at the next fix);
    - `evaluation_due_at`: cleared by an evaluation at the vehicle's newest fix; set (the earliest
      wins) when a fix that is the newest was not evaluated, `due_in` seconds from now."""
    p = [f"${first + i}" for i in range(_VEHICLE_FIX_PARAMS)]
    # the row's track (trusted: its newest sample is its stamp) ends before this ingest's new samples,
    # all of them live: they are appended to it (`fresh`, packed) when compare-and-set fails
    append = ("(v.recent_track_since IS NOT NULL AND v.recent_track_sample_at IS NOT DISTINCT FROM v.last_sample_at "
              "AND n.fresh IS NOT NULL AND n.fresh_from > v.last_sample_at AND n.fresh_from >= v.recent_track_since "
              f"AND octet_length(v.recent_track) + octet_length(n.fresh) <= {STORED_TRACK_MAX_ROWS * 32})")
    adv = "(n.at IS NOT NULL AND (v.last_fix_at IS NULL OR n.at > v.last_fix_at))"
    # whether the row changes at all: a vehicle a concurrent ingest has moved past every fix of this
    # one (the usual lot of a forwarder's batch that commits after a later one) is neither locked
    # nor rewritten (a new row version of a ~1.5 kB row each time). Concurrent commits only move the
    # newest fix and sample later, so a row left out here would have been left unchanged after its
    # lock too (FOR UPDATE rechecks this on the newest version of a row it waited for).
    changes = (f"({adv} OR n.write IS NOT NULL OR n.evaluated_at IS NOT NULL "
               "OR (n.sample_at IS NOT NULL AND (v.last_sample_at IS NULL OR n.sample_at > v.last_sample_at)))")
    cas = ("(v.recent_track_since IS NOT DISTINCT FROM n.read_since "
           "AND v.recent_track_sample_at IS NOT DISTINCT FROM n.read_stamp "
           "AND v.last_sample_at IS NOT DISTINCT FROM n.read_sample_at "
           "AND v.recent_track IS NOT DISTINCT FROM n.read_track)")
    return f"""
        WITH n AS (SELECT {json_row_columns(_VEHICLE_FIX_TYPES, "r.e")}, {", ".join(_VEHICLE_FIX_TRACKS)}
                   FROM ROWS FROM (jsonb_array_elements({p[0]}::text::jsonb), unnest({p[1]}::bytea[]),
                                   unnest({p[2]}::bytea[]), unnest({p[3]}::bytea[]))
                   AS r(e, {", ".join(_VEHICLE_FIX_TRACKS)})),
        locked AS (SELECT v.vehicle_id FROM vehicles v JOIN n USING (vehicle_id) WHERE {changes}
                   ORDER BY v.vehicle_id FOR UPDATE OF v),
        {store + "," if store else ""}
        {f"saved AS ({save_board_states_sql(first + _VEHICLE_FIX_PARAMS)} RETURNING 1)," if save else ""}
        moved AS (UPDATE vehicles v SET
            last_fix_at = CASE WHEN {adv} THEN n.at ELSE v.last_fix_at END,
            last_lat = CASE WHEN {adv} THEN n.lat ELSE v.last_lat END,
            last_lon = CASE WHEN {adv} THEN n.lon ELSE v.last_lon END,
            last_speed_kmh = CASE WHEN {adv} THEN n.speed_kmh ELSE v.last_speed_kmh END,
            last_heading = CASE WHEN {adv} THEN n.heading ELSE v.last_heading END,
            last_sample_at = GREATEST(v.last_sample_at, n.sample_at),
            last_evaluated_at = GREATEST(v.last_evaluated_at, n.evaluated_at),
            evaluation_due_at = CASE
                WHEN n.evaluated_at IS NOT NULL AND (v.last_fix_at IS NULL OR n.evaluated_at >= v.last_fix_at) THEN NULL
                WHEN n.due_in IS NOT NULL AND {adv}
                    THEN LEAST(v.evaluation_due_at, now() + make_interval(secs => n.due_in))
                ELSE v.evaluation_due_at END,
            recent_track = CASE WHEN n.write IS NULL THEN v.recent_track WHEN {cas} THEN n.track
                                WHEN {append} THEN v.recent_track || n.fresh END,
            recent_track_since = CASE WHEN n.write IS NULL THEN v.recent_track_since WHEN {cas} THEN n.since
                                      WHEN {append} THEN v.recent_track_since END,
            recent_track_sample_at = CASE WHEN n.write IS NULL THEN v.recent_track_sample_at ELSE n.sample_at END
        FROM n JOIN locked USING (vehicle_id)
        WHERE v.vehicle_id = n.vehicle_id
        RETURNING 1)
        SELECT {"(SELECT count(*) FROM stored)" if store else "0"}, (SELECT count(*) FROM moved)"""


_VEHICLE_FIXES = _vehicle_fixes_update(1)
_VEHICLE_FIXES_AND_STATES = _vehicle_fixes_update(1, save=True)
# The same two, prepared on every connection of tracking's pools, for an ingest that ends its
# transaction with them (`store_fixes(commit=True)`): by delay states saved or not.
_PARAM_TYPES = ("text", *(("bytea[]",) * len(_VEHICLE_FIX_TRACKS)))
_ENDING = {False: prepare_on_connect("tracking", "lcs_ingest_vehicles", _PARAM_TYPES, _VEHICLE_FIXES),
           True: prepare_on_connect("tracking", "lcs_ingest_vehicles_and_states", (*_PARAM_TYPES, "text"),
                                    _VEHICLE_FIXES_AND_STATES)}
# A few fixes, all later than their vehicles' newest: stored and their vehicles moved in ONE
# statement (every data-modifying CTE runs to completion whatever the outer SELECT reads). An
# /osmand group waits on each round trip while the event loop serves the other requests, so each
# statement saved shortens every commit.
_STORED = f"stored AS ({_INSERT_FROM_ROWS} RETURNING 1)"
_STORE_SMALL = _vehicle_fixes_update(2, store=_STORED)
_STORE_SMALL_AND_STATES = _vehicle_fixes_update(2, store=_STORED, save=True)

_CLEAR_TRACKS = ("UPDATE vehicles SET recent_track = NULL, recent_track_since = NULL "
                 "WHERE vehicle_id = ANY($1::text[])")

# What a vehicle's stored track becomes (track_cache.merge_track): None keeps it; (since, rows)
# replaces it, rows [epoch µs, lat, lon, speed_kmh] oldest first (since None clears it).
TrackWrite = tuple[datetime | None, Sequence[Sequence[Any]]] | None


class VehicleFix(NamedTuple):
    """What an ingest does to one vehicle's row (`store_fixes`)."""

    vehicle_id: str
    fix: tuple[Any, ...] | None  # its new newest fix (at, lat, lon, speed_kmh, heading), None: not advanced
    sample_at: datetime | None  # its newest sample time
    evaluated_at: datetime | None  # the fix time its shipments were evaluated at now, None: not evaluated
    due_in: float | None  # not evaluated: a trailing evaluation due in this many seconds (if still its newest)
    track: TrackWrite  # its stored track
    read: Record  # the row as the ingest read it (its stored track compared and set against it)
    fresh: Sequence[Sequence[Any]] = ()  # its new sampled fixes as track rows, oldest first


_NO_FIX = (None, None, None, None, None)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _at(row: Sequence[Any]) -> datetime:
    """A track row's time (epoch microseconds) as a timestamptz parameter."""
    return _EPOCH + timedelta(microseconds=int(row[0]))


def _vehicle_fix_params(changes: Sequence[VehicleFix]) -> list[Any]:
    """The `_VEHICLE_FIX_PARAMS` parameters of `_vehicle_fixes_update`: a row of `_VEHICLE_FIX_TYPES`
    per vehicle, then its `_VEHICLE_FIX_TRACKS` as arrays in the same order."""
    rows: list[tuple[Any, ...]] = []
    tracks: list[bytes | None] = []
    reads: list[bytes | None] = []
    fresh: list[bytes | None] = []
    for c in changes:
        fix, track, read = c.fix or _NO_FIX, c.track, None if c.track is None else c.read
        packs = bool(c.fresh) and track is not None and track[0] is not None
        rows.append((c.vehicle_id, *fix, c.sample_at, c.evaluated_at, c.due_in, None if track is None else True,
                     None if track is None else track[0],
                     *((None, None, None) if read is None else
                       (read["recent_track_since"], read["recent_track_sample_at"], read["last_sample_at"])),
                     _at(c.fresh[0]) if packs else None))
        tracks.append(None if track is None or track[0] is None else pack_track(track[1]))
        reads.append(None if read is None else read["recent_track"])
        fresh.append(pack_track(c.fresh) if packs else None)
    return [json_rows(rows), *_columns([tracks, reads, fresh])]


def _columns(columns: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    """Array parameters zipped by `ROWS FROM (... unnest(...))`, each column that holds only NULLs
    sent as an empty array: the shorter is padded with NULLs, and the driver encodes an array
    element by element (a type check each), on the ingest hot path."""
    return [() if column.count(None) == len(column) else column for column in columns]


async def store_fixes(conn: asyncpg.Connection, records: Sequence[tuple[Any, ...]],
                      changes: Sequence[VehicleFix], states: Sequence[BoardState] = (), *,
                      commit: bool = False) -> int:
    """The end of an ingest: store the fixes `records` (tuples in POSITION_COLUMNS order; none
    stored yet, see `store_positions`, and each later than its vehicle's newest: the caller
    vouches, and a UniqueViolationError aborts the transaction otherwise) and move each changed
    vehicle (`VehicleFix`), and write the evaluation's delay `states` to `on_board`
    (`shipments.repository.save_board_states`), in ONE statement (`_vehicle_fixes_update`);
    `records` empty: the vehicles (and states) only. Returns how many fixes were stored.

    `commit`: then COMMIT the transaction. With `records` empty, in the statement's own round trip
    (`shared.db.execute_and_commit`): the statement locks the vehicle rows, which concurrent
    ingests of the same vehicles wait for, and a COMMIT sent apart waits for the event loop to
    read the answer first (replayed whole-fleet batches: as many backends waited there, locks
    held, as ran the statement)."""
    if not conn.is_in_transaction():
        raise RuntimeError("store_fixes must run inside a transaction")
    saved = board_states_params(states) if states else []
    stored = 0
    if records:
        row = await conn.fetchrow(_STORE_SMALL_AND_STATES if states else _STORE_SMALL,
                                  json_rows(records), *_vehicle_fix_params(changes), *saved)
        assert row is not None
        stored = int(row[0])
        if stored < len(records):  # a fix stored meanwhile, the same fix sent at once by another client
            await conn.execute(_CLEAR_TRACKS, [c.vehicle_id for c in changes])
    elif changes and commit:
        await execute_and_commit(conn, _ENDING[bool(states)], [*_vehicle_fix_params(changes), *saved])
        return 0
    elif changes:
        await conn.execute(_VEHICLE_FIXES_AND_STATES if states else _VEHICLE_FIXES, *_vehicle_fix_params(changes),
                           *saved)
    elif states:
        await save_board_states(conn, states)
    if commit:
        await conn.execute("COMMIT")
    return stored


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


async def claim_due_vehicles(conn: asyncpg.Connection, as_of: datetime | None, limit: int) -> list[Record]:
    """Vehicles due for a trailing evaluation (`evaluation_due_at` at or before `as_of`, None: the
    database clock), most overdue first, row-locked SKIP LOCKED: a vehicle another worker (replica)
    claimed, or an ingest is moving right now, is left to it or to the next round."""
    return await conn.fetch(
        f"SELECT {_INGEST_VEHICLE_COLUMNS.format(claimed='true')} FROM vehicles "
        "WHERE evaluation_due_at <= COALESCE($1::timestamptz, clock_timestamp()) "
        "ORDER BY evaluation_due_at LIMIT $2 FOR UPDATE SKIP LOCKED", as_of, limit)


async def mark_evaluated(conn: asyncpg.Connection, vehicle_ids: Sequence[str]) -> None:
    """The vehicles (row-locked by the caller) evaluated at their newest fix: nothing due."""
    await conn.execute(
        "UPDATE vehicles SET last_evaluated_at = GREATEST(last_evaluated_at, last_fix_at), evaluation_due_at = NULL "
        "WHERE vehicle_id = ANY($1::text[])", list(vehicle_ids))

async def newest_samples(conn: asyncpg.Connection, vehicle_id: str, since: datetime,
                         limit: int) -> list[Record]:
    """The vehicle's newest `limit` sampled fixes from `since` on, newest first (a backward range of
    positions_sampled_idx in each day's partition): the track the desk draws."""
    return await conn.fetch(
        "SELECT at, lat, lon, speed_kmh FROM positions WHERE vehicle_id = $1 AND at >= $2 AND sampled "
        "ORDER BY at DESC LIMIT $3", vehicle_id, since, limit)
