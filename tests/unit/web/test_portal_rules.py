"""The key-account portal's rules, without I/O: what a customer sees of a waybill, the
shipment filters, the daily arrival list, days in storage, delivery windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.web.domain.portal import (
    ShipmentFilter,
    appointment_text,
    arrival_rows,
    customer_history,
    customer_view,
    days_in_storage,
    delivery_window,
    exception_ids,
    filter_shipments,
    owns,
    parse_filter,
    storage_rows,
)
from services.web.people.api import landing
from services.web.people.models import Person
from shared.clock import BUSINESS_TZ
from shared.errors import Invalid

SHIPMENT = {
    "waybill_no": "SH1", "status": "delivered", "origin": "SH01", "destination": "WX02", "via": ["NJ01"],
    "promised_at": "2026-12-01T18:00:00+08:00", "eta": None, "delayed": False, "delay_minutes": 0,
    "vehicle_id": "V1", "last_position": {"lat": 31.2, "lon": 121.4, "at": "2026-12-01T10:00:00+08:00"},
    "shipper": {"customer_id": "C100", "name": "无锡精工", "phone": "138****0000"},
    "consignee": {"name": "杨民敬", "phone": "139****1234", "company": None},
    "cargo": {"description": "轴承", "pieces": 10, "weight_kg": 120.5, "volume_m3": 1.2, "dangerous": False},
    "timeline": [
        {"at": "2026-11-30T08:00:00+08:00", "kind": "registered", "data": {"origin": "SH01", "destination": "WX02",
                                                                          "by": "desk-staff"}},
        {"at": "2026-11-30T09:00:00+08:00", "kind": "scan", "data": {"type": "departed", "station": "SH01",
                                                                    "vehicle_id": "V1", "pieces": 10, "by": "x"}},
        {"at": "2026-11-30T10:00:00+08:00", "kind": "delayed", "data": {
            "reason": "traffic_jam", "delay_minutes": 90, "vehicle_id": "V1", "remaining_km": 12.0,
            "speed_kmh": 5.0, "eta": "2026-12-01T19:30:00+08:00"}},
        {"at": "2026-11-30T11:00:00+08:00", "kind": "note", "data": {"contact": "王", "note": "客户很生气"}},
        {"at": "2026-11-30T12:00:00+08:00", "kind": "exception", "data": {
            "action": "reported", "exception_id": "e1", "kind": "damage", "pieces": 1, "station": "NJ01",
            "description": "外箱破损", "by": "nj-clerk"}},
        {"at": "2026-12-01T17:00:00+08:00", "kind": "delivered", "data": {
            "signer_name": "杨民敬", "signer_id_number": "**************1234", "pieces": 10, "station": "WX02",
            "by": "wx-clerk"}},
    ],
}


def test_a_customer_sees_no_vehicle_no_position_no_notes_and_a_masked_signer() -> None:
    view = customer_view(SHIPMENT)
    text = repr(view)
    for secret in ("V1", "121.4", "last_position", "客户很生气", "杨民敬", "1234", "remaining_km", "desk-staff",
                   "nj-clerk", "speed_kmh"):
        assert secret not in text, secret
    assert [e["kind"] for e in view["timeline"]] == ["registered", "scan", "delayed", "exception", "delivered"]
    assert view["signer"] == "杨**" and view["consignee_name"] == "杨**"
    assert view["timeline"][2]["data"]["reason"] == "traffic_jam"
    assert exception_ids(view) == ["e1"]


def test_a_waybill_is_the_customers_only_by_its_shippers_customer_id() -> None:
    assert owns(SHIPMENT, "C100")
    assert not owns(SHIPMENT, "C101") and not owns(SHIPMENT, "")
    assert not owns({"waybill_no": "X"}, "C100")


def _row(no: str, status: str, registered: str, destination: str = "WX02") -> dict[str, object]:
    return {"waybill_no": no, "status": status, "registered_at": registered, "destination": destination}


def test_the_filters_keep_status_dates_in_beijing_time_destination_and_prefix() -> None:
    rows = [_row("SH001", "in_transit", "2026-12-01T15:30:00+00:00"),  # 12-01 23:30 Beijing
            _row("SH002", "delivered", "2026-12-01T16:30:00+00:00"),  # 12-02 00:30 Beijing
            _row("GZ003", "in_transit", "2026-12-03T02:00:00+00:00", destination="GZ01")]
    f = parse_filter({"from": "2026-12-02", "to": "2026-12-03"})
    assert [r["waybill_no"] for r in filter_shipments(rows, f)] == ["GZ003", "SH002"]
    assert [r["waybill_no"] for r in filter_shipments(rows, ShipmentFilter(status="in_transit"))] == ["GZ003", "SH001"]
    assert [r["waybill_no"] for r in filter_shipments(rows, parse_filter({"destination": "gz01"}))] == ["GZ003"]
    assert [r["waybill_no"] for r in filter_shipments(rows, parse_filter({"prefix": "sh00"}))] == ["SH002", "SH001"]
    for bad in ({"from": "12/01/2026"}, {"status": "lost"}, {"from": "2026-12-03", "to": "2026-12-01"},
                {"prefix": "SH'--"}):
        with pytest.raises(Invalid):
            parse_filter(bad)


def test_the_daily_arrival_list_is_the_daily_emails() -> None:
    day = date(2026, 12, 2)
    rows = arrival_rows([
        {"waybill_no": "A", "final_arrived_at": "2026-12-02T01:00:00+08:00", "destination": "WX"},
        {"waybill_no": "B", "final_arrived_at": "2026-12-01T23:00:00+08:00", "destination": "WX"},  # the day before
        {"waybill_no": "C", "eta": "2026-12-02T20:00:00+08:00", "promised_at": "2026-12-02T18:00:00+08:00"},
        {"waybill_no": "D", "eta": None, "promised_at": "2026-11-30T18:00:00+08:00"},  # still due from before
        {"waybill_no": "E", "eta": "2026-12-03T00:00:00+08:00", "promised_at": "2026-12-04T00:00:00+08:00"},
        {"waybill_no": "F", "status": "delivered", "promised_at": "2026-12-01T00:00:00+08:00"},
    ], day)
    assert [(r["waybill_no"], r["kind"], r["late"]) for r in rows] == [
        ("A", "arrived", False), ("D", "due", False), ("C", "due", True)]


def test_days_in_storage_are_calendar_days_in_beijing_time() -> None:
    as_of = datetime(2026, 12, 5, 1, 0, tzinfo=BUSINESS_TZ)
    assert days_in_storage("2026-12-04T23:59:00+08:00", as_of) == 1
    assert days_in_storage("2026-12-05T00:30:00+08:00", as_of) == 0
    assert days_in_storage("2026-12-01T16:30:00+00:00", as_of) == 3  # 12-02 00:30 in Beijing
    assert days_in_storage(None, as_of) is None
    rows = storage_rows({"rows": [
        {"waybill_no": "A", "station": "WX", "pieces": 3, "arrived_at": "2026-12-04T10:00:00+08:00",
         "appointment": {"window_start": "2026-12-06T09:00:00+08:00", "window_end": "2026-12-06T12:00:00+08:00"}},
        {"waybill_no": "B", "station": "WX", "pieces": 1, "arrived_at": "2026-12-01T10:00:00+08:00",
         "days_in_storage": 4}]}, as_of)
    assert [(r["waybill_no"], r["days_in_storage"]) for r in rows] == [("B", 4), ("A", 1)]
    assert rows[1]["appointment"] == "2026-12-06 09:00–12:00" and not rows[1]["appointment_missed"]
    assert appointment_text(None) == ""


def test_a_delivery_window_is_one_forward_span_within_30_days() -> None:
    now = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
    start, end = delivery_window("2026-12-06", "09:00", "12:00", now)
    assert start.isoformat() == "2026-12-06T09:00:00+08:00" and end - start == timedelta(hours=3)
    assert delivery_window("2026-12-05", "09:00", "12:00", now)[1] > now  # still open today
    for args, code in ((("2026-12-06", "12:00", "09:00"), "window_backwards"),
                       (("2026-12-05", "08:00", "09:30"), "window_past"),
                       (("2027-01-10", "09:00", "12:00"), "window_too_far"),
                       (("2026-12-06", "9h", "12:00"), "invalid_time"),
                       (("tomorrow", "09:00", "12:00"), "invalid_date")):
        with pytest.raises(Invalid) as caught:
            delivery_window(*args, now)
        assert caught.value.code == code


def test_a_customer_follows_the_answers_not_who_on_the_desk_took_it() -> None:
    history = customer_history({"history": [
        {"at": "t1", "action": "open", "to_status": "open", "details": {}},
        {"at": "t2", "action": "claim", "to_status": "open", "details": {"assigned_to": "staff7"}},
        {"at": "t3", "action": "respond", "to_status": "responded", "details": {"message": "已联系司机", "by": "s"}},
        {"at": "t4", "action": "resolve", "to_status": "resolved", "details": {"resolution": "已送达"}},
    ]})
    assert [(h["action"], h["text"]) for h in history] == [("open", None), ("respond", "已联系司机"),
                                                          ("resolve", "已送达")]
    assert "staff7" not in repr(history)


def _person(role: str) -> Person:
    return Person(user_id=1, username="u", display_name="u", role=role, branch=None,  # type: ignore[arg-type]
                  customer="C1" if role == "customer" else None, csrf_token="x", session_hash=b"")


def test_a_customer_never_lands_on_the_desk_and_the_desk_never_in_the_portal() -> None:
    assert landing(_person("customer"), "/desk/in-transit") == "/portal/"
    assert landing(_person("customer"), "/portal/storage") == "/portal/storage"
    assert landing(_person("staff"), "/portal/storage") == "/desk/"
    assert landing(_person("staff"), "/desk/receipts") == "/desk/receipts"
