"""The monthly complaints report: counts by category and channel, SLA met shares, median
first response and resolution, satisfaction; and its long-format rows for the spreadsheets."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from services.complaints.domain.care import CSAT_SCORES, csat_average, validate_csat
from services.complaints.domain.hours import MINUTE, Month, utc
from services.complaints.domain.vocabulary import Category, Channel
from shared.clock import BUSINESS_TZ_NAME
from shared.tabular import Column, Table, columns, csv_text


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """One ticket as the report sees it (the repository fills it in)."""

    category: Category
    channel: Channel
    opened_at: datetime
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    first_response_breached: bool = False
    resolution_breached: bool = False
    csat_score: int | None = None


@dataclass(frozen=True, slots=True)
class SlaOutcome:
    """How many tickets met / breached one SLA; tickets still running are not counted."""

    met: int
    breached: int

    @property
    def met_share(self) -> float | None:
        decided = self.met + self.breached
        return None if decided == 0 else self.met / decided


@dataclass(frozen=True, slots=True)
class ComplaintsReport:
    month: Month
    total: int
    by_category: Mapping[Category, int]
    by_channel: Mapping[Channel, int]
    first_response: SlaOutcome
    resolution: SlaOutcome
    median_first_response_minutes: float | None
    median_resolution_minutes: float | None
    csat_average: float | None
    csat_distribution: Mapping[int, int] = field(default_factory=dict)

    @property
    def csat_count(self) -> int:
        return sum(self.csat_distribution.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: enum keys as strings, shares 0..1, minutes as floats."""
        return {
            "month": str(self.month),
            "total": self.total,
            "by_category": {str(k): v for k, v in self.by_category.items()},
            "by_channel": {str(k): v for k, v in self.by_channel.items()},
            "first_response": {"met": self.first_response.met, "breached": self.first_response.breached,
                               "met_share": self.first_response.met_share},
            "resolution": {"met": self.resolution.met, "breached": self.resolution.breached,
                           "met_share": self.resolution.met_share},
            "median_first_response_minutes": self.median_first_response_minutes,
            "median_resolution_minutes": self.median_resolution_minutes,
            "csat_average": self.csat_average,
            "csat_count": self.csat_count,
            "csat_distribution": {str(k): v for k, v in self.csat_distribution.items()},
        }


def _outcome(done_at: datetime | None, due: datetime | None, flagged: bool, as_of: datetime | None
             ) -> bool | None:
    """True = met, False = breached, None = still running (not counted)."""
    if flagged:
        return False
    if done_at is not None:
        return not (due is not None and done_at > due)
    if as_of is not None and due is not None and as_of > due:
        return False
    return None


def monthly_report(
    facts: Iterable[TicketFacts], month: Month, *, as_of: datetime | None = None, tz: str = BUSINESS_TZ_NAME
) -> ComplaintsReport:
    """Aggregate the tickets *opened* in ``month`` (desk timezone).

    An SLA counts as breached if it was flagged, if it was met after its due time,
    or (given ``as_of``) if it is still unmet past its due time. Medians are
    wall-clock minutes from opening — the time the customer actually waited.
    """
    by_category = dict.fromkeys(Category, 0)
    by_channel = dict.fromkeys(Channel, 0)
    distribution = dict.fromkeys(CSAT_SCORES, 0)
    first_minutes: list[float] = []
    resolution_minutes: list[float] = []
    fr_met = fr_breached = res_met = res_breached = 0
    checked_as_of = None if as_of is None else utc(as_of, "as_of")
    total = 0
    for fact in facts:
        opened = utc(fact.opened_at, "opened_at")
        if not month.contains(opened, tz):
            continue
        total += 1
        by_category[fact.category] += 1
        by_channel[fact.channel] += 1
        if fact.first_response_at is not None:
            responded = utc(fact.first_response_at, "first_response_at")
            first_minutes.append((responded - opened) / MINUTE)
        if fact.resolved_at is not None:
            resolved = utc(fact.resolved_at, "resolved_at")
            resolution_minutes.append((resolved - opened) / MINUTE)
        fr = _outcome(fact.first_response_at, fact.first_response_due, fact.first_response_breached,
                      checked_as_of)
        res = _outcome(fact.resolved_at, fact.resolution_due, fact.resolution_breached, checked_as_of)
        fr_met += fr is True
        fr_breached += fr is False
        res_met += res is True
        res_breached += res is False
        if fact.csat_score is not None:
            distribution[validate_csat(fact.csat_score)] += 1
    return ComplaintsReport(
        month=month,
        total=total,
        by_category=by_category,
        by_channel=by_channel,
        first_response=SlaOutcome(fr_met, fr_breached),
        resolution=SlaOutcome(res_met, res_breached),
        median_first_response_minutes=statistics.median(first_minutes) if first_minutes else None,
        median_resolution_minutes=statistics.median(resolution_minutes) if resolution_minutes else None,
        csat_average=csat_average(distribution),
        csat_distribution=distribution,
    )


# ---------------------------------------------------------------------------
# As a spreadsheet (CSV and XLSX are written by `shared.tabular`)
# ---------------------------------------------------------------------------

REPORT_COLUMNS = ("metric", "key", "value")
# `value` holds counts (whole numbers), shares and minutes (two decimals) and the month (text).
REPORT_TABLE_COLUMNS: tuple[Column, ...] = columns("metric", "key", ("value", "auto"))
_HUNDREDTH = Decimal("0.01")


def _two_decimals(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(_HUNDREDTH, rounding=ROUND_HALF_UP)


def report_table_rows(report: ComplaintsReport) -> list[dict[str, Any]]:
    """The report in long format (``metric, key, value``), one figure per row.

    Long format keeps one stable header whatever categories or channels exist,
    which spreadsheets pivot easily. Shares are 0..1 with two decimals;
    empty values mean "no data".
    """
    rows: list[tuple[str, str, Any]] = [("month", "", str(report.month)), ("total", "", report.total)]
    rows += [("by_category", str(k), v) for k, v in report.by_category.items()]
    rows += [("by_channel", str(k), v) for k, v in report.by_channel.items()]
    for name, outcome in (("first_response", report.first_response), ("resolution", report.resolution)):
        rows += [
            (f"{name}_met", "", outcome.met),
            (f"{name}_breached", "", outcome.breached),
            (f"{name}_met_share", "", _two_decimals(outcome.met_share)),
        ]
    rows += [
        ("median_first_response_minutes", "", _two_decimals(report.median_first_response_minutes)),
        ("median_resolution_minutes", "", _two_decimals(report.median_resolution_minutes)),
        ("csat_average", "", _two_decimals(report.csat_average)),
        ("csat_count", "", report.csat_count),
    ]
    rows += [("csat_distribution", str(k), v) for k, v in report.csat_distribution.items()]
    return [dict(zip(REPORT_COLUMNS, row, strict=True)) for row in rows]


def report_table(report: ComplaintsReport) -> Table:
    return Table(f"complaints-{report.month}", REPORT_TABLE_COLUMNS, report_table_rows(report))


def render_report_csv(report: ComplaintsReport) -> str:
    """The report as CSV text (``shared.csvout``: one writer, formula cells neutralised)."""
    return csv_text(report_table(report))
