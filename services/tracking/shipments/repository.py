"""SQL of shipments: registration, scans, the shipments on board a vehicle (the delay
evaluation's read) and their delay states, lists and searches, the CSV imports. Every function
takes the connection of the caller's transaction; none opens its own."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg import Record

from services.tracking.domain.delay import DelayState
from services.tracking.domain.scans import ScanState
from services.tracking.domain.search import PhoneKeys, PhoneQuery, TextQuery
from shared.sql import json_row_columns, json_rows

# --- shipments --------------------------------------------------------------------------


async def insert_shipment(conn: asyncpg.Connection, data: dict[str, Any], *, phones: PhoneKeys, registered_by: str,
                          registered_at: datetime) -> bool:
    """Insert a new shipment with its parties' phone keys (`domain.search.phone_keys`); False (and
    nothing written) when the waybill exists. ON CONFLICT keeps the caller's transaction usable (a
    bulk import reports the row)."""
    inserted = await conn.fetchval(
        """
        INSERT INTO shipments (waybill_no, origin, destination, via, shipper, consignee, cargo, pieces,
                               promised_at, payment, receipt, registered_by, registered_at, phone_hashes, phone_last4)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
        ON CONFLICT (waybill_no) DO NOTHING
        RETURNING true
        """,
        data["waybill_no"], data["origin"], data["destination"], data["via"], data["shipper"],
        data["consignee"], data["cargo"], data["cargo"]["pieces"], data["promised_at"], data["payment"],
        data["receipt"], registered_by, registered_at, phones.hashes, phones.last4,
    )
    return bool(inserted)


async def get_shipment(conn: asyncpg.Connection, waybill_no: str, *, for_update: bool = False) -> Record | None:
    """The shipment as shown (`shipments_live`: its ETA from its `on_board` row while it has one);
    `for_update`: locked (`lock_shipment`)."""
    if for_update:
        await lock_shipment(conn, waybill_no)
        return await conn.fetchrow("SELECT * FROM shipments_live WHERE waybill_no = $1 FOR UPDATE", waybill_no)
    return await conn.fetchrow("SELECT * FROM shipments_live WHERE waybill_no = $1", waybill_no)


async def lock_shipment(conn: asyncpg.Connection, waybill_no: str) -> None:
    """Before a shipment's row is locked to change it: its `on_board` row, if it has one.

    Why: an evaluation locks its vehicles' `on_board` rows, then writes a delay decision to the
    shipments' rows. Whatever changes a shipment (a scan, a signing, a note) may move or change its
    `on_board` row after locking the shipment's: taken the other way round, the two could each wait
    for the other (a deadlock). So everyone takes the row on board first. The caller then locks the
    shipment's row (`FOR UPDATE`), in a statement of its own: it sees what the evaluation it
    waited for committed."""
    await conn.execute("SELECT 1 FROM on_board WHERE waybill_no = $1 FOR UPDATE", waybill_no)


async def shipment_eta(conn: asyncpg.Connection, waybill_no: str) -> datetime | None:
    eta: datetime | None = await conn.fetchval("SELECT eta FROM shipments_live WHERE waybill_no = $1", waybill_no)
    return eta


async def save_scan_state(conn: asyncpg.Connection, waybill_no: str, state: ScanState,
                          vehicle_id: str | None) -> None:
    """The shipment's (locked by the caller) new scan state and vehicle; its `on_board` row follows
    (off the vehicle it leaves, onto the one it is in transit on)."""
    await leave_board(conn, waybill_no)
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
    await board(conn, waybill_no)


# --- on board: the shipments in transit on each vehicle (migration 0020) --------------------
# A shipment's row exists exactly while it is in transit on a vehicle. Whatever changes a
# shipment's status or vehicle takes it off (`leave_board`) before, and boards it (`board`) after:
# the delay state moves with it.

_LEAVE_BOARD = """
    WITH gone AS (DELETE FROM on_board ob USING shipments s
                  WHERE s.waybill_no = $1 AND ob.vehicle_id = s.vehicle_id AND ob.waybill_no = s.waybill_no
                  RETURNING ob.waybill_no, ob.eta, ob.evaluated_at, ob.delay_minutes, ob.delay_reason)
    UPDATE shipments s SET eta = g.eta, evaluated_at = g.evaluated_at, delay_minutes = g.delay_minutes,
           delay_reason = g.delay_reason
    FROM gone g WHERE s.waybill_no = g.waybill_no"""

# the shipments in transit on a vehicle (locked: one a concurrent scan takes off is left out), as rows of `on_board`
_BOARDING = """
    INSERT INTO on_board (vehicle_id, waybill_no, origin, destination, via, reached_via, promised_at, note_reason,
                          eta, delayed, delay_minutes, delay_reason, notified_eta, evaluated_at, delay_notified_at,
                          delayed_since)
    SELECT vehicle_id, waybill_no, origin, destination, via, reached_via, promised_at, note_reason, eta, delayed,
           delay_minutes, delay_reason, notified_eta, evaluated_at, delay_notified_at, delayed_since
    FROM shipments s WHERE s.status = 'in_transit' AND s.vehicle_id IS NOT NULL AND {which}
    FOR UPDATE OF s{tail}"""
_BOARD = _BOARDING.format(which="s.waybill_no = $1", tail="")


_DECISION_COLUMNS = ("delayed", "notified_eta", "delay_notified_at", "delayed_since", "note_reason", "reached_via",
                     "promised_at")
_RECONCILE = (
    # rows of shipments no longer in transit on that vehicle
    "DELETE FROM on_board ob WHERE NOT EXISTS (SELECT 1 FROM shipments s WHERE s.waybill_no = ob.waybill_no "
    "AND s.vehicle_id = ob.vehicle_id AND s.status = 'in_transit')",
    # shipments in transit on a vehicle without their row
    _BOARDING.format(which="NOT EXISTS (SELECT 1 FROM on_board ob WHERE ob.vehicle_id = s.vehicle_id "
                     "AND ob.waybill_no = s.waybill_no)", tail=" ON CONFLICT DO NOTHING"),
    # what a release before the table wrote to the shipment only
    f"UPDATE on_board ob SET {', '.join(f'{c} = s.{c}' for c in _DECISION_COLUMNS)} FROM shipments s "
    "WHERE s.waybill_no = ob.waybill_no AND s.vehicle_id = ob.vehicle_id AND s.status = 'in_transit' "
    f"AND ({', '.join(f'ob.{c}' for c in _DECISION_COLUMNS)}) IS DISTINCT FROM "
    f"({', '.join(f's.{c}' for c in _DECISION_COLUMNS)})",
)


async def reconcile_on_board(conn: asyncpg.Connection) -> int:
    """Bring `on_board` in line with the shipments (every write of this release keeps them so, in
    one transaction; a release before migration 0020, still serving during a rolling upgrade, or
    rows loaded straight into `shipments` do not): rows taken off, rows boarded, decisions and
    routes copied from the shipment. Returns how many rows changed (0 when in line)."""
    changed = 0
    for sql in _RECONCILE:
        changed += int((await conn.execute(sql)).split()[-1])
    return changed


async def leave_board(conn: asyncpg.Connection, waybill_no: str) -> None:
    """Take the shipment (its `shipments` row locked by the caller) off its vehicle's `on_board`
    rows, if on board: what the evaluation refreshed there (ETA and its time, delay minutes and
    reason) goes back to `shipments` (every delay decision is there already)."""
    await conn.execute(_LEAVE_BOARD, waybill_no)


async def board(conn: asyncpg.Connection, waybill_no: str) -> None:
    """Board the shipment onto its vehicle's `on_board` rows when it is in transit on one, with its
    route and delay state (after `leave_board` and the new scan state)."""
    await conn.execute(_BOARD, waybill_no)


def on_board_query(first: int) -> str:
    """`on_board_many`'s SELECT, its two parameters numbered from `first` on."""
    ids, only = f"${first}", f"${first + 1}"
    # `station_points`: (code, lat, lon) of the destination and the transfers, read in the same
    # round trip (the evaluation needs them for the ETA).
    # From `on_board` (migration 0020): the vehicle's rows only, what the evaluation reads.
    # Per vehicle (LATERAL, a range of the primary key), whatever the planner thinks of the
    # array's size.
    # Locks: vehicle by vehicle (the caller holds the vehicles' evaluation claims, and a
    # shipment is on one vehicle), in waybill order within each.
    return (
        f"SELECT s.* FROM (SELECT DISTINCT unnest({ids}::text[]) AS id ORDER BY 1) AS v "
        "CROSS JOIN LATERAL (SELECT s.waybill_no, s.vehicle_id, s.origin, s.destination, s.via, s.reached_via, "
        "s.promised_at, s.delayed, s.notified_eta, s.delay_minutes, s.delay_reason, s.eta, s.evaluated_at, "
        "s.delay_notified_at, s.delayed_since, s.note_reason, "
        "ARRAY(SELECT ROW(st.code, st.lat, st.lon) FROM stations st "
        "                  WHERE st.code = s.destination OR st.code = ANY(s.via)) AS station_points "
        "FROM on_board s WHERE s.vehicle_id = v.id "
        f"AND ({only}::text[] IS NULL OR s.waybill_no = ANY({only}::text[])) "
        "ORDER BY s.waybill_no FOR UPDATE OF s) AS s ORDER BY s.waybill_no")


