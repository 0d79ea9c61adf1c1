"""The key customers' daily arrival report (每日到货信息反馈): what is on one customer's report
for one local day, and its once-per-day key."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from shared.clock import BUSINESS_TZ_NAME, require_aware


class DigestKind(StrEnum):
    ARRIVED = "arrived"
    DUE = "due"


@dataclass(frozen=True)
class DigestShipment:
    """What the notifier knows about one of a key customer's shipments."""

    waybill_no: str
    destination: str
    consignee_name: str | None = None
    pieces: int | None = None
    promised_at: datetime | None = None
    eta: datetime | None = None
    arrived_at: datetime | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class DigestRow:
    kind: DigestKind
    waybill_no: str
    destination: str
    consignee_name: str | None
    pieces: int | None
    at: datetime  # arrival time for ``arrived``, expected time for ``due``
    late: bool  # due rows only: the expected time is already past the promised time

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "waybill_no": self.waybill_no,
            "destination": self.destination,
            "consignee_name": self.consignee_name,
            "pieces": self.pieces,
            "at": self.at.isoformat(),
            "late": self.late,
        }


@dataclass(frozen=True)
class ArrivalDigest:
    customer_id: str
    day: date
    rows: tuple[DigestRow, ...]
    key: str

    @property
    def arrived_count(self) -> int:
        return sum(1 for row in self.rows if row.kind is DigestKind.ARRIVED)

    @property
    def due_count(self) -> int:
        return sum(1 for row in self.rows if row.kind is DigestKind.DUE)

    def template_data(self, customer_name: str | None) -> dict[str, Any]:
        """The context of the ``daily_arrivals`` template."""
        return {
            "customer_id": self.customer_id,
            "recipient_name": customer_name,
            "date": self.day.isoformat(),
            "arrived_count": self.arrived_count,
            "due_count": self.due_count,
            "rows": [row.as_dict() for row in self.rows],
        }


def digest_key(customer_id: str, day: date, channel: str = "email") -> str:
    """Idempotency key of one customer's report for one (local) day on one channel: sent once per
    day (the e-mail's key is the one reports had before there were other channels)."""
    parts = ("digest", customer_id, day.isoformat()) + (() if channel == "email" else (channel,))
    raw = "\x1f".join(parts)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def build_arrival_digest(
    customer_id: str, shipments: Iterable[DigestShipment], day: date, tz: str = BUSINESS_TZ_NAME
) -> ArrivalDigest:
    """The daily arrival report of one key customer for local date ``day``.

    Rows: shipments that arrived that day, then shipments not yet arrived whose expected
    time (ETA, else the promised time) falls on or before that day — still-due shipments
    from earlier days stay on the report until they arrive. Delivered shipments that
    arrived on an earlier day are done and left out. Each group is sorted by time.
    """
    zone = ZoneInfo(tz)
    end_of_day = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    arrived: list[DigestRow] = []
    due: list[DigestRow] = []
    for s in shipments:
        if s.arrived_at is not None:
            require_aware(s.arrived_at)
            if s.arrived_at.astimezone(zone).date() == day:
                arrived.append(_digest_row(DigestKind.ARRIVED, s, s.arrived_at, late=False))
            continue
        if s.delivered_at is not None:
            continue
        expected = s.eta or s.promised_at
        if expected is None:
            continue
        require_aware(expected)
        if expected < end_of_day:
            late = s.promised_at is not None and expected > s.promised_at
            due.append(_digest_row(DigestKind.DUE, s, expected, late=late))
    arrived.sort(key=lambda r: (r.at, r.waybill_no))
    due.sort(key=lambda r: (r.at, r.waybill_no))
    return ArrivalDigest(customer_id=customer_id, day=day, rows=(*arrived, *due), key=digest_key(customer_id, day))


def _digest_row(kind: DigestKind, s: DigestShipment, at: datetime, *, late: bool) -> DigestRow:
    return DigestRow(
        kind=kind,
        waybill_no=s.waybill_no,
        destination=s.destination,
        consignee_name=s.consignee_name,
        pieces=s.pieces,
        at=at,
        late=late,
    )
