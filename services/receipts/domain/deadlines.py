"""The receipt's return deadline (回单返回时限): when the signed paper must be back at the origin.

The rule, with the handbook's numbers (each one is configuration, `LCS_RECEIPT_*_DAYS`):

* direct delivery (一站送达): **10 days**; one transfer: **15 days**; two or more
  transfers: **20 days** — and for those a **final limit of 25 days**, the very latest;
* ``transfers = len(via)``;
* the clock starts on the arrival at the destination — for a split shipment (分批装运) the
  arrival of the last batch; if tracking never reported a final arrival, the delivery
  (which cannot precede it) starts the clock.

Day counting: the clock counts *dates* in the business time zone (Asia/Shanghai, from
`shared.clock`): the arrival day is day 0, whatever the hour. With N allowed days the
receipt must be back by the end of local day D+N, so ``due_at`` is the instant
``D+N+1 00:00`` local (exclusive). A receipt is overdue when ``as_of >= due_at`` and
returned on time when ``returned_at < due_at``. An arrival at 2026-03-31 23:30 +08:00
(still 15:30 UTC the same day) counts from 31 March; one at 2026-04-01 00:30 +08:00
(16:30 UTC on 31 March) counts from 1 April.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.receipts.domain.times import aware, zone
from shared.clock import BUSINESS_TZ_NAME
from shared.errors import Invalid


@dataclass(frozen=True, slots=True)
class DeadlineConfig:
    """Return deadlines in days after the arrival date (seed: 10 / 15 / 20, at the latest 25)."""

    direct_days: int = 10
    one_transfer_days: int = 15
    two_plus_transfer_days: int = 20
    final_limit_days: int = 25
    business_tz: str = BUSINESS_TZ_NAME

    def __post_init__(self) -> None:
        days = (self.direct_days, self.one_transfer_days, self.two_plus_transfer_days, self.final_limit_days)
        if any(d < 0 for d in days):
            raise ValueError("deadline days cannot be negative")
        # More transfers never shorten the deadline, and the final limit is the latest.
        if list(days) != sorted(days):
            raise ValueError("deadline days must not decrease: direct <= one <= two+ <= final limit")
        zone(self.business_tz)

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.business_tz)


DEFAULT_DEADLINES = DeadlineConfig()


def return_days(transfers: int, cfg: DeadlineConfig = DEFAULT_DEADLINES) -> int:
    """Allowed days for a route with ``transfers`` transfer stations (``len(via)``)."""
    if transfers < 0:
        raise Invalid("invalid_transfers", "transfers cannot be negative", {"transfers": transfers})
    if transfers == 0:
        return cfg.direct_days
    if transfers == 1:
        return cfg.one_transfer_days
    return cfg.two_plus_transfer_days


def _end_of_local_day(arrived_at: datetime, days: int, tz: ZoneInfo) -> datetime:
    # Day 0 is the local arrival date; the deadline is the end of local day D+days,
    # expressed as the (exclusive) first instant of D+days+1.
    arrival_date = aware("arrived_at", arrived_at).astimezone(tz).date()
    return datetime.combine(arrival_date + timedelta(days=days + 1), time(0), tzinfo=tz)


def due_at(arrived_at: datetime, transfers: int, cfg: DeadlineConfig = DEFAULT_DEADLINES) -> datetime:
    """The return deadline (exclusive instant, business time zone) for the final arrival ``arrived_at``."""
    return _end_of_local_day(arrived_at, return_days(transfers, cfg), cfg.tz)


def final_due_at(
    arrived_at: datetime, transfers: int, cfg: DeadlineConfig = DEFAULT_DEADLINES
) -> datetime | None:
    """The 25-day final limit, which exists only for two or more transfers; ``None`` otherwise."""
    return_days(transfers, cfg)  # validates ``transfers``
    if transfers < 2:
        return None
    return _end_of_local_day(arrived_at, cfg.final_limit_days, cfg.tz)


@dataclass(frozen=True, slots=True)
class ArrivalBatch:
    """One ``arrived`` scan of a (possibly split) shipment at its destination."""

    arrived_at: datetime
    pieces: int


def final_arrived_at(batches: Iterable[ArrivalBatch], *, total_pieces: int | None = None) -> datetime | None:
    """The arrival that starts the clock: the last batch's (分批装运的为最后一批到达时间).

    With ``total_pieces``, ``None`` until the batches add up to the whole shipment,
    so a partial arrival never starts the clock. Batches may come in any order.
    """
    batches = list(batches)
    for b in batches:
        aware("arrived_at", b.arrived_at)
    if not batches:
        return None
    if total_pieces is not None and sum(b.pieces for b in batches) < total_pieces:
        return None
    return max(b.arrived_at for b in batches)


def clock_changes(row: Mapping[str, Any], facts: Mapping[str, Any], cfg: DeadlineConfig) -> dict[str, Any]:
    """The arrival / delivery / deadline columns implied by a waybill's facts, where they
    differ from the receipt's ``row``.

    The clock counts from the final-batch arrival; if tracking never reported one, the
    delivery (which cannot precede the arrival) starts it, so a delivered receipt is
    never without a deadline. Everything here is a function of the facts alone, which is
    why the order tracking's events came in does not matter.
    """
    arrived = facts["final_arrived_at"]
    delivered = facts["delivered_at"]
    start = arrived or delivered
    wanted = {
        "arrived_at": arrived,
        "delivered_at": delivered,
        "due_at": due_at(start, row["transfers"], cfg) if start else None,
        "final_due_at": final_due_at(start, row["transfers"], cfg) if start else None,
    }
    changes = {k: v for k, v in wanted.items() if row[k] != v}
    if "due_at" in changes or "final_due_at" in changes:
        changes["chase_done"] = False  # a moved deadline may have stages left to announce
    return changes
