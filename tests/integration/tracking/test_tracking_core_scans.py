"""Scans: the route's life, split arrivals with `final`, impossible scans, events, timeline."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.conftest import Infra, unique
from tests.integration.tracking.core_support import (
    World,
    events,
    fix,
    minutes,
    new_vehicle,
    now,
    post_positions,
    register,
    scan,
    short,
    sql,
)


def test_a_split_shipment_arrives_in_batches_and_only_the_last_is_final(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    t0 = now() - timedelta(hours=5)
    waybill = register(api, infra, world, promised_at=now() + timedelta(days=1))
    r = scan(api, infra, waybill, "departed", world.sh, t0, world.vehicle_id, 10)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "in_transit" and r.json()["vehicle_id"] == world.vehicle_id
    assert api.get(f"/v1/vehicles/{world.vehicle_id}", headers=infra.headers("admin")).json()["shipments"] == [waybill]
    assert scan(api, infra, waybill, "arrived_transfer", world.nj, t0 + minutes(200)).status_code == 201
    assert scan(api, infra, waybill, "departed_transfer", world.nj, t0 + minutes(240)).status_code == 201
    r = scan(api, infra, waybill, "arrived", world.wx, t0 + minutes(280), pieces=6)
    assert r.status_code == 201 and r.json()["final"] is False and r.json()["status"] == "in_transit"
    r = scan(api, infra, waybill, "arrived", world.wx, t0 + minutes(290), pieces=5)  # 11 > 10
    assert r.status_code == 409 and r.json()["error"]["code"] == "pieces_exceed_waybill"
    r = scan(api, infra, waybill, "arrived", world.wx, t0 + minutes(295), pieces=4)
    assert r.status_code == 201 and r.json()["final"] is True and r.json()["status"] == "arrived"
    r = scan(api, infra, waybill, "out_for_delivery", world.wx, t0 + minutes(296))
    assert r.status_code == 201 and r.json()["status"] == "out_for_delivery"

    arrived = [e["data"] for e in events(infra, waybill, "arrived")]
    assert [(a["pieces"], a["pieces_arrived"], a["final"]) for a in arrived] == [(6, 6, False), (4, 10, True)]
    assert arrived[1]["arrived_at"].startswith((t0 + minutes(295)).strftime("%Y-%m-%dT%H:%M"))
    assert arrived[1]["pieces_total"] == 10 and arrived[1]["station"] == world.wx
    types = [short(e) for e in events(infra, waybill)]
    assert types == ["registered", "departed", "arrived", "arrived", "out_for_delivery"]
    [departed] = events(infra, waybill, "departed")
    assert departed["data"]["vehicle_id"] == world.vehicle_id and departed["data"]["eta"] is None

    shipment = api.get(f"/v1/shipments/{waybill}", headers=infra.headers("admin")).json()
    assert shipment["pieces_arrived"] == 10 and shipment["status"] == "out_for_delivery"
    scans = [e["data"]["type"] for e in shipment["timeline"] if e["kind"] == "scan"]
    assert scans == ["departed", "arrived_transfer", "departed_transfer", "arrived", "arrived", "out_for_delivery"]
    times = [datetime.fromisoformat(e["at"]) for e in shipment["timeline"] if e["kind"] == "scan"]
    assert times == sorted(times)
    # off the truck once fully arrived
    vehicle = api.get(f"/v1/vehicles/{world.vehicle_id}", headers=infra.headers("admin")).json()
    assert waybill not in vehicle["shipments"]
    rows = sql(infra, "SELECT type, pieces FROM tracking.scans WHERE waybill_no = $1 ORDER BY id", waybill)
    assert [(r["type"], r["pieces"]) for r in rows][-3:] == [("arrived", 6), ("arrived", 4), ("out_for_delivery", 10)]


def test_impossible_scans_are_409_with_the_rule_code_and_store_nothing(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    t0 = now() - timedelta(hours=3)
    waybill = register(api, infra, world, promised_at=now() + timedelta(days=1))
    cases = [
        ("arrived", world.wx, t0, None, "scan_before_departure"),
        ("out_for_delivery", world.wx, t0, None, "scan_before_departure"),
        ("departed", world.wx, t0, None, "departure_not_at_origin"),
        ("departed", f"ZZ{unique()[:6]}", t0, None, "station_not_on_route"),
        ("departed", world.sh, t0, 11, "pieces_exceed_waybill"),
    ]
    for type_, station, at, pieces, code in cases:
        r = scan(api, infra, waybill, type_, station, at, pieces=pieces)
        assert r.status_code == 409 and r.json()["error"]["code"] == code, (type_, r.text)
    assert scan(api, infra, waybill, "departed", world.sh, t0).status_code == 201
    r = scan(api, infra, waybill, "arrived_transfer", world.nj, t0 - minutes(1))
    assert r.status_code == 409 and r.json()["error"]["code"] == "time_before_previous_scan"
    r = scan(api, infra, waybill, "arrived_transfer", world.wx, t0 + minutes(1))
    assert r.status_code == 409 and r.json()["error"]["code"] == "transfer_not_on_route"
    r = scan(api, infra, waybill, "out_for_delivery", world.wx, t0 + minutes(2))
    assert r.status_code == 409 and r.json()["error"]["code"] == "scan_before_arrival"
    assert scan(api, infra, waybill, "arrived", world.wx, t0 + minutes(3)).status_code == 201  # all pieces
    r = scan(api, infra, waybill, "arrived", world.wx, t0 + minutes(4), pieces=1)
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_arrived"
    rows = sql(infra, "SELECT type FROM tracking.scans WHERE waybill_no = $1 ORDER BY id", waybill)
    assert [r["type"] for r in rows] == ["departed", "arrived"]


def test_scan_bad_inputs(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    waybill = register(api, infra, world, promised_at=now() + timedelta(days=1))
    r = scan(api, infra, waybill, "departed", world.sh, now() - minutes(5), vehicle_id=f"NOPE{unique()}")
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_vehicle"
    r = scan(api, infra, waybill, "departed", world.sh, now() + timedelta(hours=1))
    assert r.status_code == 422 and r.json()["error"]["code"] == "scan_in_future"
    r = api.post(f"/v1/shipments/{waybill}/scans", headers=infra.headers("admin"),
                 json={"type": "departed", "station": world.sh, "at": "2026-01-01T08:00:00"})
    assert r.status_code == 422  # no offset
    r = api.post(f"/v1/shipments/{waybill}/scans", headers=infra.headers("admin"),
                 json={"type": "teleported", "station": world.sh, "at": now().isoformat()})
    assert r.status_code == 422
    r = api.post(f"/v1/shipments/{waybill}/scans", headers=infra.headers("admin"),
                 json={"type": "departed", "station": world.sh, "at": now().isoformat(), "pieces": 0})
    assert r.status_code == 422
    r = api.post(f"/v1/shipments/NOPE{unique()}/scans", headers=infra.headers("admin"),
                 json={"type": "departed", "station": world.sh, "at": now().isoformat()})
    assert r.status_code == 404
    # branches: only at their own station, only on shipments they see
    r = api.post(f"/v1/shipments/{waybill}/scans", headers=infra.headers("branch", branch=world.nj),
                 json={"type": "departed", "station": world.sh, "at": now().isoformat()})
    assert r.status_code == 403
    r = api.post(f"/v1/shipments/{waybill}/scans", headers=infra.headers("branch", branch="ZZ99"),
                 json={"type": "departed", "station": "ZZ99", "at": now().isoformat()})
    assert r.status_code == 404
    r = api.post(f"/v1/shipments/{waybill}/scans", headers=infra.headers("branch", branch=world.sh),
                 json={"type": "departed", "station": world.sh, "at": now().isoformat()})
    assert r.status_code == 201
    assert sql(infra, "SELECT count(*) AS n FROM tracking.scans WHERE waybill_no = $1", waybill)[0]["n"] == 1


def test_departure_of_a_reporting_truck_carries_an_eta(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    vid, _ = new_vehicle(api, infra)
    t = now() - minutes(2)
    assert post_positions(api, infra, [fix(vid, t, 31.2304, 121.4737, 80.0)]).status_code == 200
    waybill = register(api, infra, world, promised_at=now() + timedelta(days=1))
    r = scan(api, infra, waybill, "departed", world.sh, now() - minutes(1), vid)
    assert r.status_code == 201 and r.json()["eta"] is not None
    [departed] = events(infra, waybill, "departed")
    assert departed["data"]["eta"] is not None and departed["data"]["destination"] == world.wx
    assert events(infra, waybill, "delayed") == []  # a day of slack
