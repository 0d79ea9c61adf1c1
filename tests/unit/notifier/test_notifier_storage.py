"""The key accounts' storage report (货物暂存报表): what is on it, days in storage, when it is due."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from services.notifier.domain.storage import (
    StoredShipment,
    build_storage_report,
    days_in_storage,
    storage_report_due,
    storage_report_key,
)

DAY = date(2026, 12, 3)
# 2026-12-03 00:00 Beijing is 2026-12-02 16:00 UTC.
START = datetime(2026, 12, 2, 16, 0, tzinfo=UTC)


def shipment(no: str, *, arrived: datetime | None, pieces_arrived: int = 10, delivered: datetime | None = None,
             appointment: dict | None = None) -> StoredShipment:  # type: ignore[type-arg]
    return StoredShipment(waybill_no=no, station="WX02", pieces_total=10, pieces_arrived=pieces_arrived if arrived
                          else 0, first_arrived_at=arrived, delivered_at=delivered, weight_kg=Decimal("120.5"),
                          volume_m3=1.2, consignee_name="杨民敬", appointment=appointment)


def test_goods_at_the_destination_and_not_delivered_are_on_it_longest_first() -> None:
    booked = {"appointment_id": "AP1", "window_start": "2026-12-04T06:00:00+00:00",
              "window_end": "2026-12-04T08:00:00+00:00", "note": "x", "booked_by": "staff:li"}
    report = build_storage_report("C1", [
        shipment("W-TODAY", arrived=START + timedelta(hours=3)),
        shipment("W-OLD", arrived=START - timedelta(days=3, hours=-1), appointment=booked),
        shipment("W-ROAD", arrived=None),  # still on the road
        shipment("W-DONE", arrived=START - timedelta(days=1), delivered=START + timedelta(hours=2)),  # delivered
        shipment("W-TOMORROW", arrived=START + timedelta(days=1, hours=1)),  # after the report's day
        shipment("W-PART", arrived=START - timedelta(hours=1), pieces_arrived=4),  # first batch only
    ], DAY)
    assert [r.waybill_no for r in report.rows] == ["W-OLD", "W-PART", "W-TODAY"]
    old, part, today = report.rows
    assert (old.days, part.days, today.days) == (3, 1, 0)
    assert (part.pieces, part.pieces_total, part.partial) == (4, 10, True)
    data = report.template_data("无锡精工")
    assert data["count"] == 3 and data["pieces_total"] == 24
    assert data["weight_total"] == "361.5" and data["volume_total"] == "3.6"
    assert data["rows"][0]["appointment"] == {"appointment_id": "AP1", "window_start": booked["window_start"],
                                              "window_end": booked["window_end"]}
    assert data["rows"][2]["appointment"] is None


def test_delivered_later_than_the_report_day_still_counts_for_that_day() -> None:
    report = build_storage_report("C1", [shipment("W1", arrived=START - timedelta(days=2),
                                                  delivered=START + timedelta(days=1, hours=2))], DAY)
    assert [r.waybill_no for r in report.rows] == ["W1"]


def test_days_in_storage_count_local_calendar_days() -> None:
    # 23:30 Beijing on 12-02 is the 2nd locally: one day by the 3rd, though only 30 minutes in UTC terms
    late_evening = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
    assert days_in_storage(late_evening, DAY) == 1
    assert days_in_storage(START, DAY) == 0
    assert days_in_storage(START + timedelta(days=2), DAY) == 0  # never negative


def test_once_per_account_per_day_at_the_accounts_hour() -> None:
    assert storage_report_key("C1", DAY) == storage_report_key("C1", DAY)
    assert storage_report_key("C1", DAY) != storage_report_key("C1", DAY + timedelta(days=1))
    assert storage_report_key("C1", DAY) != storage_report_key("C2", DAY)
    eight_thirty = START + timedelta(hours=8, minutes=30)  # 08:30 Beijing
    assert storage_report_due(eight_thirty, hour=9) is None
    assert storage_report_due(eight_thirty, hour=8) == DAY
    assert storage_report_due(START, hour=0) == DAY