_ON_BOARD = on_board_query(1)


async def on_board_many(conn: asyncpg.Connection, vehicle_ids: Sequence[str],
                        only: Sequence[str] | None = None) -> list[Record]:
    """In-transit shipments carried by the vehicles (or just those of `only`), in waybill order,
    locked for the delay evaluation (see `on_board_query` for the order the locks are taken in)."""
    return await conn.fetch(_ON_BOARD, list(vehicle_ids), None if only is None else list(only))


# One evaluator per vehicle at a time, whoever evaluates (an ingest, the trailing evaluation
# worker, the stale sweep): a transaction-scoped advisory lock on the vehicle id. It is only ever
# tried, never waited for, so it cannot take part in a deadlock; a vehicle another transaction
# holds is deferred (`vehicles.evaluation_due_at`), not queued behind it. Scans judge one shipment
# under its row on board's lock, which the evaluators take too (`on_board_query`, `lock_shipment`).
EVALUATION_LOCK_NAMESPACE = 0x4C435645
EVALUATION_LOCK = f"pg_try_advisory_xact_lock({EVALUATION_LOCK_NAMESPACE}, hashtext({{}}))"


async def claim_evaluations(conn: asyncpg.Connection, vehicle_ids: Sequence[str]) -> set[str]:
    """Those of the vehicles whose evaluation this transaction now holds (`EVALUATION_LOCK`)."""
    rows = await conn.fetch(f"SELECT id FROM unnest($1::text[]) AS id WHERE {EVALUATION_LOCK.format('id')}",
                            sorted(set(vehicle_ids)))
    return {r["id"] for r in rows}


