"""The month-end report (月底统计) per region, and its penalties.

Decisions:

* **Month membership.** A receipt belongs to the month in which its ``due_at`` falls,
  in the business time zone; receipts without a ``due_at`` (goods not arrived) and
  cancelled receipts are not in any month's report.
* **Month-end figures** are a snapshot at ``as_of`` (default: the end of the month).
  Each receipt is exactly one of on time / late / lost / outstanding; the late fee
  (50 CNY) applies to returned-late and to outstanding-past-due receipts (chasing
  failed); a lost receipt costs ``lost_share`` (50%) of its declared value instead (no
  late fee on top), and is counted even when no value is known.
* **Caught late** (abnormal receipt not caught in time, 100 CNY): its first
  ``inspect_abnormal`` happened at or after its ``due_at`` — by then the re-sign round
  trip can no longer make the deadline.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from services.receipts.domain.lifecycle import ReceiptStatus
from services.receipts.domain.times import aware, zone
from shared.clock import BUSINESS_TZ_NAME
from shared.errors import Invalid
from shared.tabular import Column

# ASCII only: ``\d`` would otherwise accept full-width digits such as "２０２６".
_MONTH_RE = re.compile(r"(\d{4})-(\d{2})", re.ASCII)


def parse_month(month: str, *, business_tz: str = BUSINESS_TZ_NAME) -> tuple[datetime, datetime]:
    """``"YYYY-MM"`` → ``[start, end)`` as aware datetimes at local midnight; strict (422 ``invalid_month``)."""
    match = _MONTH_RE.fullmatch(month) if isinstance(month, str) else None
    year, mon = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not match or not 1 <= mon <= 12 or not 1 <= year <= 9998:
        raise Invalid("invalid_month", "month must be YYYY-MM, e.g. 2026-11", {"month": month})
    tz = zone(business_tz)
    start = datetime(year, mon, 1, tzinfo=tz)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=tz)
    return start, end


@dataclass(frozen=True, slots=True)
class PenaltyConfig:
    """Month-end penalties (seed: 50 CNY per late receipt, 100 per abnormal caught late, 50% of a loss)."""

    late_cny: Decimal = Decimal("50")
    abnormal_late_cny: Decimal = Decimal("100")
    lost_share: Decimal = Decimal("0.5")

    def __post_init__(self) -> None:
        for name in ("late_cny", "abnormal_late_cny", "lost_share"):
            value = getattr(self, name)
            if not isinstance(value, Decimal):
                # Money never goes through float; accept ints/strings by converting exactly.
                object.__setattr__(self, name, value := Decimal(str(value)))
            if value < 0:
                raise ValueError(f"{name} cannot be negative")
        if self.lost_share > 1:
            raise ValueError("lost_share is a fraction between 0 and 1")


DEFAULT_PENALTIES = PenaltyConfig()


@dataclass(frozen=True, slots=True)
class ReceiptFact:
    """What the month-end report needs to know about one receipt.

    ``returned_at``: when it was received at the origin (None if not yet);
    ``abnormal_at``: its first abnormal inspection (None if never abnormal);
    ``lost_at``: when it was flagged lost (None if never); ``declared_value_cny``: the
    direct loss the company suffers if it stays lost, when known.
    """

    waybill_no: str
    region: str
    status: ReceiptStatus
    due_at: datetime | None
    required: bool = True
    returned_at: datetime | None = None
    abnormal_at: datetime | None = None
    lost_at: datetime | None = None
    declared_value_cny: Decimal | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", ReceiptStatus(self.status))
        for name in ("due_at", "returned_at", "abnormal_at", "lost_at"):
            value = getattr(self, name)
            if value is not None:
                aware(name, value)


@dataclass(frozen=True, slots=True)
class RegionReportRow:
    """One region's month: ``required = returned_on_time + returned_late + outstanding + lost``."""

    region: str
    required: int = 0
    returned_on_time: int = 0
    returned_late: int = 0
    outstanding: int = 0
    abnormal: int = 0
    abnormal_caught_late: int = 0
    lost: int = 0
    late_penalty_cny: Decimal = Decimal("0.00")
    abnormal_penalty_cny: Decimal = Decimal("0.00")
    lost_penalty_cny: Decimal = Decimal("0.00")
    penalty_cny: Decimal = Decimal("0.00")


