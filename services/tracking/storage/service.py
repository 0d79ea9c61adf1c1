"""The temporary-storage report as a use case: who may read which part, the rows read and
judged by `domain.storage`."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.tracking.context import TrackingRuntime
from services.tracking.domain.appointments import Window
from services.tracking.domain.storage import Goods, StorageRow, StoredAppointment, storage_report
from services.tracking.storage import repository
from services.tracking.storage.models import StorageAppointment, StorageReport, StorageRowOut
from shared.auth import DESK, Principal
from shared.errors import Forbidden


def scope(principal: Principal, *, station: str | None, customer_id: str | None) -> tuple[str | None, str | None]:
    """The (station, customer) filters the principal may read: the desk any; a branch the goods
    stored at its own station; a customer its own goods. Asking for another's: 403."""
    if principal.role in DESK:
        return station, customer_id
    if principal.role == "branch":
        if station is not None and station != principal.branch:
            raise Forbidden("forbidden", f"a branch token reads the storage of its own station ({principal.branch})")
        return principal.branch, customer_id
    if principal.role == "customer":
        if customer_id is not None and customer_id != principal.customer:
            raise Forbidden("forbidden", "a customer token reads its own goods only")
        return station, principal.customer
    raise Forbidden("forbidden", f"role {principal.role} may not read the storage report")


def _goods(r: asyncpg.Record) -> Goods:
    appointment = None
    if r["appointment_id"] is not None:
        appointment = StoredAppointment(str(r["appointment_id"]), Window(r["window_start"], r["window_end"]),
                                        r["channel"])
    return Goods(waybill_no=r["waybill_no"], customer_id=r["customer_id"], station=r["station"], status=r["status"],
                 pieces_total=r["pieces"], pieces_arrived=r["pieces_arrived"], weight_kg=r["weight_kg"],
                 volume_m3=r["volume_m3"], first_arrived_at=r["first_arrived_at"], delivered_at=r["delivered_at"],
                 appointment=appointment)


async def storage_rows(rt: TrackingRuntime, *, principal: Principal, station: str | None, customer_id: str | None,
                       as_of: datetime) -> tuple[list[StorageRow], str | None, str | None]:
    """The report's rows as of `as_of`, and the station and customer it was narrowed to."""
    station, customer_id = scope(principal, station=station, customer_id=customer_id)
    async with rt.pool.acquire() as conn:
        rows = await repository.in_storage(conn, station=station, customer=customer_id)
    return storage_report((_goods(r) for r in rows), as_of), station, customer_id


def report_out(rows: list[StorageRow], *, as_of: datetime, station: str | None,
               customer_id: str | None) -> StorageReport:
    out = []
    for r in rows:
        a = r.appointment
        out.append(StorageRowOut(
            waybill_no=r.waybill_no, customer_id=r.customer_id, station=r.station, status=r.status, pieces=r.pieces,
            pieces_total=r.pieces_total, weight_kg=r.weight_kg, volume_m3=r.volume_m3, arrived_at=r.arrived_at,
            days_in_storage=r.days_in_storage, appointment_missed=r.appointment_missed,
            appointment=None if a is None else StorageAppointment(
                appointment_id=a.appointment_id, window_start=a.window.start, window_end=a.window.end,
                channel=a.channel, outcome=(r.appointment_outcome.value if r.appointment_outcome else "pending")),
        ))
    return StorageReport(
        as_of=as_of, station=station, customer_id=customer_id, total_shipments=len(out),
        total_pieces=sum(r.pieces for r in rows),
        total_weight_kg=round(sum(r.weight_kg or 0.0 for r in rows), 3),
        total_volume_m3=round(sum(r.volume_m3 or 0.0 for r in rows), 3), rows=out)
