"""Figure 5: the same queries at 10,000 rows and at the large size.

The tables are emptied of what the earlier figures wrote, then filled by COPY straight into
the service schemas (the services are running, their migrations applied): first the small
set, measured; then the rest up to the large size (a superset: the queried shipment,
receipt and vehicle are the same), measured again. What stays the same between the two
sizes on purpose — because it is what a real day looks like at any history size — is the
"live" part: the in-transit shipments (on the first vehicles), the receipts still being
chased, and each vehicle's fix density (one fix a minute). What grows is the history:
delivered shipments, returned receipts, more vehicles with their fixes.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from services.tracking.feeds.partitions import ensure_partitions, utc_day
from services.tracking.shipments.repository import reconcile_on_board
from shared.devtools.plans import plan_nodes
from shared.pii import keyed_hash

FIXES_PER_VEHICLE = 2000     # one a minute: ~33 hours, more than the 24-hour window
LIVE_IN_TRANSIT = 200        # in-transit shipments (the 08:00 report's content)
LIVE_CHASED = 300            # receipts overdue and still chased
CHUNK = 50_000


@dataclass(frozen=True)
class Size:
    shipments: int
    receipts: int
    positions: int


SIZES = {
    "tiny": (Size(1_000, 1_000, 4_000), Size(5_000, 5_000, 20_000), "tiny (smoke test only)"),
    "normal": (Size(10_000, 10_000, 10_000), Size(100_000, 100_000, 2_000_000),
               "normal scale: 10× smaller than the issue's large size"),
    "large": (Size(10_000, 10_000, 10_000), Size(1_000_000, 1_000_000, 20_000_000), "the issue's large size"),
}

SHIPMENT_SQL = "SELECT * FROM tracking.shipments_live WHERE waybill_no = $1"
TIMELINE_SQL = "SELECT at, kind, data FROM tracking.timeline WHERE waybill_no = $1 ORDER BY at, id"
CHASE_SQL = (
    "SELECT r.waybill_no, r.status, r.origin, r.destination, r.due_at, r.final_due_at, r.station_contact, "
    "       ARRAY(SELECT c.stage FROM receipts.chase_emissions c WHERE c.waybill_no = r.waybill_no) AS emitted "
    "FROM receipts.receipts r "
    "WHERE r.status IN ('awaiting_delivery', 'signed', 'abnormal', 'qualified', 'mailed', 'lost') "
    "  AND NOT r.chase_done AND r.due_at IS NOT NULL AND r.due_at <= $1 "
    "  AND ($2::timestamptz IS NULL OR (r.due_at, r.waybill_no) > ($2::timestamptz, $3::text)) "
    "ORDER BY r.due_at, r.waybill_no LIMIT $4 FOR UPDATE OF r")
IN_TRANSIT_SQL = (
    "SELECT waybill_no, vehicle_id, destination, promised_at, eta, delayed, cargo FROM tracking.shipments_live "
    "WHERE status = 'in_transit' AND vehicle_id IS NOT NULL "
    "  AND ($1::text IS NULL OR origin = $1 OR destination = $1 OR $1 = ANY(via)) ORDER BY vehicle_id, waybill_no")
TRACK_SQL = ("SELECT at, lat, lon, speed_kmh FROM tracking.positions WHERE vehicle_id = $1 AND at BETWEEN $2 AND $3 "
             "ORDER BY at")

INDEX_NOTES = {
    "shipments_pkey": "B-tree on `shipments.waybill_no` (0001): one index descent, O(log n) — a 100× bigger "
                      "table adds about one B-tree level.",
    "timeline_waybill_idx": "`timeline (waybill_no, at, id)` (0001): the shipment's entries already in "
                            "display order, no sort.",
    "receipts_chase_idx": "partial `receipts (due_at, waybill_no) WHERE status IN (not back yet) AND NOT "
                          "chase_done AND due_at IS NOT NULL` (receipts 0001): holds only receipts still "
                          "chased, so its size follows the live backlog, not the history; the scan is a range "
                          "read `due_at <= as_of` in keyset order.",
    "chase_emissions_pkey": "`chase_emissions (waybill_no, stage)` PK (receipts 0001): the stages already "
                            "announced for each candidate.",
    "shipments_on_vehicle_idx": "partial `shipments (vehicle_id) WHERE status IN ('in_transit','registered')` "
                                "(0001): only shipments still moving; delivered history is not in it.",
    "shipments_status_idx": "`shipments (status, waybill_no)` (0001): the in-transit rows by status.",
    "on_board_pkey": "`on_board (vehicle_id, waybill_no)` PK (0020): the live ETA of a shipment on board "
                     "(`shipments_live`), one index descent per shipment shown.",
    "positions_pkey": "`positions (vehicle_id, at)` PK (0001; partitioned by UTC day since 0016): one vehicle's "
                      "fixes between two times are one contiguous range of each day's index, already in time "
                      "order, and only the days the window touches are read (partition pruning).",
    "positions_at_brin": "BRIN on `positions.at` (0001): serves the row deletes left to retention (the legacy and "
                         "default partitions), not per-vehicle reads.",
}


def _records_shipments(start: int, stop: int, now: datetime, hash_key: str) -> Iterator[tuple[Any, ...]]:
    """Shipment i's consignee phone is 139 followed by i in 8 digits, so its last 4 digits are
    i mod 10,000: a last-4 search finds size / 10,000 shipments, as with real numbers, and the
    public tracking page's digits of shipment i are known (figure "Public tracking page")."""
    shipper_phone = "13800000000"
    shipper = json.dumps({"customer_id": "C1", "name": "无锡精工", "phone": shipper_phone, "email": "ops@example.com"})
    shipper_hash = keyed_hash(shipper_phone, hash_key)
    cargo = json.dumps({"description": "轴承", "pieces": 10, "weight_kg": 120.5, "volume_m3": 1.2,
                        "dangerous": False, "fragile": True, "keep_upright": True, "moisture_sensitive": False})
    receipt = json.dumps({"required": True, "signature": True, "stamp": False, "id_number": True, "copies": 1})
    for i in range(start, stop):
        live = i < LIVE_IN_TRANSIT
        reg = now - timedelta(minutes=i % 500_000 + 60)
        phone = f"139{i % 100_000_000:08d}"
        consignee = json.dumps({"name": "杨民敬", "phone": phone, "email": None, "company": None})
        yield (f"S{i:09d}", "BSH", "BWX", ["BNJ"], shipper, consignee, cargo, 10, reg + timedelta(days=2), "prepaid",
               receipt, "bench", reg, "in_transit" if live else "delivered", 0 if live else 10,
               reg + timedelta(minutes=30), f"SV{i % 10:06d}" if live else None,
               None if live else reg + timedelta(days=1), [shipper_hash, keyed_hash(phone, hash_key)],
               ["0000", phone[-4:]], False, 0)


