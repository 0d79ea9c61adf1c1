"""SQL of the temporary-storage report.

`WHERE s.pieces_arrived > 0 AND s.delivered_at IS NULL` is the predicate of the partial
indexes of migration 0013, written the same way so the planner matches it: with a station,
`shipments_in_storage_idx (destination, waybill_no)`; with a customer,
`shipments_in_storage_customer_idx ((shipper->>'customer_id'), waybill_no)`; with neither, a
scan of the first (it holds only the goods in storage). The first batch's time is one probe of
`scans_waybill_idx (waybill_no, at)` per row, the current appointment one of
`appointments_current_idx`.
"""

from __future__ import annotations

import asyncpg

from shared.sql import Filters


async def in_storage(conn: asyncpg.Connection, *, station: str | None, customer: str | None) -> list[asyncpg.Record]:
    f = Filters()
    f.where("s.pieces_arrived > 0 AND s.delivered_at IS NULL")
    f.equals("s.destination", station)
    f.equals("s.shipper->>'customer_id'", customer)
    return await conn.fetch(
        f"""
        SELECT s.waybill_no, s.shipper->>'customer_id' AS customer_id, s.destination AS station, s.status,
               s.pieces, s.pieces_arrived, s.delivered_at,
               (s.cargo->>'weight_kg')::double precision AS weight_kg,
               (s.cargo->>'volume_m3')::double precision AS volume_m3,
               (SELECT min(sc.at) FROM scans sc
                 WHERE sc.waybill_no = s.waybill_no AND sc.type = 'arrived') AS first_arrived_at,
               a.id AS appointment_id, a.window_start, a.window_end, a.channel
        FROM shipments s
        LEFT JOIN appointments a ON a.waybill_no = s.waybill_no AND a.superseded_at IS NULL
        {f.clause}
        ORDER BY s.destination, s.waybill_no
        """, *f.args)
