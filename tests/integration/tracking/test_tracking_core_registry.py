"""Registry and registration: stations, vehicles, waybills, branch scoping, queries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import Infra, unique
from tests.integration.tracking.core_support import World, events, new_vehicle, now, register, shipment_body, sql


def test_station_put_creates_then_replaces_and_is_listed(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    code = f"ST{unique()[:8]}"
    admin = infra.headers("admin")
    body = {"name": "杭州站", "city": "杭州", "region": "华东", "lat": 30.27, "lon": 120.15}
    assert api.put(f"/v1/stations/{code}", headers=admin, json=body).status_code == 201
    r = api.put(f"/v1/stations/{code}", headers=admin, json={**body, "name": "杭州东站"})
    assert r.status_code == 200 and r.json()["name"] == "杭州东站"
    assert api.get(f"/v1/stations/{code}", headers=infra.headers("staff")).json()["city"] == "杭州"
    seen, cursor = [], None
    while True:
        page = api.get("/v1/stations", params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                       headers=admin).json()
        seen += [s["code"] for s in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert code in seen and seen == sorted(seen)


@pytest.mark.parametrize("patch", [{"lat": 91}, {"lon": -181}, {"name": ""}, {"name": "x" * 101},
                                   {"contact_phone": "12"}, {"contact_email": "nope"}, {"extra": 1}])
def test_station_bad_inputs_are_422(api, infra: Infra, patch: dict) -> None:  # type: ignore[no-untyped-def]
    body = {"name": "站", "city": "城", "region": "区", "lat": 30.0, "lon": 120.0, **patch}
    r = api.put(f"/v1/stations/BAD{unique()[:6]}", headers=infra.headers("admin"), json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", r.text


def test_station_code_and_roles(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    body = {"name": "站", "city": "城", "region": "区", "lat": 30.0, "lon": 120.0}
    assert api.put("/v1/stations/bad-code", headers=infra.headers("admin"), json=body).status_code == 422
    assert api.put("/v1/stations/OK01", headers=infra.headers("staff"), json=body).status_code == 403
    assert api.put("/v1/stations/OK01", json=body).status_code == 401
    assert api.get(f"/v1/stations/NO{unique()[:6]}", headers=infra.headers("admin")).status_code == 404


def test_vehicle_registry_masks_the_driver_and_guards_devices(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    vid, dev = new_vehicle(api, infra)
    v = api.get(f"/v1/vehicles/{vid}", headers=infra.headers("staff")).json()
    assert v["driver_phone"] == "137****0000" and v["last_position"] is None and v["stale"] is True
    assert v["shipments"] == [] and v["device_id"] == dev
    # the same device on a second vehicle: refused
    r = api.put(f"/v1/vehicles/V{unique()}", headers=infra.headers("admin"),
                json={"plate": "沪B1", "carrier": "CARR1", "device_id": dev})
    assert r.status_code == 409 and r.json()["error"]["code"] == "device_in_use"
    # a carrier token: its own vehicles only
    other = infra.headers("carrier", carrier="OTHER")
    assert api.get(f"/v1/vehicles/{vid}", headers=other).status_code == 404
    assert api.get(f"/v1/vehicles/{vid}", headers=infra.headers("carrier", carrier="CARR1")).status_code == 200
    r = api.put(f"/v1/vehicles/{vid}", headers=other, json={"plate": "沪B1", "carrier": "CARR1"})
    assert r.status_code == 403
    assert api.get(f"/v1/vehicles/NOPE{unique()}", headers=infra.headers("admin")).status_code == 404
    assert api.get(f"/v1/vehicles/{vid}", headers=infra.headers("branch", branch="SH01")).status_code == 403


def test_register_publishes_registered_with_station_refs(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    waybill = f"R{unique()}"
    body = shipment_body(waybill, world, promised_at=now() + timedelta(days=2))
    r = api.post("/v1/shipments", headers=infra.headers("branch", branch=world.sh), json=body)
    assert r.status_code == 201, r.text
    assert r.json()["waybill_no"] == waybill
    [event] = events(infra, waybill, "registered")
    data = event["data"]
    assert event["source"] == "/lcs/tracking" and event["specversion"] == "1.0"
    assert data["origin_station"]["city"] == "上海" and data["destination_station"]["region"] == "华东"
    assert data["destination_station"]["contact_email"] == "wx@station.example.com"
    assert data["via"] == [world.nj] and data["cargo"]["pieces"] == 10
    shipment = api.get(f"/v1/shipments/{waybill}", headers=infra.headers("staff")).json()
    assert shipment["status"] == "registered" and shipment["pieces"] == 10 and shipment["eta"] is None
    assert shipment["shipper"]["phone"] == "138****0000" and shipment["shipper"]["email"] == "o***@example.com"
    assert shipment["consignee"]["phone"] == "139****0000"
    assert [e["kind"] for e in shipment["timeline"]] == ["registered"]


def test_duplicate_waybill_is_409_and_nothing_changes(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    waybill = register(api, infra, world, promised_at=now() + timedelta(days=1))
    body = shipment_body(waybill, world, promised_at=now() + timedelta(days=3), pieces=99)
    r = api.post("/v1/shipments", headers=infra.headers("admin"), json=body)
    assert r.status_code == 409 and r.json()["error"]["code"] == "duplicate_waybill"
    assert api.get(f"/v1/shipments/{waybill}", headers=infra.headers("admin")).json()["pieces"] == 10
    assert len(events(infra, waybill, "registered")) == 1


@pytest.mark.parametrize(("patch", "code"), [
    ({"origin": "NOPE99"}, "unknown_station"),
    ({"via": ["NOPE98"]}, "unknown_station"),
    ({"promised_at": "2020-01-01T00:00:00+08:00"}, "promised_at_in_past"),
    ({"promised_at": "2030-01-01T00:00:00"}, "validation_error"),  # no offset
    ({"cargo": {"description": "x", "pieces": 0}}, "validation_error"),
    ({"consignee": {"name": "张三", "phone": "12345"}}, "validation_error"),
    ({"shipper": {"name": "张三", "phone": "abc"}}, "validation_error"),
    ({"payment": "barter"}, "validation_error"),
    ({"waybill_no": "bad no!"}, "validation_error"),
    ({"cargo": {"description": "x" * 201, "pieces": 1}}, "validation_error"),
    ({"unexpected": True}, "validation_error"),
])
def test_registration_bad_inputs(api, infra: Infra, world: World, patch: dict, code: str) -> None:  # type: ignore[no-untyped-def]
    waybill = f"B{unique()}"
    body = {**shipment_body(waybill, world, promised_at=now() + timedelta(days=1)), **patch}
    r = api.post("/v1/shipments", headers=infra.headers("admin"), json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text
    assert sql(infra, "SELECT 1 FROM tracking.shipments WHERE waybill_no = $1", waybill) == []


def test_route_must_be_sane(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    for patch in ({"destination": world.sh}, {"via": [world.sh]}, {"via": [world.nj, world.nj]}):
        body = {**shipment_body(f"B{unique()}", world, promised_at=now() + timedelta(days=1)), **patch}
        r = api.post("/v1/shipments", headers=infra.headers("admin"), json=body)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_route", r.text


def test_nul_characters_are_refused(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    body = shipment_body(f"N{unique()}", world, promised_at=now() + timedelta(days=1))
    body["cargo"]["description"] = "轴\u0000承"
    r = api.post("/v1/shipments", headers=infra.headers("admin"), json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_characters"


def test_branch_registers_only_from_its_station_and_sees_only_its_shipments(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    waybill = f"BR{unique()}"
    body = shipment_body(waybill, world, promised_at=now() + timedelta(days=1))
    r = api.post("/v1/shipments", headers=infra.headers("branch", branch=world.wx), json=body)
    assert r.status_code == 403
    r = api.post("/v1/shipments", headers=infra.headers("branch", branch=world.sh), json=body)
    assert r.status_code == 201
    for station in (world.sh, world.nj, world.wx):  # origin, via, destination: all see it
        assert api.get(f"/v1/shipments/{waybill}", headers=infra.headers("branch", branch=station)).status_code == 200
    stranger = infra.headers("branch", branch="ZZ99")
    r = api.get(f"/v1/shipments/{waybill}", headers=stranger)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert waybill not in [s["waybill_no"] for s in api.get("/v1/shipments", headers=stranger).json()["items"]]
    assert api.get("/v1/shipments", headers=infra.headers("carrier", carrier="CARR1")).status_code == 403


def test_shipment_list_filters_and_keyset_pages(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    mine = sorted(register(api, infra, world, promised_at=now() + timedelta(days=1)) for _ in range(5))
    seen, cursor = [], None
    for _ in range(20):
        params = {"station": world.wx, "status": "registered", "limit": 2, "delayed": "false"}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/v1/shipments", params=params, headers=infra.headers("branch", branch=world.wx)).json()
        seen += [s["waybill_no"] for s in page["items"]]
        assert all(s["status"] == "registered" and s["destination"] == world.wx for s in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert set(mine) <= set(seen) and seen == sorted(seen) and len(seen) == len(set(seen))
    r = api.get("/v1/shipments", params={"status": "delayed"}, headers=infra.headers("admin"))
    assert r.status_code == 422
    r = api.get("/v1/shipments", params={"cursor": "garbage!"}, headers=infra.headers("admin"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_cursor"
    assert api.get("/v1/shipments", params={"limit": 501}, headers=infra.headers("admin")).status_code == 422
    assert api.get(f"/v1/shipments/NOPE{unique()}", headers=infra.headers("admin")).status_code == 404
