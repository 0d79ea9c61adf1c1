"""Month-end report (月底回单汇总): per region, with penalties; expected figures built independently.

The generated month decides each receipt's outcome first (on time, late, outstanding,
lost; abnormal caught in time or late) and then invents timestamps that produce it; the
expected rows are tallies of those decisions, never a call into the report code.
"""

from __future__ import annotations

import csv
import io
import random
from collections import Counter, defaultdict
from dataclasses import asdict
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from services.receipts.domain.lifecycle import ReceiptStatus
from services.receipts.domain.reports import (
    REPORT_COLUMNS,
    PenaltyConfig,
    ReceiptFact,
    RegionReportRow,
    csv_cells,
    monthly_report,
    parse_month,
)
from shared.csvout import to_csv
from shared.errors import DomainError

CST = timezone(timedelta(hours=8))
NOV_START = datetime(2026, 11, 1, tzinfo=CST)
DEC_START = datetime(2026, 12, 1, tzinfo=CST)
REGIONS = ["华东", "华南", "西南", "华北"]


# ------------------------------------------------------------------ parse_month


def test_parse_month_gives_shanghai_midnights():
    start, end = parse_month("2026-11")
    assert (start, end) == (NOV_START, DEC_START)
    assert start.isoformat() == "2026-11-01T00:00:00+08:00"
    assert str(start.tzinfo) == "Asia/Shanghai"


def test_parse_month_december_rolls_into_the_next_year():
    assert parse_month("2026-12") == (datetime(2026, 12, 1, tzinfo=CST), datetime(2027, 1, 1, tzinfo=CST))


def test_parse_month_february_of_a_leap_year():
    start, end = parse_month("2028-02")
    assert end - start == timedelta(days=29)


@pytest.mark.parametrize(
    "bad",
    ["2026-13", "2026-00", "2026-1", "26-11", "2026/11", " 2026-11", "2026-11 ", "2026-11-01", "", "0000-01",
     "２０２６-11", "9999-12", None, 202611],
)
def test_parse_month_is_strict(bad: object):
    with pytest.raises(DomainError) as info:
        parse_month(bad)  # type: ignore[arg-type]
    assert info.value.code == "invalid_month"


# ------------------------------------------------------------------ a hand-made month


def fact(region: str = "华东", **kw: object) -> ReceiptFact:
    kw.setdefault("status", ReceiptStatus.MAILED)
    kw.setdefault("due_at", datetime(2026, 11, 15, tzinfo=CST))
    return ReceiptFact(waybill_no=str(kw.pop("waybill_no", "W")), region=region, **kw)  # type: ignore[arg-type]


def test_small_month_by_hand():
    due = datetime(2026, 11, 15, tzinfo=CST)
    facts = [
        fact(status=ReceiptStatus.RECEIVED, returned_at=due - timedelta(seconds=1)),  # on time
        fact(status=ReceiptStatus.HANDED_OVER, returned_at=due),  # late: the due instant is already late
        fact(status=ReceiptStatus.SIGNED),  # outstanding past due: 50
        fact(status=ReceiptStatus.LOST, lost_at=due, declared_value_cny=Decimal("333.33")),  # 166.665 → 166.67
        fact(status=ReceiptStatus.LOST, lost_at=due),  # value unknown: counted, no money
        fact(
            status=ReceiptStatus.WRITTEN_OFF, returned_at=due - timedelta(days=1),
            abnormal_at=due - timedelta(days=5),  # abnormal caught in time
        ),
        fact(status=ReceiptStatus.SIGNED, abnormal_at=due + timedelta(hours=1)),  # caught late: 100 (+50 late)
        fact(status=ReceiptStatus.CANCELLED),  # cancelled: not in the report
        fact(required=False),  # not required: not in the report
        fact(due_at=None, status=ReceiptStatus.AWAITING_DELIVERY),  # clock not started
        fact(due_at=DEC_START),  # due in December
        fact(region="华南", due_at=NOV_START, status=ReceiptStatus.RECEIVED, returned_at=NOV_START),
    ]
    rows = monthly_report("2026-11", facts)
    assert rows == [
        RegionReportRow(
            region="华东", required=7, returned_on_time=2, returned_late=1, outstanding=2, abnormal=2,
            abnormal_caught_late=1, lost=2, late_penalty_cny=Decimal("150.00"),
            abnormal_penalty_cny=Decimal("100.00"), lost_penalty_cny=Decimal("166.67"),
            penalty_cny=Decimal("416.67"),
        ),
        RegionReportRow(
            region="华南", required=1, returned_late=1, late_penalty_cny=Decimal("50.00"),
            penalty_cny=Decimal("50.00"),
        ),
    ]


def test_month_membership_uses_shanghai_dates():
    # 2026-10-31 16:00 UTC is 1 November 00:00 in Shanghai: November's.
    # 2026-11-30 16:00 UTC is 1 December in Shanghai: not November's.
    facts = [
        fact(waybill_no="in", due_at=datetime(2026, 10, 31, 16, tzinfo=UTC)),
        fact(waybill_no="out", due_at=datetime(2026, 11, 30, 16, tzinfo=UTC)),
        fact(waybill_no="in2", due_at=datetime(2026, 11, 30, 15, 59, tzinfo=UTC)),
    ]
    [row] = monthly_report("2026-11", facts)
    assert row.required == 2


