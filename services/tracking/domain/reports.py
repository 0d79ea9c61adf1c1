"""The 08:00 in-transit check (each vehicle on the road, its last fix and age, what the driver
must be told about the cargo on board) and its columns as a spreadsheet (`shared.tabular`
writes the CSV and XLSX forms)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.tracking.domain.config import DEFAULT_ETA_CONFIG, EtaConfig
from services.tracking.domain.stale import is_stale
from services.tracking.domain.times import utc
from shared.tabular import Column, columns

HANDLING_LABELS_ZH: Mapping[str, str] = {
    "dangerous": "危险品",
    "fragile": "易碎",
    "keep_upright": "不能倒放",
    "moisture_sensitive": "怕受潮",
}


def handling_text(flags: Iterable[str]) -> str:
    """Handling flags as the driver is told them, in Chinese (易碎、不能倒放)."""
    return "、".join(HANDLING_LABELS_ZH[f] for f in flags)


@dataclass(frozen=True, slots=True)
class VehicleSnapshot:
    """A vehicle and its newest fix, as the repository reads it."""

    vehicle_id: str
    plate: str | None = None
    carrier: str | None = None
    driver_name: str | None = None
    driver_phone: str | None = None
    last_fix_at: datetime | None = None
    lat: float | None = None
    lon: float | None = None
    speed_kmh: float | None = None


@dataclass(frozen=True, slots=True)
class OnBoardShipment:
    """An in-transit shipment and what the driver must be told about its cargo."""

    waybill_no: str
    vehicle_id: str
    destination: str
    promised_at: datetime
    eta: datetime | None = None
    delayed: bool = False
    dangerous: bool = False
    fragile: bool = False
    keep_upright: bool = False
    moisture_sensitive: bool = False

    @property
    def handling_flags(self) -> tuple[str, ...]:
        return tuple(flag for flag in HANDLING_LABELS_ZH if getattr(self, flag))


@dataclass(frozen=True, slots=True)
class InTransitRow:
    vehicle: VehicleSnapshot
    fix_age_minutes: int | None  # None when the vehicle never reported
    stale: bool
    shipments: tuple[OnBoardShipment, ...]

    @property
    def handling_flags(self) -> tuple[str, ...]:
        """Every special requirement on board, once each, in a fixed order."""
        on_board = {f for s in self.shipments for f in s.handling_flags}
        return tuple(f for f in HANDLING_LABELS_ZH if f in on_board)


def build_in_transit_report(
    vehicles: Iterable[VehicleSnapshot],
    shipments: Iterable[OnBoardShipment],
    now: datetime,
    cfg: EtaConfig = DEFAULT_ETA_CONFIG,
) -> list[InTransitRow]:
    """One row per vehicle carrying in-transit shipments, stale vehicles first, then by id.

    A shipment whose vehicle is unknown still gets a row (a bare vehicle, stale): a
    report that silently drops cargo is worse than one that shows a gap.
    """
    now = utc(now, "now")
    by_id = {v.vehicle_id: v for v in vehicles}
    on_board: dict[str, list[OnBoardShipment]] = defaultdict(list)
    for s in shipments:
        on_board[s.vehicle_id].append(s)
    rows: list[InTransitRow] = []
    for vehicle_id, loads in on_board.items():
        vehicle = by_id.get(vehicle_id, VehicleSnapshot(vehicle_id=vehicle_id))
        age = None
        if vehicle.last_fix_at is not None:
            age = int((now - utc(vehicle.last_fix_at, "last_fix_at")).total_seconds() // 60)
        rows.append(
            InTransitRow(
                vehicle=vehicle,
                fix_age_minutes=age,
                stale=is_stale(vehicle.last_fix_at, now, cfg),
                shipments=tuple(sorted(loads, key=lambda s: s.waybill_no)),
            )
        )
    rows.sort(key=lambda r: (not r.stale, r.vehicle.vehicle_id))
    return rows


# The printable sheet: one line per (vehicle, shipment), typed for the spreadsheet.
IN_TRANSIT_COLUMNS: tuple[Column, ...] = columns(
    "vehicle_id", "plate", "carrier", "driver_name", "driver_phone",
    ("last_fix_at", "datetime"), ("fix_age_minutes", "int"), ("stale", "bool"),
    ("lat", "number"), ("lon", "number"), ("speed_kmh", "number"),
    "waybill_no", "destination", ("promised_at", "datetime"), ("eta", "datetime"),
    ("delayed", "bool"), ("dangerous", "bool"), ("fragile", "bool"), ("keep_upright", "bool"),
    ("moisture_sensitive", "bool"), "handling",
)
IN_TRANSIT_CSV_COLUMNS: tuple[str, ...] = tuple(c.key for c in IN_TRANSIT_COLUMNS)


def in_transit_csv_records(rows: Iterable[InTransitRow]) -> list[dict[str, Any]]:
    """Flatten report rows to one record per (vehicle, shipment) for CSV printing."""
    records: list[dict[str, Any]] = []
    for row in rows:
        v = row.vehicle
        for s in row.shipments:
            records.append(
                {
                    "vehicle_id": v.vehicle_id,
                    "plate": v.plate,
                    "carrier": v.carrier,
                    "driver_name": v.driver_name,
                    "driver_phone": v.driver_phone,
                    "last_fix_at": v.last_fix_at,
                    "fix_age_minutes": row.fix_age_minutes,
                    "stale": row.stale,
                    "lat": v.lat,
                    "lon": v.lon,
                    "speed_kmh": v.speed_kmh,
                    "waybill_no": s.waybill_no,
                    "destination": s.destination,
                    "promised_at": s.promised_at,
                    "eta": s.eta,
                    "delayed": s.delayed,
                    "dangerous": s.dangerous,
                    "fragile": s.fragile,
                    "keep_upright": s.keep_upright,
                    "moisture_sensitive": s.moisture_sensitive,
                    "handling": handling_text(s.handling_flags),
                }
            )
    return records