# The desk's search by last 4 digits (bench/desk.py) looks these up. Shipment i of the figure-5 sets
# ends in i's last 4 digits (1 of the small set's 10,000 ends in them, 100 of the big set's 1,000,000);
# DESK_SEARCH_EXTRA of the live part's delayed shipments (the same at both sizes) end in them too, so
# at both sizes more match than the desk's page of 25 shows: the same page is rendered, and the
# ratio measures what the data's size does to it, not 1 hit against 25.
DESK_SEARCH_LAST4 = "0042"
DESK_SEARCH_EXTRA = 30


def _records_delayed(n: int, now: datetime, hash_key: str) -> Iterator[tuple[Any, ...]]:
    """The desk's live part: `n` in-transit shipments running late (the workbench's first list), the
    first DESK_SEARCH_EXTRA of them with a consignee phone ending in DESK_SEARCH_LAST4."""
    shipper_phone = "13800000000"
    shipper = json.dumps({"customer_id": "C2", "name": "苏州精密", "phone": shipper_phone, "email": "ops@example.com"})
    cargo = json.dumps({"description": "轴承", "pieces": 10, "weight_kg": 120.5, "volume_m3": 1.2,
                        "dangerous": False, "fragile": True, "keep_upright": True, "moisture_sensitive": False})
    receipt = json.dumps({"required": True, "signature": True, "stamp": False, "id_number": True, "copies": 1})
    for i in range(n):
        phone = f"137{i:04d}{DESK_SEARCH_LAST4}" if i < DESK_SEARCH_EXTRA else f"137{i:08d}"
        consignee = json.dumps({"name": "李娜", "phone": phone, "email": None, "company": None})
        reg = now - timedelta(hours=20, minutes=i)
        yield (f"D{i:09d}", "BSH", "BWX", ["BNJ"], shipper, consignee, cargo, 10, now + timedelta(hours=2),
               "prepaid", receipt, "bench", reg, "in_transit", 0, reg + timedelta(minutes=30),
               f"SV{i % 10:06d}", None, [keyed_hash(shipper_phone, hash_key), keyed_hash(phone, hash_key)],
               ["0000", phone[-4:]], True, 30 + i % 300)


