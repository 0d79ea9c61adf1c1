"""The 08:00 in-transit check (each vehicle on the road, its last fix and age, what the driver
must be told about the cargo on board) and the CSV form of the desk's reports.

Every CSV cell is written by `shared.csvout` (its one formula rule on every text cell); this
module only says how a value reads in the desk's sheets (`csv_value`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.tracking.domain.config import DEFAULT_ETA_CONFIG, EtaConfig
from services.tracking.domain.stale import is_stale
from services.tracking.domain.times import utc
from shared.clock import BUSINESS_TZ
from shared.csvout import to_csv

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


IN_TRANSIT_CSV_COLUMNS = (
    "vehicle_id",
    "plate",
    "carrier",
    "driver_name",
    "driver_phone",
    "last_fix_at",
    "fix_age_minutes",
    "stale",
    "lat",
    "lon",
    "speed_kmh",
    "waybill_no",
    "destination",
    "promised_at",
    "eta",
    "delayed",
    "dangerous",
    "fragile",
    "keep_upright",
    "moisture_sensitive",
    "handling",
)


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


def csv_value(value: Any) -> Any:
    """A report value as the desk's sheets show it: times in business time (RFC 3339, with the
    offset), booleans as true/false, numbers as numbers (at most 6 decimals), nothing as empty.
    Text stays text, for `shared.csvout.csv_cell` to neutralise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(BUSINESS_TZ).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, float) and math.isfinite(value):
        rounded = round(value, 6)
        return int(rounded) if rounded.is_integer() else rounded
    return value


def render_csv(records: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Records as CSV text with a header line (encode it with `csv_bytes`)."""
    return to_csv(({c: csv_value(r.get(c)) for c in columns} for r in records), columns)


def csv_bytes(text: str, *, excel_bom: bool = False) -> bytes:
    """UTF-8 bytes of CSV text; ``excel_bom`` prepends a BOM so Excel shows Chinese correctly."""
    return ("\ufeff" if excel_bom else "").encode() + text.encode("utf-8")