def test_snapshot_as_of_mid_month():
    as_of = datetime(2026, 11, 16, 12, tzinfo=CST)
    facts = [
        fact(due_at=datetime(2026, 11, 10, tzinfo=CST)),  # outstanding, past due: 50
        fact(due_at=datetime(2026, 11, 20, tzinfo=CST)),  # outstanding, not yet due: 0
        # returned after the snapshot: still outstanding (and past due) as of then
        fact(due_at=datetime(2026, 11, 12, tzinfo=CST), status=ReceiptStatus.RECEIVED,
             returned_at=datetime(2026, 11, 18, tzinfo=CST)),
        # flagged lost after the snapshot: outstanding, not lost, as of then
        fact(due_at=datetime(2026, 11, 25, tzinfo=CST), status=ReceiptStatus.LOST,
             lost_at=datetime(2026, 11, 17, tzinfo=CST), declared_value_cny=Decimal(100)),
        # abnormal flagged after the snapshot: not counted yet
        fact(due_at=datetime(2026, 11, 25, tzinfo=CST), abnormal_at=datetime(2026, 11, 26, tzinfo=CST)),
    ]
    [row] = monthly_report("2026-11", facts, as_of=as_of)
    assert (row.required, row.outstanding, row.lost, row.abnormal) == (5, 5, 0, 0)
    assert row.penalty_cny == Decimal("100.00")


def test_lost_then_found_counts_as_returned():
    due = datetime(2026, 11, 15, tzinfo=CST)
    f = fact(status=ReceiptStatus.RECEIVED, lost_at=due - timedelta(days=2), returned_at=due + timedelta(days=3),
             declared_value_cny=Decimal(1000))
    [row] = monthly_report("2026-11", [f])
    assert (row.lost, row.returned_late, row.penalty_cny) == (0, 1, Decimal("50.00"))


def test_penalties_are_configuration():
    due = datetime(2026, 11, 15, tzinfo=CST)
    facts = [
        fact(abnormal_at=due),
        fact(status=ReceiptStatus.LOST, lost_at=due, declared_value_cny=Decimal("80")),
    ]
    cfg = PenaltyConfig(late_cny=Decimal("20"), abnormal_late_cny=Decimal("30"), lost_share=Decimal("0.25"))
    [row] = monthly_report("2026-11", facts, penalties=cfg)
    assert (row.late_penalty_cny, row.abnormal_penalty_cny, row.lost_penalty_cny) == (
        Decimal("20.00"), Decimal("30.00"), Decimal("20.00"),
    )
    assert PenaltyConfig(late_cny=60).late_cny == Decimal(60)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        PenaltyConfig(lost_share=Decimal("1.5"))
    with pytest.raises(ValueError):
        PenaltyConfig(late_cny=Decimal(-1))


def test_empty_month_is_empty():
    assert monthly_report("2026-11", []) == []


def test_report_refuses_naive_times():
    with pytest.raises(DomainError):
        fact(due_at=datetime(2026, 11, 15))
    with pytest.raises(DomainError):
        monthly_report("2026-11", [], as_of=datetime(2026, 12, 1))


# ------------------------------------------------------------------ a generated month


OUTCOMES = ["on_time", "late", "outstanding", "lost"]
ABNORMAL = ["never", "in_time", "late"]