SHIPMENT_COLUMNS = ("waybill_no", "origin", "destination", "via", "shipper", "consignee", "cargo", "pieces",
                    "promised_at", "payment", "receipt", "registered_by", "registered_at", "status",
                    "pieces_arrived", "departed_at", "vehicle_id", "delivered_at", "phone_hashes", "phone_last4",
                    "delayed", "delay_minutes")


def _records_receipts(start: int, stop: int, now: datetime) -> Iterator[tuple[Any, ...]]:
    for i in range(start, stop):
        live = i < LIVE_CHASED
        reg = now - timedelta(days=20, minutes=i % 500_000)
        yield (f"S{i:09d}", "awaiting_delivery" if live else "handed_over", True, True, False, True, 1, "prepaid",
               "BSH", "BWX", ["BNJ"], 1, "华东", "华东", "华东", reg, reg + timedelta(days=10),
               not live, reg + timedelta(days=2) if not live else None)


def _records_at_risk(n: int, now: datetime) -> Iterator[tuple[Any, ...]]:
    """The desk's live part: `n` receipts not back yet and due within the next three days."""
    for i in range(n):
        reg = now - timedelta(days=8, minutes=i)
        yield (f"R{i:09d}", "awaiting_delivery", True, True, False, True, 1, "prepaid", "BSH", "BWX", ["BNJ"], 1,
               "华东", "华东", "华东", reg, now + timedelta(hours=6 + i % 60), False, None)


RECEIPT_COLUMNS = ("waybill_no", "status", "required", "req_signature", "req_stamp", "req_id_number", "req_copies",
                   "payment", "origin", "destination", "via", "transfers", "origin_region", "destination_region",
                   "region", "registered_at", "due_at", "chase_done", "returned_at")


def _records_positions(v_start: int, v_stop: int, end: datetime) -> Iterator[tuple[Any, ...]]:
    for v in range(v_start, v_stop):
        vid = f"SV{v:06d}"
        for k in range(FIXES_PER_VEHICLE):
            yield (vid, end - timedelta(minutes=FIXES_PER_VEHICLE - k), 31.0 + k * 1e-4, 121.0 + v * 1e-4,
                   60.0, 280.0)


