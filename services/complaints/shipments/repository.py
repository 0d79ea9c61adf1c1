"""SQL of the shipment read model (`shipments`): one row per waybill, written only by the
handlers of tracking's events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.complaints.domain.shipments import ShipmentView, view_of

_VIEW_COLUMNS = ("customer_id", "shipper", "origin", "destination", "destination_name", "via", "stations",
                 "station_names", "registered_at", "promised_at", "status", "status_at", "eta", "eta_at",
                 "delayed", "delay_minutes", "delay_reason", "delay_at", "position", "position_at", "vehicle_id",
                 "vehicle_at", "exception", "exception_at")


def _view(record: asyncpg.Record) -> ShipmentView:
    data = {c: record[c] for c in _VIEW_COLUMNS}
    data["via"] = tuple(data["via"] or ())
    data["stations"] = tuple(data["stations"] or ())
    data["station_names"] = dict(data["station_names"] or {})
    return view_of({"waybill_no": record["waybill_no"], **data})


async def load_shipment(conn: asyncpg.Connection, waybill_no: str) -> ShipmentView | None:
    record = await conn.fetchrow("SELECT * FROM shipments WHERE waybill_no = $1", waybill_no)
    return None if record is None else _view(record)


async def lock_shipment(conn: asyncpg.Connection, waybill_no: str) -> ShipmentView:
    """The view of a waybill, created empty if unseen, locked until the transaction ends."""
    record = await conn.fetchrow(
        "INSERT INTO shipments (waybill_no) VALUES ($1) ON CONFLICT DO NOTHING RETURNING *", waybill_no)
    if record is None:
        record = await conn.fetchrow("SELECT * FROM shipments WHERE waybill_no = $1 FOR UPDATE", waybill_no)
    assert record is not None  # inserted, or there to lock: shipments are never deleted
    return _view(record)


async def lock_stored_shipments(conn: asyncpg.Connection, waybills: Sequence[str]) -> dict[str, ShipmentView]:
    """The views of those of `waybills` that are stored, locked in waybill order until the
    transaction ends; the others are absent (see `insert_shipments`).

    Prepared afresh each time, so PostgreSQL plans it for this array and the table as it is now.
    A cached statement gets a generic plan after five runs, and one made while the table was
    still small (a fresh install, the bench's first groups) is a sequential scan that stays
    cached as the table grows (docs/BENCHMARKS.md has the figures)."""
    if not waybills:
        return {}
    stmt = await conn.prepare("SELECT * FROM shipments WHERE waybill_no = ANY($1::text[]) "
                              "ORDER BY waybill_no FOR UPDATE")
    rows = await stmt.fetch(sorted(waybills))
    return {r["waybill_no"]: _view(r) for r in rows}


class ShipmentStoredMeanwhile(RuntimeError):
    """A view `insert_shipments` was to create was stored by another transaction after this one
    found it absent: the caller's premise no longer holds, so its transaction must roll back (the
    consumer then handles the group's events one by one, through `lock_shipment`)."""


def _view_data(view: ShipmentView) -> dict[str, Any]:
    """The view's columns as the database takes them (a shallow read: `asdict` would deep-copy)."""
    data = {c: getattr(view, c) for c in _VIEW_COLUMNS}
    data["via"] = list(view.via)
    data["stations"] = list(view.stations)
    return data


async def save_shipment(conn: asyncpg.Connection, view: ShipmentView) -> None:
    await save_shipments(conn, [view])


# The SQL types of the view's columns, for saving many views from one JSON array.
_VIEW_TYPES = {
    "customer_id": "text", "shipper": "jsonb", "origin": "text", "destination": "text",
    "destination_name": "text", "via": "text[]", "stations": "text[]", "station_names": "jsonb",
    "registered_at": "timestamptz", "promised_at": "timestamptz", "status": "text", "status_at": "timestamptz",
    "eta": "timestamptz", "eta_at": "timestamptz", "delayed": "boolean", "delay_minutes": "integer",
    "delay_reason": "text", "delay_at": "timestamptz", "position": "jsonb", "position_at": "timestamptz",
    "vehicle_id": "text", "vehicle_at": "timestamptz", "exception": "jsonb", "exception_at": "timestamptz",
}
# Many views as rows, from one JSON array of `_view_records` (the one source both statements read).
_VIEW_RECORDSET = (f"jsonb_to_recordset($1::jsonb) AS v(waybill_no text, "
                   f"{', '.join(f'{c} {_VIEW_TYPES[c]}' for c in _VIEW_COLUMNS)})")
_SAVE_SHIPMENTS = (
    f"UPDATE shipments s SET {', '.join(f'{c} = v.{c}' for c in _VIEW_COLUMNS)}, updated_at = now() "
    f"FROM {_VIEW_RECORDSET} WHERE s.waybill_no = v.waybill_no"
)
_INSERT_SHIPMENTS = (
    f"INSERT INTO shipments (waybill_no, {', '.join(_VIEW_COLUMNS)}) "
    f"SELECT v.waybill_no, {', '.join(f'v.{c}' for c in _VIEW_COLUMNS)} FROM {_VIEW_RECORDSET} "
    f"ON CONFLICT (waybill_no) DO NOTHING RETURNING waybill_no"
)


def _view_records(views: Sequence[ShipmentView]) -> list[dict[str, Any]]:
    """The views as `_VIEW_RECORDSET` reads them, in waybill order (the order their rows are locked in)."""
    return [{"waybill_no": v.waybill_no, **_view_data(v)} for v in sorted(views, key=lambda v: v.waybill_no)]


async def insert_shipments(conn: asyncpg.Connection, views: Sequence[ShipmentView]) -> None:
    """Store views of waybills this transaction found absent (`lock_stored_shipments`), whole, in
    one statement: one row version each, where `lock_shipment` then `save_shipment` write two (an
    empty row, then its update). Raises `ShipmentStoredMeanwhile` if one was stored meanwhile."""
    if not views:
        return
    rows = await conn.fetch(_INSERT_SHIPMENTS, _view_records(views))
    if len(rows) != len(views):
        taken = sorted({v.waybill_no for v in views} - {r["waybill_no"] for r in rows})
        raise ShipmentStoredMeanwhile(f"shipments stored by another transaction meanwhile: {taken[:5]}")


async def save_shipments(conn: asyncpg.Connection, views: Sequence[ShipmentView]) -> None:
    """`save_shipment` for several distinct waybills in one statement (the one statement both use)."""
    if not views:
        return
    await conn.execute(_SAVE_SHIPMENTS, _view_records(views))
