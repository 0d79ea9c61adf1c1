"""The 08:00 in-transit check, the weekly exception summary and their sheets' columns."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from services.tracking.domain.exceptions import (
    EXCEPTION_COLUMNS,
    EXCEPTION_CSV_COLUMNS,
    ExceptionKind,
    ExceptionRecord,
    business_week,
    exception_csv_records,
    summarise_exceptions,
)
from services.tracking.domain.reports import (
    IN_TRANSIT_COLUMNS,
    IN_TRANSIT_CSV_COLUMNS,
    OnBoardShipment,
    VehicleSnapshot,
    build_in_transit_report,
    in_transit_csv_records,
)
from shared.errors import DomainError
from shared.tabular import Table, csv_text

EIGHT_AM = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)  # 08:00 Asia/Shanghai


def shipment(no: str, vehicle: str, **flags: bool) -> OnBoardShipment:
    return OnBoardShipment(waybill_no=no, vehicle_id=vehicle, destination="WX02",
                           promised_at=EIGHT_AM + timedelta(hours=10), **flags)


def test_in_transit_report_rows() -> None:
    vehicles = [
        VehicleSnapshot("V1", "沪A12345", "顺达", "张师傅", "13800000001", EIGHT_AM - timedelta(minutes=12),
                        31.2, 121.4, 62.0),
        VehicleSnapshot("V2", "苏B54321", "顺达", "李师傅", "13800000002", EIGHT_AM - timedelta(hours=3), 32.0,
                        118.8, 0.0),
        VehicleSnapshot("V3", "浙C00000", "顺达"),  # idle, nothing on board
    ]
    shipments = [
        shipment("W2", "V1", fragile=True),
        shipment("W1", "V1", dangerous=True, keep_upright=True),
        shipment("W3", "V2", moisture_sensitive=True),
        shipment("W4", "V9"),  # vehicle unknown to the registry
    ]
    rows = build_in_transit_report(vehicles, shipments, EIGHT_AM)
    assert [r.vehicle.vehicle_id for r in rows] == ["V2", "V9", "V1"]  # stale first, then by id
    v2, v9, v1 = rows
    assert (v1.fix_age_minutes, v1.stale) == (12, False)
    assert (v2.fix_age_minutes, v2.stale) == (180, True)
    assert (v9.fix_age_minutes, v9.stale, v9.vehicle.plate) == (None, True, None)
    assert [s.waybill_no for s in v1.shipments] == ["W1", "W2"]
    assert v1.handling_flags == ("dangerous", "fragile", "keep_upright")


def test_in_transit_csv() -> None:
    vehicles = [VehicleSnapshot("V1", "沪A12345", last_fix_at=EIGHT_AM - timedelta(minutes=5), lat=31.2,
                                lon=121.4, speed_kmh=55.5)]
    rows = build_in_transit_report(vehicles, [shipment("W1", "V1", fragile=True, keep_upright=True)], EIGHT_AM)
    text = csv_text(Table("in-transit", IN_TRANSIT_COLUMNS, in_transit_csv_records(rows)))
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert list(parsed[0].keys()) == list(IN_TRANSIT_CSV_COLUMNS)
    line = parsed[0]
    assert line["last_fix_at"] == "2026-11-28T07:55:00+08:00"  # business time, with offset
    assert (line["stale"], line["fragile"], line["dangerous"]) == ("false", "true", "false")
    assert line["handling"] == "易碎、不能倒放"
    assert line["speed_kmh"] == "55.5"
    assert line["eta"] == ""


def test_exception_summary_by_station_and_kind() -> None:
    start, end = business_week(date(2026, 11, 25))
    assert start == datetime(2026, 11, 22, 16, 0, tzinfo=UTC)  # Monday 00:00 in Shanghai
    assert end - start == timedelta(days=7)
    inside = start + timedelta(days=1)
    records = [
        ExceptionRecord("e1", "W1", ExceptionKind.DAMAGE, "NJ01", 2, inside),
        ExceptionRecord("e2", "W2", ExceptionKind.DAMAGE, "NJ01", 1, inside, resolved_at=inside + timedelta(hours=2)),
        ExceptionRecord("e3", "W2", ExceptionKind.SHORTAGE, "NJ01", 3, inside),
        ExceptionRecord("e4", "W3", ExceptionKind.WET, "WX02", 1, inside, resolved_at=end + timedelta(days=1)),
        ExceptionRecord("e5", "W4", ExceptionKind.DAMAGE, "WX02", 1, end),  # next week
        ExceptionRecord("e6", "W5", ExceptionKind.DAMAGE, "WX02", 1, start - timedelta(seconds=1)),  # last week
    ]
    summary = summarise_exceptions(records, start=start, end=end)
    assert [(r.station, r.kind.value, r.count, r.pieces, r.open_at_end, r.waybills) for r in summary.rows] == [
        ("NJ01", "damage", 2, 3, 1, ("W1", "W2")),
        ("NJ01", "shortage", 1, 3, 1, ("W2",)),
        ("WX02", "wet", 1, 1, 1, ("W3",)),
    ]
    assert summary.total == 4
    assert summary.by_kind == {"damage": 2, "shortage": 1, "wet": 1}
    assert summary.by_station == {"NJ01": 3, "WX02": 1}

    text = csv_text(Table("exceptions", EXCEPTION_COLUMNS, exception_csv_records(summary)))
    assert text.splitlines()[0] == ",".join(EXCEPTION_CSV_COLUMNS)
    assert text.splitlines()[0] == "station,kind,count,pieces,open_at_end,waybills"
    assert text.splitlines()[1] == "NJ01,damage,2,3,1,W1|W2"


def test_exception_summary_period_must_be_forward() -> None:
    with pytest.raises(DomainError) as err:
        summarise_exceptions([], start=EIGHT_AM, end=EIGHT_AM)
    assert err.value.code == "invalid_period"