def _chunks(it: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for rec in it:
        chunk.append(rec)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _copy(conn: asyncpg.Connection, table: str, schema: str, columns: tuple[str, ...],
                records: Iterator[tuple[Any, ...]]) -> None:
    for chunk in _chunks(records):
        await conn.copy_records_to_table(table, schema_name=schema, records=chunk, columns=columns)


class ScaleData:
    def __init__(self, conn: asyncpg.Connection, now: datetime, hash_key: str) -> None:
        self.conn = conn
        self.now = now
        self.hash_key = hash_key
        self.loaded = Size(0, 0, 0)
        self.vehicles = 0
        self.positions_end = now - timedelta(minutes=1)

    async def empty(self) -> None:
        await self.conn.execute(
            "TRUNCATE tracking.positions, tracking.on_board, tracking.shipments, tracking.scans, tracking.timeline, "
            "tracking.deliveries, tracking.notes, tracking.exception_photos, tracking.cargo_exceptions CASCADE")
        # custody is append-only (a trigger refuses TRUNCATE); the earlier figures wrote none,
        # so the receipts they created go with plain DELETEs
        await self.conn.execute("DELETE FROM receipts.envelope_items")
        await self.conn.execute("DELETE FROM receipts.chase_emissions")
        await self.conn.execute("DELETE FROM receipts.receipts")
        await self.conn.execute("TRUNCATE receipts.shipment_facts")

    async def grow_to(self, size: Size) -> float:
        """COPY rows until the tables hold `size`; returns the seconds it took (VACUUM ANALYZE included)."""
        t0 = time.perf_counter()
        c = self.conn
        v_have = self.loaded.positions // FIXES_PER_VEHICLE
        v_want = max(1, size.positions // FIXES_PER_VEHICLE)
        # vehicles SV000000.. carry the fixes; the first 10 also carry the in-transit shipments
        new_vehicles = range(self.vehicles, max(v_want, 10))
        await _copy(c, "vehicles", "tracking", ("vehicle_id", "plate", "carrier", "device_id"),
                    iter([(f"SV{v:06d}", "沪B00000", "SCALECAR", f"SD{v:06d}") for v in new_vehicles]))
        await _copy(c, "devices", "tracking", ("device_id", "vehicle_id"),
                    iter([(f"SD{v:06d}", f"SV{v:06d}") for v in new_vehicles]))
        self.vehicles = max(self.vehicles, v_want, 10)
        await _copy(c, "shipments", "tracking", SHIPMENT_COLUMNS,
                    _records_shipments(self.loaded.shipments, size.shipments, self.now, self.hash_key))
        if self.loaded.shipments == 0:
            await c.executemany(
                "INSERT INTO tracking.timeline (waybill_no, at, kind, data) VALUES ($1, $2, $3, $4)",
                [("S000000000", self.now - timedelta(hours=h), k, json.dumps({"bench": True}))
                 for h, k in ((5, "registered"), (4, "scan"), (3, "delayed"))])
        await self._board()
        await _copy(c, "receipts", "receipts", RECEIPT_COLUMNS,
                    _records_receipts(self.loaded.receipts, size.receipts, self.now))
        # `positions` is partitioned by day (migration 0016): the days of the fixes get their partitions
        # first, as the service's job would have made them, so none lands in the default partition
        first = self.positions_end - timedelta(minutes=FIXES_PER_VEHICLE)
        async with c.transaction():
            await c.execute("SET LOCAL search_path TO tracking, public")
            await ensure_partitions(c, utc_day(first), utc_day(self.positions_end))
        await _copy(c, "positions", "tracking",
                    ("vehicle_id", "at", "lat", "lon", "speed_kmh", "heading"),
                    _records_positions(v_have, v_want, self.positions_end))
        for table in ("tracking.vehicles", "tracking.shipments", "tracking.on_board", "tracking.timeline",
                      "tracking.positions", "receipts.receipts", "receipts.chase_emissions"):
            await c.execute(f"VACUUM ANALYZE {table}")
        self.loaded = size
        return time.perf_counter() - t0

    async def desk_extras(self, delayed: int, at_risk: int) -> None:
        """The live part the desk's pages show, the same at both sizes (added with the small set)."""
        await _copy(self.conn, "shipments", "tracking", SHIPMENT_COLUMNS,
                    _records_delayed(delayed, self.now, self.hash_key))
        await self._board()
        await _copy(self.conn, "receipts", "receipts", RECEIPT_COLUMNS, _records_at_risk(at_risk, self.now))
        for table in ("tracking.shipments", "tracking.on_board", "receipts.receipts"):
            await self.conn.execute(f"VACUUM ANALYZE {table}")

    async def _board(self) -> None:
        """The copied shipments in transit on a vehicle onto its `on_board` rows, as a scan would have
        put them (the service's own reconciliation)."""
        async with self.conn.transaction():
            await self.conn.execute("SET LOCAL search_path TO tracking, public")
            await reconcile_on_board(self.conn)

    async def remove_desk_extras(self) -> None:
        await self.conn.execute("DELETE FROM tracking.on_board WHERE waybill_no LIKE 'D%'")
        await self.conn.execute("DELETE FROM tracking.shipments WHERE waybill_no LIKE 'D%'")
        await self.conn.execute("DELETE FROM receipts.receipts WHERE waybill_no LIKE 'R%'")
        for table in ("tracking.shipments", "receipts.receipts"):
            await self.conn.execute(f"VACUUM ANALYZE {table}")

    async def counts(self) -> dict[str, int]:
        out = {}
        for t in ("tracking.shipments", "receipts.receipts", "tracking.positions"):
            out[t] = await self.conn.fetchval(f"SELECT count(*) FROM {t}")
        return out


def _plan_names(plan: Any, key: str) -> list[str]:
    found: list[str] = []
    for node in plan_nodes(plan):
        name = node.get(key)
        if name and name not in found:
            found.append(name)
    return found


async def _explain(conn: asyncpg.Connection, sql: str, *args: Any) -> tuple[list[str], float]:
    """EXPLAIN ANALYZE runs the statement (row locks included): inside a rolled-back transaction. The
    indexes are named as the migrations name them: a partition's index by its partitioned index."""
    plan = await _plan(conn, sql, *args)
    names = _plan_names(plan, "Index Name")
    roots = {r["name"]: r["root"] for r in await conn.fetch(
        "SELECT c.relname AS name, coalesce(pg_partition_root(c.oid), c.oid)::regclass::text AS root "
        "FROM pg_class c WHERE c.relname = ANY($1::text[])", names)}
    out: list[str] = []
    for name in names:
        root = roots.get(name, name).split(".")[-1]
        if root not in out:
            out.append(root)
    return out, float(plan[0]["Execution Time"])


async def _plan(conn: asyncpg.Connection, sql: str, *args: Any) -> Any:
    plan: Any = None
    with contextlib.suppress(_Rollback):
        async with conn.transaction():
            raw = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
            plan = json.loads(raw) if isinstance(raw, str) else raw
            raise _Rollback
    return plan


async def timed_ms(fn: Any, reps: int, warmups: int = 3) -> list[float]:
    """`fn()` awaited `warmups` times untimed, then `reps` times one after the other: the
    wall times in milliseconds, sorted."""
    for _ in range(warmups):
        await fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1000)
    return sorted(times)


async def _median_ms(fn: Any, reps: int) -> float:
    return statistics.median(await timed_ms(fn, reps))


async def measure(conn: asyncpg.Connection, http: httpx.AsyncClient, tracking: str, admin: dict[str, str],
                  now: datetime, positions_end: datetime, reps: int) -> dict[str, dict[str, Any]]:
    """Median wall time of each query (HTTP round trip where it is an endpoint), with the
    indexes its plan uses (EXPLAIN ANALYZE, in a transaction that is rolled back)."""
    out: dict[str, dict[str, Any]] = {}

    async def get_shipment() -> None:
        r = await http.get(f"{tracking}/v1/shipments/S000000000", headers=admin)
        r.raise_for_status()

    async def in_transit() -> None:
        r = await http.get(f"{tracking}/v1/reports/in-transit", params={"as_of": now.isoformat()}, headers=admin)
        r.raise_for_status()

    async def chase() -> None:
        async with conn.transaction():
            await conn.fetch(CHASE_SQL, now, None, None, 500)
            raise _Rollback

    async def chase_safe() -> None:
        with contextlib.suppress(_Rollback):
            await chase()

    async def track() -> None:
        await conn.fetch(TRACK_SQL, "SV000000", positions_end - timedelta(hours=24), positions_end)

    idx, _ = await _explain(conn, SHIPMENT_SQL, "S000000000")
    idx2, _ = await _explain(conn, TIMELINE_SQL, "S000000000")
    out["shipment"] = {"ms": await _median_ms(get_shipment, reps), "indexes": idx + idx2}
    idx, _ = await _explain(conn, CHASE_SQL, now, None, None, 500)
    rows = len(await _fetch_rolled_back(conn, CHASE_SQL, now, None, None, 500))
    out["chase"] = {"ms": await _median_ms(chase_safe, reps), "indexes": idx, "rows": rows}
    idx, _ = await _explain(conn, IN_TRANSIT_SQL, None)
    out["in_transit"] = {"ms": await _median_ms(in_transit, reps), "indexes": idx,
                         "rows": len(await conn.fetch(IN_TRANSIT_SQL, None))}
    idx, _ = await _explain(conn, TRACK_SQL, "SV000000", positions_end - timedelta(hours=24), positions_end)
    # the partitions the plan reads: a 24-hour window prunes to one or two days' partitions
    scanned = _plan_names(await _plan(conn, TRACK_SQL, "SV000000", positions_end - timedelta(hours=24),
                                      positions_end), "Relation Name")
    out["track"] = {"ms": await _median_ms(track, reps), "indexes": idx, "partitions": scanned,
                    "rows": len(await conn.fetch(TRACK_SQL, "SV000000", positions_end - timedelta(hours=24),
                                                 positions_end))}
    return out


class _Rollback(Exception):
    pass


async def _fetch_rolled_back(conn: asyncpg.Connection, sql: str, *args: Any) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = []
    with contextlib.suppress(_Rollback):
        async with conn.transaction():
            rows = await conn.fetch(sql, *args)
            raise _Rollback
    return rows


def utcnow() -> datetime:
    return datetime.now(UTC)