# The list's filters, on the shipments (or the search's matches) read as `s`: $1 status, $2
# station, $3 branch, $4 delayed, $5 after (keyset).
_FILTERS = """
    WHERE ($1::text IS NULL
           OR ($1 = 'exception' AND s.open_exceptions > 0)
           OR ($1 <> 'exception' AND s.status = $1 AND s.open_exceptions = 0))
      AND ($2::text IS NULL OR s.origin = $2 OR s.destination = $2 OR s.via @> ARRAY[$2])
      AND ($3::text IS NULL OR s.origin = $3 OR s.destination = $3 OR s.via @> ARRAY[$3])
      AND ($4::boolean IS NULL OR s.delayed = $4)
      AND ($5::text IS NULL OR s.waybill_no > $5)"""
# A search's conditions, each on stored, indexed columns (migrations 0009, 0010): a waybill or
# shipper-name prefix as a byte-wise range (`text_pattern_ops` indexes: a prefix range is usable
# by an index whatever the parameters, where LIKE with a parameter is not), the customer id, and a
# phone as its keyed hash or its last 4 digits (GIN over the parties' keys).
_TEXT = ("((waybill_no ~>=~ ${lo} AND waybill_no ~<~ ${hi}) OR (shipper->>'customer_id') = ${exact} "
         "OR ((shipper->>'name') ~>=~ ${lo} AND (shipper->>'name') ~<~ ${hi}))")
# A search reads its matches first, through those indexes, then each match by its key (LATERAL;
# its LIMIT 1 keeps the planner from flattening it into a join): as one WHERE with the list's
# ORDER BY ... LIMIT, or as a plain join, a prepared statement's generic plan walks the primary key
# in order, filtering row by row until the page is full.
_SEARCH = ("WITH hits AS MATERIALIZED (SELECT waybill_no AS hit FROM shipments WHERE {conditions}) "
           "SELECT s.* FROM hits CROSS JOIN LATERAL "
           "(SELECT * FROM shipments WHERE waybill_no = hits.hit LIMIT 1) AS s")


# A search by the last 4 digits of a phone and nothing else ($1; $2 the keyset, '' from the start;
# $3 the page size): each party's slot of `phone_last4` (at most `domain.search.PHONE_SLOTS`) is a
# B-tree range already in waybill order (migration 0019), so the page is the merge of the first
# $3 of each, whatever the number of matches (a big company's last 4 digits match thousands). A
# shipment's last-4s are distinct (domain.search.phone_keys), so no match is in both slots.
_LAST4_PAGE = (
    "WITH hits AS MATERIALIZED ("
    "(SELECT waybill_no AS hit FROM shipments WHERE phone_last4[1] = $1 AND waybill_no > $2 ORDER BY waybill_no "
    "LIMIT $3) UNION ALL "
    "(SELECT waybill_no FROM shipments WHERE phone_last4[2] = $1 AND waybill_no > $2 ORDER BY waybill_no LIMIT $3) "
    "ORDER BY hit LIMIT $3) "
    "SELECT s.* FROM hits CROSS JOIN LATERAL "
    "(SELECT * FROM shipments WHERE waybill_no = hits.hit LIMIT 1) AS s ORDER BY s.waybill_no")

