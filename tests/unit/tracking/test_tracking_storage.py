"""The temporary-storage report's rules (货物暂存报表): what is in storage, split shipments,
days in storage in Beijing time, the appointment's state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.tracking.domain.appointments import AppointmentOutcome, Window
from services.tracking.domain.storage import (
    Goods,
    StoredAppointment,
    arrived_share,
    days_in_storage,
    in_storage,
    storage_report,
    storage_row,
)
from shared.errors import Invalid

CST = timezone(timedelta(hours=8))


def goods(**kw: object) -> Goods:
    values: dict[str, object] = {
        "waybill_no": "WB1", "customer_id": "C100", "station": "WX02", "status": "arrived", "pieces_total": 10,
        "pieces_arrived": 10, "weight_kg": 120.5, "volume_m3": 1.2,
        "first_arrived_at": datetime(2026, 12, 1, 9, 0, tzinfo=CST)}
    values.update(kw)
    return Goods(**values)  # type: ignore[arg-type]


def test_arrived_and_not_delivered_is_in_storage() -> None:
    assert in_storage(goods())
    assert in_storage(goods(status="out_for_delivery"))
    assert not in_storage(goods(delivered_at=datetime(2026, 12, 2, tzinfo=UTC), status="delivered"))
    assert not in_storage(goods(pieces_arrived=0, first_arrived_at=None, status="in_transit"))


def test_split_shipment_counts_only_the_arrived_pieces() -> None:
    row = storage_row(goods(status="in_transit", pieces_arrived=4), datetime(2026, 12, 2, 9, tzinfo=CST))
    assert row is not None
    assert (row.pieces, row.pieces_total) == (4, 10)
    assert row.weight_kg == pytest.approx(48.2)
    assert row.volume_m3 == pytest.approx(0.48)


def test_share_of_unknown_weight_is_unknown() -> None:
    assert arrived_share(None, 3, 10) is None
    assert arrived_share(10.0, 10, 10) == 10.0


def test_days_in_storage_count_beijing_midnights_not_utc_ones() -> None:
    arrived = datetime(2026, 12, 1, 23, 30, tzinfo=CST)  # 15:30 UTC
    # One hour later it is 2 December in Beijing, still 1 December in UTC.
    assert days_in_storage(arrived, datetime(2026, 12, 2, 0, 30, tzinfo=CST)) == 1
    assert days_in_storage(arrived, datetime(2026, 12, 1, 23, 59, tzinfo=CST)) == 0
    # 2 December 01:00 UTC is still 2 December 09:00 in Beijing: 1 day, although UTC says 1.
    early = datetime(2026, 12, 1, 0, 30, tzinfo=CST)  # 30 November 16:30 UTC
    assert days_in_storage(early, datetime(2026, 12, 1, 1, 0, tzinfo=UTC)) == 0
    assert days_in_storage(early, datetime(2026, 12, 4, 16, 0, tzinfo=UTC)) == 4  # 5 Dec 00:00 Beijing


def test_days_in_storage_never_negative_and_refuse_naive_times() -> None:
    at = datetime(2026, 12, 3, tzinfo=CST)
    assert days_in_storage(at, at - timedelta(days=2)) == 0
    with pytest.raises(Invalid):
        storage_row(goods(), datetime(2026, 12, 3))


def test_goods_arriving_after_as_of_are_not_yet_in_storage() -> None:
    assert storage_row(goods(), datetime(2026, 12, 1, 8, 59, tzinfo=CST)) is None
    assert storage_row(goods(), datetime(2026, 12, 1, 9, 0, tzinfo=CST)) is not None


def test_appointment_missed_once_its_window_passed_with_goods_still_there() -> None:
    window = Window(datetime(2026, 12, 2, 1, tzinfo=UTC), datetime(2026, 12, 2, 5, tzinfo=UTC))
    stored = goods(appointment=StoredAppointment("a1", window, "phone"))
    before = storage_row(stored, datetime(2026, 12, 2, 4, tzinfo=UTC))
    after = storage_row(stored, datetime(2026, 12, 2, 6, tzinfo=UTC))
    assert before is not None and after is not None
    assert before.appointment_outcome is AppointmentOutcome.PENDING and not before.appointment_missed
    assert after.appointment_outcome is AppointmentOutcome.MISSED and after.appointment_missed
    assert after.record()["appointment_start"] == window.start
    plain = storage_row(goods(), datetime(2026, 12, 2, tzinfo=UTC))
    assert plain is not None and plain.appointment_outcome is None and plain.record()["appointment_end"] is None


def test_report_orders_by_station_then_longest_waiting() -> None:
    as_of = datetime(2026, 12, 10, tzinfo=CST)
    rows = storage_report([
        goods(waybill_no="B", station="WX02", first_arrived_at=datetime(2026, 12, 8, tzinfo=CST)),
        goods(waybill_no="A", station="WX02", first_arrived_at=datetime(2026, 12, 9, tzinfo=CST)),
        goods(waybill_no="C", station="NJ01", first_arrived_at=datetime(2026, 12, 9, tzinfo=CST)),
        goods(waybill_no="D", station="NJ01", delivered_at=as_of, status="delivered"),
    ], as_of)
    assert [(r.waybill_no, r.days_in_storage) for r in rows] == [("C", 1), ("B", 2), ("A", 1)]
