"""The key accounts' storage report (货物暂存报表): goods that reached their destination station and
wait there for delivery — pieces, weight, volume, station, when they arrived, days in storage and
the delivery appointment — for one local day; and its once-a-day key and its hour.

* **In storage**: goods at the destination (the first batch of a split shipment starts storage;
  its pieces so far are shown against the waybill's) by the end of the day, not delivered by then.
* **Days in storage**: calendar days in the business time zone from the arrival's local date to
  the report's day (arrived today: 0) — the count a station's storage fee is reckoned on.
* Rows: longest in storage first, then by waybill.
* **When**: each account's own local hour (preferences), once per day whoever runs it
  (`storage_report_key`), the job (`storage_report_due`) or an admin on demand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from shared.clock import BUSINESS_TZ_NAME, require_aware


@dataclass(frozen=True)
class StoredShipment:
    """What the notifier knows of one of a key account's shipments (its projection of tracking's events)."""

    waybill_no: str
    station: str
    pieces_total: int | None
    pieces_arrived: int
    first_arrived_at: datetime | None
    delivered_at: datetime | None = None
    weight_kg: Decimal | float | None = None
    volume_m3: Decimal | float | None = None
    consignee_name: str | None = None
    appointment: Mapping[str, Any] | None = None  # tracking.delivery.appointed.v1's data, the current one


@dataclass(frozen=True)
class StorageRow:
    waybill_no: str
    station: str
    pieces: int
    pieces_total: int
    weight_kg: Decimal | None
    volume_m3: Decimal | None
    arrived_at: datetime
    days: int
    consignee_name: str | None
    appointment: Mapping[str, Any] | None

    @property
    def partial(self) -> bool:
        return self.pieces < self.pieces_total

    def as_dict(self) -> dict[str, Any]:
        appointment = None
        if self.appointment:
            appointment = {k: self.appointment.get(k) for k in ("appointment_id", "window_start", "window_end")}
        return {
            "waybill_no": self.waybill_no, "station": self.station, "pieces": self.pieces,
            "pieces_total": self.pieces_total, "partial": self.partial,
            "weight_kg": _number(self.weight_kg), "volume_m3": _number(self.volume_m3),
            "arrived_at": self.arrived_at.isoformat(), "days": self.days, "consignee_name": self.consignee_name,
            "appointment": appointment,
        }


@dataclass(frozen=True)
class StorageReport:
    customer_id: str
    day: date
    rows: tuple[StorageRow, ...]
    key: str

    def template_data(self, customer_name: str | None) -> dict[str, Any]:
        """The context of the ``storage_report`` template."""
        return {
            "customer_id": self.customer_id, "recipient_name": customer_name, "date": self.day.isoformat(),
            "count": len(self.rows), "pieces_total": sum(r.pieces for r in self.rows),
            "weight_total": _number(_total(r.weight_kg for r in self.rows)),
            "volume_total": _number(_total(r.volume_m3 for r in self.rows)),
            "rows": [r.as_dict() for r in self.rows],
        }


def storage_report_key(customer_id: str, day: date) -> str:
    """Idempotency key of one account's storage report for one local day: sent once per day."""
    raw = "\x1f".join(("storage_report", customer_id, day.isoformat()))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def storage_report_due(now: datetime, *, hour: int, tz: str = BUSINESS_TZ_NAME) -> date | None:
    """The local day whose report is due at ``now`` for an account that wants it at ``hour``; None
    before that hour (the job then has nothing to do for it yet)."""
    require_aware(now)
    local = now.astimezone(ZoneInfo(tz))
    return local.date() if local.hour >= hour else None


def days_in_storage(arrived_at: datetime, day: date, tz: str = BUSINESS_TZ_NAME) -> int:
    """Calendar days from the arrival's local date to ``day`` (never negative)."""
    require_aware(arrived_at)
    return max((day - arrived_at.astimezone(ZoneInfo(tz)).date()).days, 0)


def build_storage_report(customer_id: str, shipments: Iterable[StoredShipment], day: date,
                         tz: str = BUSINESS_TZ_NAME) -> StorageReport:
    """One account's storage report for local date ``day`` (see the module's rules)."""
    end_of_day = datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(tz))
    rows: list[StorageRow] = []
    for s in shipments:
        if s.first_arrived_at is None or s.pieces_arrived <= 0:
            continue
        require_aware(s.first_arrived_at)
        if s.first_arrived_at >= end_of_day:
            continue
        if s.delivered_at is not None and require_aware(s.delivered_at) < end_of_day:
            continue
        total = s.pieces_total if s.pieces_total is not None else s.pieces_arrived
        rows.append(StorageRow(
            waybill_no=s.waybill_no, station=s.station, pieces=min(s.pieces_arrived, total), pieces_total=total,
            weight_kg=_decimal(s.weight_kg), volume_m3=_decimal(s.volume_m3), arrived_at=s.first_arrived_at,
            days=days_in_storage(s.first_arrived_at, day, tz), consignee_name=s.consignee_name,
            appointment=s.appointment))
    rows.sort(key=lambda r: (r.arrived_at, r.waybill_no))
    return StorageReport(customer_id=customer_id, day=day, rows=tuple(rows), key=storage_report_key(customer_id, day))


def _decimal(value: Decimal | float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _total(values: Iterable[Decimal | None]) -> Decimal | None:
    known = [v for v in values if v is not None]
    return sum(known, Decimal(0)) if known else None


def _number(value: Decimal | None) -> str | None:
    """A quantity as the report prints it: ``120.5``, ``3``, never ``1.20E+2``."""
    if value is None:
        return None
    text = format(value.quantize(Decimal("0.001")).normalize(), "f")
    return text
