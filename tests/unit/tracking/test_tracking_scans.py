"""Scans, split shipments, impossible scans, delivery and the displayed status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.tracking.domain.scans import (
    Route,
    Scan,
    ScanState,
    ScanType,
    ShipmentStatus,
    apply_delivery,
    apply_scan,
    displayed_status,
    replay_scans,
)
from shared.errors import DomainError

T0 = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
ROUTE = Route(origin="SH01", destination="WX02", via=("NJ01",))
DIRECT = Route(origin="SH01", destination="WX02")

D, AT, DT, A, OFD = (ScanType.DEPARTED, ScanType.ARRIVED_TRANSFER, ScanType.DEPARTED_TRANSFER,
                     ScanType.ARRIVED, ScanType.OUT_FOR_DELIVERY)


def scan(kind: ScanType, station: str, hour: float, pieces: int | None = None) -> Scan:
    return Scan(kind, station, T0 + timedelta(hours=hour), pieces, "TRUCK-1")


def test_direct_shipment_full_lifecycle() -> None:
    state = ScanState(pieces_total=10)
    state = apply_scan(state, scan(D, "SH01", 0, 10), DIRECT)
    assert (state.status, state.departed_at) == (ShipmentStatus.IN_TRANSIT, T0)
    state = apply_scan(state, scan(A, "WX02", 3, 10), DIRECT)
    assert state.status is ShipmentStatus.ARRIVED
    assert state.final and state.pieces_arrived == 10 and state.arrived_at == T0 + timedelta(hours=3)
    state = apply_scan(state, scan(OFD, "WX02", 4), DIRECT)
    assert state.status is ShipmentStatus.OUT_FOR_DELIVERY
    state = apply_delivery(state, T0 + timedelta(hours=5), pieces=10)
    assert state.status is ShipmentStatus.DELIVERED


def test_transfer_is_recorded_as_reached() -> None:
    state = replay_scans(ROUTE, 10, [scan(D, "SH01", 0), scan(AT, "NJ01", 3)])
    assert state.reached_via == ("NJ01",)
    assert state.status is ShipmentStatus.IN_TRANSIT
    state = apply_scan(state, scan(DT, "NJ01", 4), ROUTE)
    assert state.reached_via == ("NJ01",)  # not listed twice


def test_split_shipment_is_final_only_when_the_pieces_add_up() -> None:
    """分批装运: three batches; `final` and `arrived_at` come with the last one."""
    scans = [
        scan(D, "SH01", 0, 4),
        scan(D, "SH01", 1, 6),  # a second vehicle takes the rest
        scan(A, "WX02", 5, 4),
        scan(A, "WX02", 7, 3),
    ]
    state = replay_scans(ROUTE, 10, scans)
    assert (state.pieces_arrived, state.final, state.arrived_at) == (7, False, None)
    assert state.status is ShipmentStatus.IN_TRANSIT  # 3 pieces still on the road
    state = apply_scan(state, scan(A, "WX02", 9, 3), ROUTE)
    assert (state.pieces_arrived, state.final) == (10, True)
    assert state.arrived_at == T0 + timedelta(hours=9)  # the last batch's time
    assert state.status is ShipmentStatus.ARRIVED


def test_arrival_without_pieces_means_all_remaining_pieces() -> None:
    state = replay_scans(DIRECT, 10, [scan(D, "SH01", 0), scan(A, "WX02", 2, 4), scan(A, "WX02", 3)])
    assert state.pieces_arrived == 10 and state.final


def test_partial_batch_may_go_out_for_delivery_and_stays_so_when_the_rest_arrives() -> None:
    state = replay_scans(DIRECT, 10, [scan(D, "SH01", 0), scan(A, "WX02", 2, 4), scan(OFD, "WX02", 3)])
    assert state.status is ShipmentStatus.OUT_FOR_DELIVERY
    state = apply_scan(state, scan(A, "WX02", 4, 6), DIRECT)
    assert state.final and state.status is ShipmentStatus.OUT_FOR_DELIVERY


@pytest.mark.parametrize(
    ("case", "history", "new", "code"),
    [
        ("arrived before departed", [], scan(A, "WX02", 1), "scan_before_departure"),
        ("transfer before departed", [], scan(AT, "NJ01", 1), "scan_before_departure"),
        ("more pieces than the waybill in one scan", [scan(D, "SH01", 0)], scan(A, "WX02", 2, 11),
         "pieces_exceed_waybill"),
        ("batches adding up beyond the waybill", [scan(D, "SH01", 0), scan(A, "WX02", 2, 6)],
         scan(A, "WX02", 3, 5), "pieces_exceed_waybill"),
        ("zero pieces", [scan(D, "SH01", 0)], scan(A, "WX02", 2, 0), "invalid_pieces"),
        ("station not on the route", [scan(D, "SH01", 0)], scan(AT, "HZ01", 2), "station_not_on_route"),
        ("departure from another station", [], scan(D, "NJ01", 0), "departure_not_at_origin"),
        ("arrival at a transfer station", [scan(D, "SH01", 0)], scan(A, "NJ01", 2), "arrival_not_at_destination"),
        ("transfer scan at the destination", [scan(D, "SH01", 0)], scan(AT, "WX02", 2), "transfer_not_on_route"),
        ("scan earlier than the previous one", [scan(D, "SH01", 5)], scan(A, "WX02", 4), "time_before_previous_scan"),
        ("arrived again after all pieces arrived", [scan(D, "SH01", 0), scan(A, "WX02", 2)], scan(A, "WX02", 3),
         "already_arrived"),
        ("out for delivery before any arrival", [scan(D, "SH01", 0)], scan(OFD, "WX02", 2), "scan_before_arrival"),
    ],
)
def test_impossible_scans(case: str, history: list[Scan], new: Scan, code: str) -> None:
    state = replay_scans(ROUTE, 10, history)
    with pytest.raises(DomainError) as err:
        apply_scan(state, new, ROUTE)
    assert err.value.code == code, case
    assert err.value.details["station"] == new.station


def test_any_scan_after_delivery_is_refused() -> None:
    state = replay_scans(DIRECT, 2, [scan(D, "SH01", 0), scan(A, "WX02", 2)])
    state = apply_delivery(state, T0 + timedelta(hours=3), pieces=2)
    with pytest.raises(DomainError) as err:
        apply_scan(state, scan(OFD, "WX02", 4), DIRECT)
    assert err.value.code == "already_delivered"


@pytest.mark.parametrize(
    ("case", "history", "signed_hour", "pieces", "code"),
    [
        ("nothing arrived yet", [scan(D, "SH01", 0)], 2, 1, "delivery_before_arrival"),
        ("more pieces than the waybill", [scan(D, "SH01", 0), scan(A, "WX02", 2)], 3, 3, "pieces_exceed_waybill"),
        ("signed before the arrival scan", [scan(D, "SH01", 0), scan(A, "WX02", 2)], 1, 2,
         "time_before_previous_scan"),
    ],
)
def test_impossible_deliveries(case: str, history: list[Scan], signed_hour: int, pieces: int, code: str) -> None:
    state = replay_scans(DIRECT, 2, history)
    with pytest.raises(DomainError) as err:
        apply_delivery(state, T0 + timedelta(hours=signed_hour), pieces=pieces)
    assert err.value.code == code, case


@pytest.mark.parametrize(
    ("base", "open_exceptions", "expected"),
    [
        (ShipmentStatus.IN_TRANSIT, 0, ShipmentStatus.IN_TRANSIT),
        (ShipmentStatus.IN_TRANSIT, 1, ShipmentStatus.EXCEPTION),
        (ShipmentStatus.ARRIVED, 2, ShipmentStatus.EXCEPTION),
        (ShipmentStatus.DELIVERED, 0, ShipmentStatus.DELIVERED),
    ],
)
def test_displayed_status(base: ShipmentStatus, open_exceptions: int, expected: ShipmentStatus) -> None:
    assert displayed_status(base, open_exceptions) is expected


def test_naive_scan_time_is_refused() -> None:
    with pytest.raises(DomainError) as err:
        apply_scan(ScanState(pieces_total=1), Scan(D, "SH01", datetime(2026, 1, 1)), DIRECT)
    assert err.value.code == "naive_datetime"
