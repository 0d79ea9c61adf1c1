"""The columns the public view is made of: the shipment's stage, where it is, its ETA and delay,
the stored last-4 digits of its parties' phones (migration 0009), the timeline entries the public
may see some of, and the cities of the stations they name — nothing else of the row.

One statement per look-up: the public page is the one read anyone may send at any rate the
limits allow, and three round trips (the row, its timeline, the cities) cost tracking and
PostgreSQL more than the reads themselves."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from asyncpg import Record

# A waybill number as the public types it is upper-cased (shared.links.normalise_waybill); the
# lookup matches upper(waybill_no) (index of migration 0018), the exact number first. `{timeline}`:
# read the timeline too (a proof was offered; whether it holds is decided in constant time afterwards).
# `cities` covers the row's stations and every station code a timeline entry names as a string
# (the keys `origin` and `station`): a superset of those the view shows.
_VIEW_OF = """
WITH s AS (
    SELECT s.waybill_no, s.status, s.origin, s.destination, s.eta, s.delayed, s.delay_reason, s.phone_last4,
           (SELECT c.station FROM scans c WHERE c.waybill_no = s.waybill_no ORDER BY c.at DESC, c.id DESC LIMIT 1)
               AS last_scan_station
    FROM shipments_live s
    WHERE upper(s.waybill_no) = upper({number})
    ORDER BY s.waybill_no = {number} DESC, s.waybill_no
    LIMIT 1
), t AS (
    SELECT e.at, e.kind, e.data, e.id
    FROM timeline e JOIN s ON e.waybill_no = s.waybill_no
    WHERE {timeline} AND e.kind IN ('registered', 'scan', 'delayed', 'recovered', 'delivered')
)
SELECT s.*,
       (SELECT array_agg(t.at ORDER BY t.at, t.id) FROM t) AS entry_at,
       (SELECT array_agg(t.kind ORDER BY t.at, t.id) FROM t) AS entry_kind,
       (SELECT array_agg(t.data ORDER BY t.at, t.id) FROM t) AS entry_data,
       (SELECT jsonb_object_agg(st.code, st.city) FROM stations st
        WHERE st.code IN (s.origin, s.destination, s.last_scan_station)
           OR st.code IN (SELECT t.data ->> k FROM t, unnest(ARRAY['origin', 'station']) k
                          WHERE jsonb_typeof(t.data -> k) = 'string')) AS cities
FROM s
"""
_VIEW = _VIEW_OF.format(number="$1", timeline="$2")
# Many look-ups in one statement (web groups the look-ups of the moment): each number's view as
# `_VIEW` finds it, `i` its place (1-based) in the arrays; a number with no shipment has no row.
# The numbers are passed as JSON (`jsonb_array_elements`): unlike `unnest` of an array, its row
# estimate does not depend on the value, so PostgreSQL settles on one generic plan for the
# statement instead of planning it again at every call (planning this statement costs more than
# running it for ten numbers).
_VIEWS = ("SELECT q.i, v.* FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS q(item, i) "
          "CROSS JOIN LATERAL (" + _VIEW_OF.format(number="(q.item ->> 0)", timeline="(q.item -> 1)::boolean")
          + ") AS v")


async def view(conn: asyncpg.Connection, waybill_no: str, *, with_timeline: bool) -> Record | None:
    """The shipment's row with `entry_at`, `entry_kind`, `entry_data` (the timeline, when asked
    for and not empty; else None) and `cities` (station code → city; None when none is known)."""
    return await conn.fetchrow(_VIEW, waybill_no, with_timeline)


async def views(conn: asyncpg.Connection, lookups: Sequence[tuple[str, bool]]) -> dict[int, Record]:
    """`view` of many numbers at once: (number, with_timeline) pairs → their rows by place in
    `lookups` (0-based); a number with no shipment has none."""
    rows = await conn.fetch(_VIEWS, [list(pair) for pair in lookups])  # the pool encodes jsonb (shared.db)
    return {row["i"] - 1: row for row in rows}


def entries(row: Record) -> list[dict[str, object]]:
    """The row's timeline entries as the domain reads them (`at`, `kind`, `data`), in order."""
    if row["entry_at"] is None:
        return []
    return [{"at": at, "kind": kind, "data": data}
            for at, kind, data in zip(row["entry_at"], row["entry_kind"], row["entry_data"], strict=True)]