def generate_month(seed: int):
    """~600 receipts in November 2026 plus noise; returns (facts, expected rows as dicts)."""
    rng = random.Random(seed)
    facts: list[ReceiptFact] = []
    tally: dict[str, Counter] = defaultdict(Counter)
    lost_value: dict[str, Decimal] = defaultdict(Decimal)
    offsets = [CST, UTC, timezone(timedelta(hours=-5))]  # same instants, different spellings
    for n in range(600):
        region = rng.choice(REGIONS)
        day = rng.randint(1, 30)
        due = datetime(2026, 11, day, tzinfo=CST)
        outcome = rng.choice(OUTCOMES)
        abnormal = rng.choice(ABNORMAL)
        returned_at = lost_at = None
        value = None
        if outcome == "on_time":
            returned_at = due - timedelta(minutes=rng.randint(1, 60 * 24 * 8))
            status = rng.choice([ReceiptStatus.RECEIVED, ReceiptStatus.HANDED_OVER, ReceiptStatus.WRITTEN_OFF])
        elif outcome == "late":
            room = int((DEC_START - due).total_seconds()) - 1
            returned_at = due + timedelta(seconds=rng.choice([0, rng.randint(0, room)]))
            status = rng.choice([ReceiptStatus.RECEIVED, ReceiptStatus.HANDED_OVER])
        elif outcome == "outstanding":
            status = rng.choice([ReceiptStatus.SIGNED, ReceiptStatus.QUALIFIED, ReceiptStatus.MAILED,
                                 ReceiptStatus.RECEIVED])
            if status is ReceiptStatus.RECEIVED:  # came back in December: outstanding at month end
                returned_at = DEC_START + timedelta(hours=rng.randint(0, 300))
        else:
            status = ReceiptStatus.LOST
            lost_at = due - timedelta(hours=rng.randint(-24 * 5, 24 * 5))
            lost_at = min(lost_at, DEC_START - timedelta(seconds=1))
            if rng.random() < 0.7:
                value = Decimal(rng.randint(1, 5000))
                lost_value[region] += value
        abnormal_at = None
        if abnormal == "in_time":
            abnormal_at = due - timedelta(minutes=rng.randint(1, 60 * 24 * 9))
        elif abnormal == "late":
            abnormal_at = due + timedelta(minutes=rng.randint(0, int((DEC_START - due).total_seconds() // 60) - 1))
        tz = rng.choice(offsets)
        facts.append(ReceiptFact(
            waybill_no=f"SH{n:06d}", region=region, status=status, due_at=due.astimezone(tz),
            returned_at=returned_at.astimezone(tz) if returned_at else None,
            abnormal_at=abnormal_at, lost_at=lost_at, declared_value_cny=value,
        ))
        tally[region][outcome] += 1
        tally[region]["abnormal"] += abnormal != "never"
        tally[region]["abnormal_late"] += abnormal == "late"
    # Noise that must not count in November.
    for n in range(120):
        kind = rng.choice(["october", "december", "cancelled", "not_required", "no_deadline"])
        noise_due: datetime | None = datetime(2026, 11, rng.randint(1, 30), tzinfo=CST)
        status, required = ReceiptStatus.SIGNED, True
        if kind == "october":
            noise_due = NOV_START - timedelta(days=rng.randint(1, 20))
        elif kind == "december":
            noise_due = DEC_START + timedelta(days=rng.randint(0, 20))
        elif kind == "cancelled":
            status = ReceiptStatus.CANCELLED
        elif kind == "not_required":
            required = False
        else:
            noise_due, status = None, ReceiptStatus.AWAITING_DELIVERY
        facts.append(ReceiptFact(waybill_no=f"NZ{n:06d}", region=rng.choice(REGIONS), status=status,
                                 due_at=noise_due, required=required))
    rng.shuffle(facts)

    expected = {}
    for region, c in tally.items():
        late_pen = Decimal(50) * (c["late"] + c["outstanding"])
        abn_pen = Decimal(100) * c["abnormal_late"]
        lost_pen = lost_value[region] / 2
        expected[region] = {
            "region": region,
            "required": c["on_time"] + c["late"] + c["outstanding"] + c["lost"],
            "returned_on_time": c["on_time"],
            "returned_late": c["late"],
            "outstanding": c["outstanding"],
            "abnormal": c["abnormal"],
            "abnormal_caught_late": c["abnormal_late"],
            "lost": c["lost"],
            "late_penalty_cny": late_pen,
            "abnormal_penalty_cny": abn_pen,
            "lost_penalty_cny": lost_pen,
            "penalty_cny": late_pen + abn_pen + lost_pen,
        }
    return facts, expected


@pytest.mark.parametrize("seed", [1, 2, 20261130])
def test_generated_month_matches_independent_tally(seed: int):
    facts, expected = generate_month(seed)
    rows = monthly_report("2026-11", facts)
    assert [r.region for r in rows] == sorted(expected)
    for row in rows:
        got = {name: getattr(row, name) for name in expected[row.region]}
        assert got == expected[row.region], row.region
        assert row.penalty_cny.as_tuple().exponent == -2  # money always in fen


def _csv(rows):
    """The report as the API writes it: shared.csvout, money with two decimals."""
    return to_csv([csv_cells(asdict(r)) for r in rows], REPORT_COLUMNS)


def test_generated_month_csv_round_trip():
    facts, expected = generate_month(7)
    text = _csv(monthly_report("2026-11", facts))
    assert text.startswith("region,required,returned_on_time,returned_late,outstanding,abnormal,")
    assert "\r\n" in text
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [r["region"] for r in parsed] == sorted(expected)
    for r in parsed:
        exp = expected[r["region"]]
        assert int(r["required"]) == exp["required"]
        assert int(r["returned_late"]) == exp["returned_late"]
        assert Decimal(r["penalty_cny"]) == exp["penalty_cny"]
        assert len(r["penalty_cny"].split(".")[1]) == 2


def test_csv_neutralises_spreadsheet_formulas():
    row = RegionReportRow(region="=HYPERLINK(\"x\")", required=1, outstanding=1)
    [header, line] = list(csv.reader(io.StringIO(_csv([row]))))
    assert line[0] == "'=HYPERLINK(\"x\")"
    assert line[-1] == "0.00"
    ok = RegionReportRow(region="华东")
    assert list(csv.reader(io.StringIO(_csv([ok]))))[1][0] == "华东"