# The delayed list's keyset, newest delay first (`shipments_delayed_since_idx`): after a row late
# since $a (waybill $b), or after a row without a time (written by an earlier release; those last).
_AFTER_DELAY = (" AND (s.delayed_since < ${a} OR (s.delayed_since = ${a} AND s.waybill_no > ${b}) "
                "OR s.delayed_since IS NULL)")
_AFTER_UNTIMED_DELAY = " AND s.delayed_since IS NULL AND s.waybill_no > ${b}"

DelayKey = tuple[datetime | None, str]  # a row's place in the delayed list: (delayed_since, waybill_no)


async def list_shipments(conn: asyncpg.Connection, *, status: str | None, station: str | None,
                         branch: str | None, delayed: bool | None, after: str | None, limit: int,
                         text: TextQuery | None = None, phone: PhoneQuery | None = None,
                         customer: str | None = None, by_delay: bool = False,
                         after_delay: DelayKey | None = None) -> list[Record]:
    """Keyset page on waybill_no, or with `by_delay` on (delayed_since newest first, waybill_no)
    from `after_delay`. `status` is the displayed status (`exception` = open exceptions); `text`
    and `phone` narrow it to a search's matches; `customer` to one customer's shipments (through
    the customer-id index, like a search)."""
    args: list[Any] = [status, station, branch, delayed, None if by_delay else after]
    conditions = []
    if text is not None:
        n = len(args)
        conditions.append(_TEXT.format(lo=n + 1, hi=n + 2, exact=n + 3))
        args += [text.prefix, text.prefix_end, text.text]
    if phone is not None:
        column = "phone_hashes" if phone.hash is not None else "phone_last4"
        args.append(phone.hash if phone.hash is not None else phone.last4)
        conditions.append(f"{column} @> ARRAY[${len(args)}::text]")
    if customer is not None:
        args.append(customer)
        conditions.append(f"(shipper->>'customer_id') = ${len(args)}")
    if (phone is not None and phone.last4 is not None and len(conditions) == 1 and not by_delay
            and status is None and station is None and branch is None and delayed is None):
        # the desk's search by last 4 digits alone: only the page is read (`_LAST4_PAGE`)
        return await conn.fetch(_LAST4_PAGE, phone.last4, after or "", limit)
    source = _SEARCH.format(conditions=" AND ".join(conditions)) if conditions else "SELECT * FROM shipments s"
    keyset, order = "", "s.waybill_no"
    if by_delay:
        order = "s.delayed_since DESC NULLS LAST, s.waybill_no"
        if after_delay is not None:
            since, waybill_no = after_delay
            if since is None:
                args.append(waybill_no)
                keyset = _AFTER_UNTIMED_DELAY.format(b=len(args))
            else:
                args += [since, waybill_no]
                keyset = _AFTER_DELAY.format(a=len(args) - 1, b=len(args))
    args.append(limit)
    return await conn.fetch(f"{source} {_FILTERS}{keyset} ORDER BY {order} LIMIT ${len(args)}", *args)


# --- the parties' phone keys of shipments registered before they were kept (migration 0009) -----


async def lacking_phone_keys(conn: asyncpg.Connection, limit: int) -> list[Record]:
    """Up to `limit` shipments without phone keys, locked (another replica's backfill skips them)."""
    return await conn.fetch(
        "SELECT waybill_no, shipper->>'phone' AS shipper_phone, consignee->>'phone' AS consignee_phone "
        "FROM shipments WHERE phone_hashes IS NULL ORDER BY waybill_no LIMIT $1 FOR UPDATE SKIP LOCKED", limit)


async def save_phone_keys(conn: asyncpg.Connection, keys: Sequence[tuple[str, PhoneKeys]]) -> None:
    await conn.executemany("UPDATE shipments SET phone_hashes = $2, phone_last4 = $3 WHERE waybill_no = $1",
                           [(waybill_no, k.hashes, k.last4) for waybill_no, k in keys])


# --- scans and delay states -------------------------------------------------------------------


