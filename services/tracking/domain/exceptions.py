"""Cargo exceptions (货物异常: damage, shortage, data that does not match the goods) and the
weekly summary the CS supervisor reads: by station and kind over a report period."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from services.tracking.domain.times import utc
from shared.clock import business_day, day_start
from shared.errors import Invalid
from shared.tabular import Column, columns


class ExceptionKind(StrEnum):
    DAMAGE = "damage"  # 货损
    SHORTAGE = "shortage"  # 货差
    WET = "wet"
    CONTAMINATED = "contaminated"
    LOST = "lost"
    MISMATCH = "mismatch"  # waybill data does not match the goods
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ExceptionRecord:
    exception_id: str
    waybill_no: str
    kind: ExceptionKind
    station: str
    pieces: int
    reported_at: datetime
    resolved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ExceptionSummaryRow:
    station: str
    kind: ExceptionKind
    count: int
    pieces: int
    open_at_end: int  # still unresolved at the end of the period
    waybills: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExceptionSummary:
    start: datetime
    end: datetime
    rows: tuple[ExceptionSummaryRow, ...]
    by_kind: Mapping[str, int] = field(default_factory=dict)
    by_station: Mapping[str, int] = field(default_factory=dict)
    total: int = 0


def business_week(day: date) -> tuple[datetime, datetime]:
    """The Monday-to-Monday week (Asia/Shanghai) containing ``day``, as UTC datetimes."""
    monday = day - timedelta(days=day.weekday())
    return day_start(monday), day_start(monday + timedelta(days=7))


MAX_REPORT_SPAN = timedelta(days=366)


def report_period(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """A report's period `[start, end)` from the bounds given: none, the current business week;
    one, 7 days from or to it. 422 `invalid_period` when it ends before it starts or spans more
    than 366 days."""
    if start is None and end is None:
        return business_week(business_day(now))
    if start is None:
        assert end is not None
        start = end - timedelta(days=7)
    if end is None:
        end = start + timedelta(days=7)
    if end <= start:
        raise Invalid("invalid_period", "`to` must be after `from`", {"from": start.isoformat(), "to": end.isoformat()})
    if end - start > MAX_REPORT_SPAN:
        raise Invalid("invalid_period", "the period may span at most 366 days")
    return start, end


def summarise_exceptions(
    records: Iterable[ExceptionRecord], *, start: datetime, end: datetime
) -> ExceptionSummary:
    """The weekly exception summary: exceptions reported in ``[start, end)`` by station and kind."""
    start, end = utc(start, "start"), utc(end, "end")
    if end <= start:
        raise Invalid("invalid_period", "the period's end must be after its start")
    groups: dict[tuple[str, ExceptionKind], list[ExceptionRecord]] = defaultdict(list)
    for r in records:
        if start <= utc(r.reported_at, "reported_at") < end:
            groups[(r.station, ExceptionKind(r.kind))].append(r)
    rows = tuple(
        ExceptionSummaryRow(
            station=station,
            kind=kind,
            count=len(items),
            pieces=sum(r.pieces for r in items),
            open_at_end=sum(1 for r in items if r.resolved_at is None or r.resolved_at >= end),
            waybills=tuple(sorted({r.waybill_no for r in items})),
        )
        for (station, kind), items in sorted(groups.items())
    )
    by_kind: dict[str, int] = defaultdict(int)
    by_station: dict[str, int] = defaultdict(int)
    for row in rows:
        by_kind[row.kind.value] += row.count
        by_station[row.station] += row.count
    return ExceptionSummary(start, end, rows, dict(by_kind), dict(by_station), sum(r.count for r in rows))


EXCEPTION_COLUMNS: tuple[Column, ...] = columns(
    "station", "kind", ("count", "int"), ("pieces", "int"), ("open_at_end", "int"), "waybills")
EXCEPTION_CSV_COLUMNS: tuple[str, ...] = tuple(c.key for c in EXCEPTION_COLUMNS)


def exception_csv_records(summary: ExceptionSummary) -> list[dict[str, Any]]:
    return [
        {
            "station": r.station,
            "kind": r.kind,
            "count": r.count,
            "pieces": r.pieces,
            "open_at_end": r.open_at_end,
            "waybills": "|".join(r.waybills),
        }
        for r in summary.rows
    ]
