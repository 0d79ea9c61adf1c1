"""Return deadlines (返单时间): counted from the local arrival date in Asia/Shanghai.

Rule under test: arrival on local date D (any hour) → due at D+N+1 00:00 +08:00, i.e.
the end of local day D+N; N = 10 direct, 15 one transfer, 20 two or more; the final
limit D+25 exists only for two or more transfers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.receipts.domain.deadlines import (
    ArrivalBatch,
    DeadlineConfig,
    due_at,
    final_arrived_at,
    final_due_at,
    return_days,
)
from shared.errors import DomainError

CST = timezone(timedelta(hours=8))  # Shanghai has no DST: a fixed offset is an independent oracle


def cst(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST)  # type: ignore[misc]


ARRIVED = cst(2026, 11, 1, 10, 0)


@pytest.mark.parametrize(
    ("transfers", "due", "final"),
    [
        (0, cst(2026, 11, 12), None),
        (1, cst(2026, 11, 17), None),
        (2, cst(2026, 11, 22), cst(2026, 11, 27)),
        (3, cst(2026, 11, 22), cst(2026, 11, 27)),
        (7, cst(2026, 11, 22), cst(2026, 11, 27)),
    ],
)
def test_deadline_by_transfers(transfers: int, due: datetime, final: datetime | None):
    assert due_at(ARRIVED, transfers) == due
    assert final_due_at(ARRIVED, transfers) == final


def test_due_at_is_midnight_shanghai_and_aware():
    d = due_at(ARRIVED, 0)
    assert d.utcoffset() == timedelta(hours=8)
    assert (d.hour, d.minute, d.second, d.microsecond) == (0, 0, 0, 0)
    assert str(d.tzinfo) == "Asia/Shanghai"
    assert d.isoformat() == "2026-11-12T00:00:00+08:00"


@pytest.mark.parametrize(
    ("arrived", "transfers", "due"),
    [
        # month boundaries: Jan 25 + 10 → end of Feb 4
        (cst(2026, 1, 25, 9), 0, cst(2026, 2, 5)),
        # into March, non-leap and leap Februaries
        (cst(2027, 2, 20, 9), 0, cst(2027, 3, 3)),
        (cst(2028, 2, 20, 9), 0, cst(2028, 3, 2)),
        (cst(2026, 4, 30, 18), 1, cst(2026, 5, 16)),
        # year boundary
        (cst(2026, 12, 25, 8), 0, cst(2027, 1, 5)),
        (cst(2026, 12, 31, 23, 59), 2, cst(2027, 1, 21)),
        # the very first instant of a day still counts from that day
        (cst(2026, 6, 1, 0, 0), 0, cst(2026, 6, 12)),
    ],
)
def test_month_and_year_boundaries(arrived: datetime, transfers: int, due: datetime):
    assert due_at(arrived, transfers) == due


def test_final_limit_across_the_year():
    assert final_due_at(cst(2026, 12, 20, 12), 2) == cst(2027, 1, 15)


def test_late_evening_in_shanghai_counts_from_that_shanghai_day():
    # 23:30 in Shanghai on 31 March is 15:30 UTC the same date: day 0 is 31 March.
    arrived_utc = datetime(2026, 3, 31, 15, 30, tzinfo=UTC)
    assert due_at(arrived_utc, 0) == cst(2026, 4, 11)
    assert due_at(cst(2026, 3, 31, 23, 30), 0) == cst(2026, 4, 11)


def test_early_morning_in_shanghai_is_still_the_previous_utc_day():
    # 00:30 / 07:30 on 1 April in Shanghai are 16:30 / 23:30 UTC on 31 March;
    # the UTC date would start the clock a day early, the business date does not.
    for utc_time in (datetime(2026, 3, 31, 16, 30, tzinfo=UTC), datetime(2026, 3, 31, 23, 30, tzinfo=UTC)):
        assert due_at(utc_time, 0) == cst(2026, 4, 12)


def test_year_boundary_by_time_zone():
    # 2026-12-31 16:30 UTC is already 2027-01-01 00:30 in Shanghai.
    assert due_at(datetime(2026, 12, 31, 16, 30, tzinfo=UTC), 0) == cst(2027, 1, 12)
    assert due_at(datetime(2026, 12, 31, 15, 59, tzinfo=UTC), 0) == cst(2027, 1, 11)


def test_any_offset_gives_the_same_instant_answer():
    instant = cst(2026, 5, 10, 23, 30)
    ny = instant.astimezone(timezone(timedelta(hours=-4)))
    assert due_at(ny, 1) == due_at(instant, 1) == cst(2026, 5, 26)


def test_naive_datetimes_are_refused():
    with pytest.raises(DomainError) as info:
        due_at(datetime(2026, 11, 1, 10), 0)
    assert info.value.code == "naive_datetime"


def test_negative_transfers_are_refused():
    with pytest.raises(DomainError) as info:
        due_at(ARRIVED, -1)
    assert info.value.code == "invalid_transfers"
    with pytest.raises(DomainError):
        final_due_at(ARRIVED, -1)


def test_numbers_are_configuration():
    cfg = DeadlineConfig(direct_days=3, one_transfer_days=5, two_plus_transfer_days=7, final_limit_days=9)
    assert [return_days(t, cfg) for t in (0, 1, 2, 5)] == [3, 5, 7, 7]
    assert due_at(ARRIVED, 0, cfg) == cst(2026, 11, 5)
    assert final_due_at(ARRIVED, 2, cfg) == cst(2026, 11, 11)
    assert return_days(0) == 10


def test_business_time_zone_is_configuration():
    cfg = DeadlineConfig(business_tz="UTC")
    # 07:30 in Shanghai on 1 April is 23:30 UTC on 31 March: with a UTC business day it counts from 31 March.
    d = due_at(cst(2026, 4, 1, 7, 30), 0, cfg)
    assert d == datetime(2026, 4, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"direct_days": -1},
        {"direct_days": 16},  # longer than one transfer
        {"two_plus_transfer_days": 30},  # beyond the final limit
        {"business_tz": "Mars/Olympus"},
    ],
)
def test_inconsistent_config_is_refused(kwargs: dict[str, object]):
    with pytest.raises(ValueError):
        DeadlineConfig(**kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- split shipments (分批装运)

def test_split_shipment_uses_the_last_batch_in_any_order():
    batches = [
        ArrivalBatch(cst(2026, 11, 3, 9), 4),
        ArrivalBatch(cst(2026, 11, 1, 9), 3),
        ArrivalBatch(cst(2026, 11, 2, 9), 3),
    ]
    last = final_arrived_at(batches, total_pieces=10)
    assert last == cst(2026, 11, 3, 9)
    assert due_at(last, 1) == cst(2026, 11, 19)  # 3 Nov + 15 → end of 18 Nov


def test_split_shipment_clock_does_not_start_until_every_piece_arrived():
    batches = [ArrivalBatch(cst(2026, 11, 1, 9), 3), ArrivalBatch(cst(2026, 11, 2, 9), 3)]
    assert final_arrived_at(batches, total_pieces=10) is None
    assert final_arrived_at(batches) == cst(2026, 11, 2, 9)  # without a total: the latest batch
    assert final_arrived_at([], total_pieces=0) is None


def test_split_batches_across_time_zones_compare_as_instants():
    a = ArrivalBatch(datetime(2026, 11, 1, 16, 30, tzinfo=UTC), 1)  # 2 Nov 00:30 in Shanghai
    b = ArrivalBatch(cst(2026, 11, 1, 23, 0), 1)
    assert final_arrived_at([b, a]) == a.arrived_at


def test_split_batches_must_be_aware():
    with pytest.raises(DomainError):
        final_arrived_at([ArrivalBatch(datetime(2026, 11, 1), 1)])