# The report's columns, in order (JSON rows and the CSV alike).
REPORT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(RegionReportRow))
_COUNTS = tuple(c for c in REPORT_COLUMNS if c != "region" and not c.endswith("_cny"))
_MONEY = tuple(c for c in REPORT_COLUMNS if c.endswith("_cny"))
# ... typed for the spreadsheets (`shared.tabular`): counts are whole numbers, penalties CNY.
REPORT_TABLE_COLUMNS: tuple[Column, ...] = tuple(
    Column(c, "text" if c == "region" else "money" if c in _MONEY else "int") for c in REPORT_COLUMNS)

_CENT = Decimal("0.01")


def _cny(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


@dataclass(slots=True)
class _Tally:
    required: int = 0
    on_time: int = 0
    late: int = 0
    outstanding: int = 0
    outstanding_past_due: int = 0
    abnormal: int = 0
    abnormal_late: int = 0
    lost: int = 0
    lost_value: Decimal = field(default_factory=lambda: Decimal(0))


def monthly_report(
    month: str,
    facts: Iterable[ReceiptFact],
    *,
    as_of: datetime | None = None,
    penalties: PenaltyConfig = DEFAULT_PENALTIES,
    business_tz: str = BUSINESS_TZ_NAME,
) -> list[RegionReportRow]:
    """Per-region month-end figures for the receipts due in ``month``, sorted by region.

    A snapshot at ``as_of`` (default: the end of the month), so re-running a past month
    gives the same figures: something returned or flagged after ``as_of`` did not
    happen yet. Each required, non-cancelled receipt due in the month falls in exactly
    one of: returned on time (``returned_at < due_at``), returned late, lost (flagged
    lost and not returned), outstanding. Penalties: ``late_cny`` per receipt returned
    late or still outstanding past its due date (chasing failed); ``abnormal_late_cny``
    per abnormal receipt caught late (first abnormal inspection at or after ``due_at``);
    ``lost_share`` of the declared value per lost receipt (no late fee on top: the loss
    share is that receipt's penalty).
    """
    start, end = parse_month(month, business_tz=business_tz)
    if as_of is None:
        as_of = end
    aware("as_of", as_of)
    tallies: dict[str, _Tally] = {}
    for fact in facts:
        if not fact.required or fact.due_at is None or fact.status is ReceiptStatus.CANCELLED:
            continue
        if not start <= fact.due_at < end:
            continue
        t = tallies.setdefault(fact.region, _Tally())
        t.required += 1
        returned_at = fact.returned_at
        if returned_at is not None and returned_at <= as_of:
            if returned_at < fact.due_at:
                t.on_time += 1
            else:
                t.late += 1
        elif fact.lost_at is not None and fact.lost_at <= as_of:
            t.lost += 1
            if fact.declared_value_cny is not None:
                t.lost_value += fact.declared_value_cny
        else:
            t.outstanding += 1
            if as_of >= fact.due_at:
                t.outstanding_past_due += 1
        if fact.abnormal_at is not None and fact.abnormal_at <= as_of:
            t.abnormal += 1
            if fact.abnormal_at >= fact.due_at:
                t.abnormal_late += 1
    rows = []
    for region in sorted(tallies):
        t = tallies[region]
        late_pen = _cny(penalties.late_cny * (t.late + t.outstanding_past_due))
        abnormal_pen = _cny(penalties.abnormal_late_cny * t.abnormal_late)
        lost_pen = _cny(penalties.lost_share * t.lost_value)
        rows.append(
            RegionReportRow(
                region=region,
                required=t.required,
                returned_on_time=t.on_time,
                returned_late=t.late,
                outstanding=t.outstanding,
                abnormal=t.abnormal,
                abnormal_caught_late=t.abnormal_late,
                lost=t.lost,
                late_penalty_cny=late_pen,
                abnormal_penalty_cny=abnormal_pen,
                lost_penalty_cny=lost_pen,
                penalty_cny=late_pen + abnormal_pen + lost_pen,
            )
        )
    return rows


def csv_cells(region: Mapping[str, Any]) -> dict[str, Any]:
    """One region's row as the CSV shows it: money with two decimals (the writer is `shared.csvout`)."""
    return {k: (f"{v:.2f}" if k.endswith("_cny") else v) for k, v in region.items()}


def totals(rows: Sequence[RegionReportRow]) -> RegionReportRow:
    """Every region's figures added up, as the row of region ``all``."""
    counts: dict[str, Any] = {name: sum(getattr(r, name) for r in rows) for name in _COUNTS}
    money: dict[str, Any] = {name: sum((getattr(r, name) for r in rows), Decimal("0.00")) for name in _MONEY}
    return RegionReportRow(region="all", **counts, **money)
