"""The temporary-storage report (货物暂存报表): goods that reached their destination station
and wait there to be delivered, how much of them, and for how long.

- In storage: at least one piece scanned `arrived` at the destination and no signed delivery
  (`in_storage`). A split shipment (分批装运) counts only the pieces that did arrive; its
  weight and volume are those pieces' share of the waybill's (`arrived_share`).
- Stored since the first batch's arrival: that is how long the oldest pieces have waited.
- Days in storage are calendar days in the business zone (Asia/Shanghai, `shared.clock`):
  0 on the day of arrival, 1 from the next midnight in Beijing, whatever the UTC date says
  (`days_in_storage`).
- Goods that arrived after `as_of` are not yet in storage as of then (the report is the
  stock on hand, aged as of `as_of`; delivered goods are not brought back).
- Each row carries the consignee's current appointment, and whether its window has passed
  with the goods still there (`appointment_missed`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.tracking.domain.appointments import AppointmentOutcome, Window, outcome
from services.tracking.domain.times import utc
from shared.clock import business_day
from shared.tabular import Column, columns


@dataclass(frozen=True, slots=True)
class StoredAppointment:
    appointment_id: str
    window: Window
    channel: str


@dataclass(frozen=True, slots=True)
class Goods:
    """A shipment as the storage report reads it."""

    waybill_no: str
    customer_id: str | None
    station: str  # the destination station, where the goods wait
    status: str
    pieces_total: int
    pieces_arrived: int
    weight_kg: float | None
    volume_m3: float | None
    first_arrived_at: datetime | None  # the first `arrived` batch at the destination
    delivered_at: datetime | None = None
    appointment: StoredAppointment | None = None


@dataclass(frozen=True, slots=True)
class StorageRow:
    waybill_no: str
    customer_id: str | None
    station: str
    status: str
    pieces: int
    pieces_total: int
    weight_kg: float | None
    volume_m3: float | None
    arrived_at: datetime
    days_in_storage: int
    appointment: StoredAppointment | None
    appointment_outcome: AppointmentOutcome | None

    @property
    def appointment_missed(self) -> bool:
        return self.appointment_outcome is AppointmentOutcome.MISSED

    def record(self) -> dict[str, Any]:
        """One flat record (the sheet's line, `STORAGE_COLUMNS`)."""
        a = self.appointment
        return {
            "waybill_no": self.waybill_no, "customer_id": self.customer_id, "station": self.station,
            "status": self.status, "pieces": self.pieces, "pieces_total": self.pieces_total,
            "weight_kg": self.weight_kg, "volume_m3": self.volume_m3, "arrived_at": self.arrived_at,
            "days_in_storage": self.days_in_storage,
            "appointment_start": a.window.start if a else None, "appointment_end": a.window.end if a else None,
            "appointment_outcome": self.appointment_outcome, "appointment_missed": self.appointment_missed,
        }


# The report as a sheet (CSV, XLSX): one line per stored shipment, the appointment in columns.
STORAGE_COLUMNS: tuple[Column, ...] = columns(
    "waybill_no", "customer_id", "station", "status", ("pieces", "int"), ("pieces_total", "int"),
    ("weight_kg", "number"), ("volume_m3", "number"), ("arrived_at", "datetime"), ("days_in_storage", "int"),
    ("appointment_start", "datetime"), ("appointment_end", "datetime"), "appointment_outcome",
    ("appointment_missed", "bool"),
)


def in_storage(goods: Goods) -> bool:
    return goods.pieces_arrived > 0 and goods.delivered_at is None and goods.first_arrived_at is not None


def arrived_share(value: float | None, pieces_arrived: int, pieces_total: int) -> float | None:
    """The arrived pieces' share of a waybill total (weight, volume), to 3 decimals."""
    if value is None or pieces_total <= 0:
        return None
    return round(value * pieces_arrived / pieces_total, 3)


def days_in_storage(arrived_at: datetime, as_of: datetime) -> int:
    """Beijing calendar days from arrival to `as_of` (0 on the day of arrival, never negative)."""
    return max(0, (business_day(as_of) - business_day(arrived_at)).days)


def storage_row(goods: Goods, as_of: datetime) -> StorageRow | None:
    """The goods' row as of `as_of`, or None when they are not in storage then."""
    as_of = utc(as_of, "as_of")
    if not in_storage(goods) or goods.first_arrived_at is None or utc(goods.first_arrived_at, "arrived_at") > as_of:
        return None
    a = goods.appointment
    return StorageRow(
        waybill_no=goods.waybill_no, customer_id=goods.customer_id, station=goods.station, status=goods.status,
        pieces=goods.pieces_arrived, pieces_total=goods.pieces_total,
        weight_kg=arrived_share(goods.weight_kg, goods.pieces_arrived, goods.pieces_total),
        volume_m3=arrived_share(goods.volume_m3, goods.pieces_arrived, goods.pieces_total),
        arrived_at=goods.first_arrived_at, days_in_storage=days_in_storage(goods.first_arrived_at, as_of),
        appointment=a,
        appointment_outcome=None if a is None else outcome(a.window, delivered_at=None, superseded=False, now=as_of),
    )


def storage_report(goods: Iterable[Goods], as_of: datetime) -> list[StorageRow]:
    """Every stored shipment as of `as_of`: by station, the longest-waiting first, then by waybill."""
    rows = [row for g in goods if (row := storage_row(g, as_of)) is not None]
    rows.sort(key=lambda r: (r.station, -r.days_in_storage, r.arrived_at, r.waybill_no))
    return rows
