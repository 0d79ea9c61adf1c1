"""What the public may see of a waybill (services/tracking/domain/public.py), without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.tracking.domain.public import (
    Stage,
    current_station,
    digits_match,
    public_eta,
    public_timeline,
    stage_of,
)
from services.tracking.public.api import public_shipment_fast

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Beijing


def test_the_digits_match_either_party_and_nothing_else() -> None:
    assert digits_match("0001", ["0001", "0002"]) and digits_match("0002", ["0001", "0002"])
    assert not digits_match("0003", ["0001", "0002"])
    assert digits_match("0001", ["0001"]) and not digits_match("0000", ["0001"])


@pytest.mark.parametrize("stored", [None, []])
def test_an_unknown_waybill_or_one_without_stored_digits_matches_nothing(stored: list[str] | None) -> None:
    for guess in ("0000", "1234", "9999", "\x00pad", "\x00pad\x00"[:4]):
        assert not digits_match(guess, stored)


@pytest.mark.parametrize(("status", "stage"), [("registered", Stage.REGISTERED), ("in_transit", Stage.IN_TRANSIT),
                                               ("arrived", Stage.ARRIVED), ("out_for_delivery", Stage.OUT_FOR_DELIVERY),
                                               ("delivered", Stage.DELIVERED), ("exception", Stage.IN_TRANSIT)])
def test_the_public_sees_five_stages(status: str, stage: Stage) -> None:
    assert stage_of(status) is stage


def test_the_city_is_where_the_goods_are() -> None:
    args = {"origin": "SH01", "destination": "WX02"}
    assert current_station(Stage.REGISTERED, last_scan_station=None, **args) == "SH01"
    assert current_station(Stage.IN_TRANSIT, last_scan_station="NJ01", **args) == "NJ01"
    assert current_station(Stage.IN_TRANSIT, last_scan_station=None, **args) == "SH01"
    for stage in (Stage.ARRIVED, Stage.OUT_FOR_DELIVERY, Stage.DELIVERED):
        assert current_station(stage, last_scan_station="NJ01", **args) == "WX02"


def test_the_eta_is_a_day_and_half_day_hidden_once_passed() -> None:
    morning = public_eta(T0 + timedelta(days=1), Stage.IN_TRANSIT, T0)  # 09:00 Beijing
    assert morning is not None and (str(morning.day), morning.half) == ("2026-12-02", "am")
    afternoon = public_eta(T0 + timedelta(hours=4), Stage.IN_TRANSIT, T0)  # 13:00 Beijing
    assert afternoon is not None and afternoon.half == "pm"
    late_evening = public_eta(datetime(2026, 12, 1, 16, 30, tzinfo=UTC), Stage.IN_TRANSIT, T0)  # 00:30 next day
    assert late_evening is not None and (str(late_evening.day), late_evening.half) == ("2026-12-02", "am")
    assert public_eta(T0 - timedelta(minutes=1), Stage.IN_TRANSIT, T0) is None
    assert public_eta(T0 + timedelta(days=1), Stage.DELIVERED, T0) is None
    assert public_eta(None, Stage.IN_TRANSIT, T0) is None


def test_the_timeline_is_at_city_level_and_keeps_the_desk_and_the_vehicle_out() -> None:
    entries = [
        {"at": T0, "kind": "registered", "data": {"origin": "SH01", "destination": "WX02", "by": "staff:x"}},
        {"at": T0, "kind": "scan", "data": {"type": "departed", "station": "SH01", "vehicle_id": "V-9", "by": "b"}},
        {"at": T0, "kind": "delayed", "data": {"reason": "traffic_jam", "vehicle_id": "V-9", "remaining_km": 3.2}},
        {"at": T0, "kind": "note", "data": {"note": "客户电话13800001234", "contact": "杨先生"}},
        {"at": T0, "kind": "exception", "data": {"description": "箱子破损", "station": "NJ01"}},
        {"at": T0, "kind": "recovered", "data": {"vehicle_id": "V-9"}},
        {"at": T0, "kind": "scan", "data": {"type": "arrived", "station": "WX02", "vehicle_id": "V-9"}},
        {"at": T0, "kind": "delivered", "data": {"signer_name": "张三", "signer_id_number": "****1234",
                                                  "station": "WX02"}},
    ]
    cities = {"SH01": "上海", "WX02": "无锡", "NJ01": "南京"}
    view = public_timeline(entries, cities)
    assert [(e.event, e.city, e.reason) for e in view.events] == [
        ("registered", "上海", None), ("departed", "上海", None), ("delayed", None, "traffic_jam"),
        ("recovered", None, None), ("arrived", "无锡", None), ("delivered", "无锡", None)]
    assert view.signer is not None and view.signer.name == "张*" and view.signer.signed_at == T0
    text = repr(view)
    for secret in ("V-9", "1380000", "1234", "张三", "破损", "杨", "staff:x", "remaining_km"):
        assert secret not in text


@pytest.mark.parametrize(("method", "query", "headers"), [
    ("POST", b"waybill_no=T1", [(b"authorization", b"Bearer x")]),
    ("GET", b"waybill_no=T1&via=fastapi", [(b"authorization", b"Bearer x")]),
    ("GET", b"waybill_no=T%201", [(b"authorization", b"Bearer x")]),
    ("GET", b"waybill_no=T+1", [(b"authorization", b"Bearer x")]),
    ("GET", b"waybill=T1", [(b"authorization", b"Bearer x")]),
    ("GET", b"waybill_no=", [(b"authorization", b"Bearer x")]),
    ("GET", b"waybill_no=" + b"9" * 65, [(b"authorization", b"Bearer x")]),
    ("GET", b"waybill_no=T1", [(b"authorization", b"Bearer x"), (b"x-phone-last4", b"12a4")]),
    ("GET", b"waybill_no=T1", [(b"authorization", b"Bearer x"), (b"x-phone-last4", b"1234"),
                               (b"x-phone-last4", b"1234")]),
    ("GET", b"", [(b"authorization", b"Bearer x"), (b"x-tracking-link", b"")]),
    ("GET", b"waybill_no=T1", []),
    ("GET", b"waybill_no=T1", [(b"authorization", b"Basic eDp5")]),
])
async def test_the_fast_lookup_declines_what_fastapis_route_must_judge(method: str, query: bytes,
                                                                       headers: list[tuple[bytes, bytes]]) -> None:
    """public.api.public_shipment_fast returns None (FastAPI's route answers) before touching
    the runtime, for every request the route's validation or its dependency must answer."""
    async def nothing(*_: object) -> object:
        raise AssertionError("a declined request is neither read nor answered")

    scope = {"type": "http", "method": method, "path": "/v1/public/shipments", "query_string": query,
             "headers": headers}
    assert await public_shipment_fast(None, scope, nothing, nothing) is None  # type: ignore[arg-type]