async def insert_scan(conn: asyncpg.Connection, waybill_no: str, *, type_: str, station: str, at: datetime,
                      vehicle_id: str | None, pieces: int, actor: str) -> None:
    await conn.execute(
        "INSERT INTO scans (waybill_no, type, station, at, vehicle_id, pieces, actor) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        waybill_no, type_, station, at, vehicle_id, pieces, actor)


# A delay state's columns, as the evaluation writes them to `on_board` (every state worth saving)
# and to `shipments` (the desk's copy of each decision), and their SQL types (`shared.sql.json_rows`).
_STATE_TYPES = (("eta", "timestamptz"), ("delayed", "boolean"), ("delay_minutes", "int"), ("delay_reason", "text"),
                ("notified_eta", "timestamptz"), ("evaluated_at", "timestamptz"),
                ("delay_notified_at", "timestamptz"), ("delayed_since", "timestamptz"))

BoardState = tuple[str, str, DelayState]  # (vehicle_id, waybill_no, state): a shipment on board, its new state


def _state_update(table: str, keys: Sequence[str], first: int, also: str = "") -> str:
    """The UPDATE of `table`'s delay states by `keys`, from the rows (keys, then `_STATE_TYPES`) of
    parameter `first` (`shared.sql.json_rows`)."""
    columns = [*((k, "text") for k in keys), *_STATE_TYPES]
    sets = ", ".join([*(f"{name} = n.{name}" for name, _ in _STATE_TYPES), *([also] if also else [])])
    match = " AND ".join(f"s.{k} = n.{k}" for k in keys)
    return (f"UPDATE {table} s SET {sets} "
            f"FROM (SELECT {json_row_columns(columns)} FROM jsonb_array_elements(${first}::text::jsonb) AS e) AS n "
            f"WHERE {match}")


def save_board_states_sql(first: int) -> str:
    """The UPDATE of `save_board_states`, its one parameter (`board_states_params`: the states' rows)
    numbered `first` (alone, or as a data-modifying CTE of the statement that ends an ingest): by the
    `on_board` key, within the vehicles' rows."""
    return _state_update("on_board", ("vehicle_id", "waybill_no"), first)


_SAVE_BOARD_STATES = save_board_states_sql(1)
_SAVE_DELAY_STATES = _state_update("shipments", ("waybill_no",), 1, also="updated_at = now()")


def _state_columns(state: DelayState) -> tuple[Any, ...]:
    return (state.eta, state.delayed, state.delay_minutes, None if state.reason is None else state.reason.value,
            state.notified_eta, state.evaluated_at, state.notified_at, state.delayed_since)


def board_states_params(states: Sequence[BoardState]) -> list[Any]:
    """The parameters of `save_board_states_sql`."""
    return [json_rows([(vehicle_id, waybill_no, *_state_columns(st)) for vehicle_id, waybill_no, st in states])]


async def save_board_states(conn: asyncpg.Connection, states: Sequence[BoardState]) -> None:
    """The new delay states of shipments on board, in one statement (an evaluation saves one per
    shipment of every vehicle of a batch)."""
    await conn.execute(_SAVE_BOARD_STATES, *board_states_params(states))


async def save_delay_states(conn: asyncpg.Connection, states: Sequence[tuple[str, DelayState]]) -> None:
    """The shipments' delay states in `shipments`, by waybill: what the desk's lists filter and
    order by, written when a delay decision changes (`domain.delay.delay_decision_changed`)."""
    await conn.execute(_SAVE_DELAY_STATES, json_rows([(waybill_no, *_state_columns(st)) for waybill_no, st in states]))


# --- CSV imports --------------------------------------------------------------------------------


async def claim_import(conn: asyncpg.Connection, file_sha256: str, encoding: str | None, by: str) -> bool:
    """Record the file; False if it was imported before (waits for a concurrent import of it)."""
    row = await conn.fetchrow(
        "INSERT INTO shipment_imports (file_sha256, registered, waybills, encoding, imported_by) "
        "VALUES ($1, 0, '{}', $2, $3) ON CONFLICT (file_sha256) DO NOTHING RETURNING file_sha256",
        file_sha256, encoding, by,
    )
    return row is not None


async def complete_import(conn: asyncpg.Connection, file_sha256: str, waybills: Sequence[str]) -> None:
    await conn.execute(
        "UPDATE shipment_imports SET registered = $2, waybills = $3::text[] WHERE file_sha256 = $1",
        file_sha256, len(waybills), list(waybills),
    )


async def delivered_outside_window(conn: asyncpg.Connection, waybill_no: str) -> bool:
    """Whether the signed delivery missed its appointment's window (deliveries.outside_window)."""
    return bool(await conn.fetchval("SELECT outside_window FROM deliveries WHERE waybill_no = $1", waybill_no))
