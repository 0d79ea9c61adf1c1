"""Positions: the batch API, OsmAnd and Traccar feeds, out-of-order and duplicate fixes,
delay detection (once, again after worsening by the step, recovered) and stale vehicles."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from shared.devtools.stack import Stack
from tests.conftest import Infra, unique
from tests.integration.tracking.core_support import (
    World,
    events,
    fix,
    last_position,
    minutes,
    new_vehicle,
    now,
    post_positions,
    register,
    scan,
    short,
    sql,
    stored,
)

SH = (31.2304, 121.4737)


# --- the batch API ----------------------------------------------------------------------


def test_out_of_order_and_duplicate_fixes_are_kept_once_and_never_roll_back(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    vid, _ = new_vehicle(api, infra)
    t = now() - minutes(30)
    r = post_positions(api, infra, [fix(vid, t + minutes(10), 31.3, 121.3), fix(vid, t, 31.2, 121.4),
                                    fix(vid, t + minutes(10), 31.3, 121.3)])  # duplicate inside the batch
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 2 and r.json()["received"] == 3
    assert last_position(api, infra, vid)["lat"] == 31.3
    r = post_positions(api, infra, [fix(vid, t + minutes(5), 31.25, 121.35)])  # late, older fix
    assert r.status_code == 200 and r.json()["stored"] == 1
    position = last_position(api, infra, vid)
    assert position["lat"] == 31.3 and datetime.fromisoformat(position["at"]) == t + minutes(10)
    r = post_positions(api, infra, [fix(vid, t + minutes(10), 31.3, 121.3)])  # duplicate of a stored fix
    assert r.status_code == 200 and r.json()["stored"] == 0
    assert stored(infra, vid) == [t, t + minutes(5), t + minutes(10)]
    assert api.get(f"/v1/vehicles/{vid}", headers=infra.headers("admin")).json()["stale"] is False


def test_a_dense_feed_is_all_stored_and_read_as_a_one_a_minute_track(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    """A 1 Hz feed: every fix is stored, one a minute is marked for the delay rules (plus every
    late fix), and the rules still see the truck stop — 25 minutes standing at 1 Hz."""
    vid, _ = new_vehicle(api, infra)
    t0 = now() - minutes(45)
    waybill = register(api, infra, world, promised_at=t0 + minutes(150), via=[])
    assert scan(api, infra, waybill, "departed", world.sh, t0, vid).status_code == 201
    moving = [fix(vid, t0 + timedelta(seconds=s), SH[0] + s * 1e-5, SH[1] - s * 1e-5, 70.0) for s in range(0, 1200)]
    r = post_positions(api, infra, moving)
    assert r.status_code == 200 and r.json()["stored"] == 1200, r.text
    assert events(infra, waybill, "delayed") == []  # 148 km of road at 70 km/h: on time
    standing = [fix(vid, t0 + timedelta(seconds=s), SH[0] + 0.012, SH[1] - 0.012, 0.0) for s in range(1200, 2700)]
    r = post_positions(api, infra, standing)
    assert r.status_code == 200 and r.json()["stored"] == 1500, r.text
    rows = sql(infra, "SELECT at FROM tracking.positions WHERE vehicle_id = $1 AND sampled ORDER BY at", vid)
    assert [row["at"] for row in rows] == [t0 + timedelta(seconds=s) for s in range(0, 2700, 60)]
    vehicle = sql(infra, "SELECT last_fix_at, last_sample_at FROM tracking.vehicles WHERE vehicle_id = $1", vid)[0]
    assert vehicle["last_fix_at"] == t0 + timedelta(seconds=2699) and vehicle["last_sample_at"] == t0 + minutes(44)
    # standing for 25 minutes: the recent speed falls to the floor, late, and it is the stop
    delayed = events(infra, waybill, "delayed")
    assert len(delayed) == 1 and delayed[0]["data"]["reason"] == "vehicle_stopped"
    # a late fix (the device's offline buffer) is marked too, and does not move the vehicle back
    r = post_positions(api, infra, [fix(vid, t0 - timedelta(seconds=30), *SH, 50.0)])
    assert r.status_code == 200 and r.json()["stored"] == 1
    assert sql(infra, "SELECT sampled FROM tracking.positions WHERE vehicle_id = $1 AND at = $2", vid,
               t0 - timedelta(seconds=30))[0]["sampled"] is True
    assert sql(infra, "SELECT last_fix_at FROM tracking.vehicles WHERE vehicle_id = $1",
               vid)[0]["last_fix_at"] == t0 + timedelta(seconds=2699)


def test_a_dense_feed_evaluates_each_vehicle_once_per_interval(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    """LCS_EVALUATION_INTERVAL_SECONDS (15): fixes a second apart are all stored and move the
    vehicle, but its shipments are evaluated at most once per 15 s of its feed; the position that
    makes the shipment late is noticed at the next evaluation, within the interval."""
    vid, dev = new_vehicle(api, infra)
    t0 = now() - minutes(10)
    waybill = register(api, infra, world, promised_at=t0 + minutes(150), via=[])
    assert scan(api, infra, waybill, "departed", world.sh, t0, vid).status_code == 201

    def post(second: int, lat: float, lon: float) -> dict:  # type: ignore[type-arg]
        r = post_positions(api, infra, [fix(vid, t0 + timedelta(seconds=second), lat, lon, 70.0)])
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    assert post(0, *SH)["evaluated_shipments"] == 1  # never evaluated: at once
    assert post(5, SH[0] + 1e-4, SH[1])["evaluated_shipments"] == 0
    # 500 km away with 150 minutes to go: this fix makes it late, 10 s after the last evaluation
    far = (SH[0] + 4.5, SH[1])
    assert post(10, *far)["evaluated_shipments"] == 0
    assert events(infra, waybill, "delayed") == []
    vehicle = sql(infra, "SELECT last_fix_at, last_evaluated_at FROM tracking.vehicles WHERE vehicle_id = $1", vid)[0]
    assert vehicle["last_fix_at"] == t0 + timedelta(seconds=10) and vehicle["last_evaluated_at"] == t0
    assert post(15, *far)["evaluated_shipments"] == 1  # 15 s on: evaluated, late
    assert len(events(infra, waybill, "delayed")) == 1
    # the device feed follows the same rule
    ts = int((t0 + timedelta(seconds=20)).timestamp())
    assert api.get("/osmand", params={"id": dev, "lat": far[0], "lon": far[1], "timestamp": ts}).status_code == 200
    assert sql(infra, "SELECT last_evaluated_at FROM tracking.vehicles WHERE vehicle_id = $1",
               vid)[0]["last_evaluated_at"] == t0 + timedelta(seconds=15)


@pytest.mark.parametrize(("bad", "field"), [
    ({"lat": 95.0}, "lat"), ({"lon": -190.0}, "lon"), ({"speed_kmh": -1.0}, "speed_kmh"),
    ({"speed_kmh": 900.0}, "speed_kmh"), ({"heading": 400.0}, "heading"),
])
def test_one_bad_item_rejects_the_batch_naming_its_index(api, infra: Infra, bad: dict, field: str) -> None:  # type: ignore[no-untyped-def]
    vid, _ = new_vehicle(api, infra)
    t = now() - minutes(10)
    items = [fix(vid, t + minutes(i), 31.2, 121.4) for i in range(5)]
    items[3].update(bad)
    r = post_positions(api, infra, items)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_position" and err["details"][0] == {"index": 3, "field": field,
                                                                        "problem": err["details"][0]["problem"]}
    assert "position 3" in err["message"]
    assert stored(infra, vid) == []


def test_future_naive_unknown_and_oversized_batches(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    vid, _ = new_vehicle(api, infra)
    t = now()
    r = post_positions(api, infra, [fix(vid, t - minutes(1), 31.2, 121.4), fix(vid, t + minutes(30), 31.2, 121.4)])
    assert r.status_code == 422 and r.json()["error"]["details"][0]["index"] == 1
    assert r.json()["error"]["details"][0]["field"] == "at"
    naive = fix(vid, t, 31.2, 121.4)
    naive["at"] = "2026-01-01T08:00:00"
    r = post_positions(api, infra, [fix(vid, t, 31.2, 121.4), naive])
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"][:3] == ["body", "positions", "1"]
    r = post_positions(api, infra, [fix(vid, t, 31.2, 121.4), fix(f"NOPE{unique()}", t, 31.2, 121.4)])
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_vehicle"
    assert r.json()["error"]["details"][0]["index"] == 1
    r = post_positions(api, infra, [fix(vid, t - timedelta(seconds=i), 31.2, 121.4) for i in range(5001)])
    assert r.status_code == 422 and r.json()["error"]["code"] == "batch_too_large"
    r = post_positions(api, infra, [])
    assert r.status_code == 422
    r = api.post("/v1/positions", headers=infra.headers("carrier", carrier="CARR1"),
                 json={"positions": [{**fix(vid, t, 31.2, 121.4), "vehicle_id": "a\u0000b"}]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_characters"
    assert stored(infra, vid) == []


def test_a_full_batch_of_5000_is_stored(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    vids = [new_vehicle(api, infra)[0] for _ in range(5)]
    t = now() - timedelta(hours=2)
    items = [fix(vids[i % 5], t + timedelta(seconds=i), 31.2 + i / 1e5, 121.4, 50.0) for i in range(5000)]
    r = post_positions(api, infra, items)
    assert r.status_code == 200 and r.json()["stored"] == 5000 and r.json()["vehicles"] == 5
    assert datetime.fromisoformat(last_position(api, infra, vids[4])["at"]) == t + timedelta(seconds=4999)
    # the same batch again (a client retrying after a timeout), with 100 new fixes in it: the
    # COPY meets the primary key, the batch goes through the staging path, each fix kept once
    again = items[:4900] + [fix(vids[i % 5], t + timedelta(seconds=i), 31.2, 121.4, 50.0) for i in range(5000, 5100)]
    r = post_positions(api, infra, again)
    assert r.status_code == 200 and r.json()["stored"] == 100, r.text
    assert sum(len(stored(infra, v)) for v in vids) == 5100
    assert datetime.fromisoformat(last_position(api, infra, vids[4])["at"]) == t + timedelta(seconds=5099)


def test_roles_and_carriers(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    vid, _ = new_vehicle(api, infra, carrier="CARR1")
    item = [fix(vid, now(), 31.2, 121.4)]
    r = post_positions(api, infra, item, carrier="CARR2")  # another carrier's vehicle reads as unknown
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_vehicle"
    assert api.post("/v1/positions", headers=infra.headers("staff"), json={"positions": item}).status_code == 403
    assert api.post("/v1/positions", json={"positions": item}).status_code == 401
    assert api.post("/v1/positions", headers=infra.headers("admin"), json={"positions": item}).status_code == 200
    assert len(stored(infra, vid)) == 1


def test_the_fast_and_the_full_parser_store_and_refuse_alike(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    """A body in the common shape is read by the fast parser, one with numbers as strings and
    other time forms by pydantic (feeds.parse_position_batch_fast declines it): the same fixes
    are stored, a bad item gets the same 422, an unknown field pydantic's own 422."""
    fast_vid, _ = new_vehicle(api, infra)
    full_vid, _ = new_vehicle(api, infra)
    t = (now() - minutes(30)).replace(microsecond=250000)
    common = [{"vehicle_id": fast_vid, "at": (t + minutes(i)).isoformat().replace("+00:00", "Z"), "lat": 31 + i,
               "lon": 121.5, "speed_kmh": 60 if i else None, "heading": 90.5} for i in range(3)]
    shanghai = "%Y-%m-%d %H:%M:%S.%f+0800"  # a space, no colon in the offset: pydantic reads it
    unusual = [{"vehicle_id": full_vid, "at": (t + minutes(i) + timedelta(hours=8)).strftime(shanghai),
                "lat": str(31 + i), "lon": "121.5", "speed_kmh": 60 if i else None, "heading": "90.5"}
               for i in range(3)]
    for items in (common, unusual):
        r = post_positions(api, infra, items)
        assert r.status_code == 200 and r.json()["stored"] == 3, r.text
    query = "SELECT at, lat, lon, speed_kmh, heading FROM tracking.positions WHERE vehicle_id = $1 ORDER BY at"
    rows = [[tuple(r) for r in sql(infra, query, vid)] for vid in (fast_vid, full_vid)]
    assert rows[0] == rows[1] == [(t + minutes(i), 31.0 + i, 121.5, 60.0 if i else None, 90.5) for i in range(3)]
    answers = []
    for items, bad in ((common, 95), (unusual, "95")):
        r = post_positions(api, infra, [items[0], {**items[1], "lat": bad}])
        assert r.status_code == 422, r.text
        answers.append(r.json()["error"])
    assert answers[0]["code"] == "invalid_position" and answers[0]["details"][0]["index"] == 1
    assert answers[0] == answers[1]
    r = post_positions(api, infra, [{**common[0], "altitude": 12.0}])
    err = r.json()["error"]
    assert r.status_code == 422 and err["code"] == "validation_error"
    assert err["details"][0]["loc"] == ["body", "positions", "0", "altitude"]
    assert len(stored(infra, fast_vid)) == len(stored(infra, full_vid)) == 3


def test_the_batch_fast_route_and_fastapis_route_answer_alike(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    """`POST /v1/positions` is answered in front of FastAPI (api.positions_fast) unless the request
    has a query string or no bearer token; `?via=fastapi` takes FastAPI's route. Both give the
    same answers, and the guard counts both under the route."""
    vid, _ = new_vehicle(api, infra)
    other, _ = new_vehicle(api, infra, carrier="CARR2")
    t = now() - minutes(20)
    carrier, staff = infra.headers("carrier", carrier="CARR1"), infra.headers("staff")
    cases = [  # (headers, body, expected status)
        (carrier, {"positions": [fix(vid, t + minutes(1), 31.2, 121.4)]}, 200),
        (carrier, {"positions": [fix(vid, t + minutes(2), 95.0, 121.4)]}, 422),  # out of range
        (carrier, {"positions": [{**fix(vid, t, 31.2, 121.4), "altitude": 3}]}, 422),  # pydantic's
        (carrier, {"positions": [fix(other, t + minutes(3), 31.2, 121.4)]}, 422),  # another carrier's: unknown
        (carrier, {"positions": [fix(f"NOPE{unique()}", t, 31.2, 121.4)]}, 422),  # unknown
        (carrier, [fix(vid, t + minutes(2), 31.2, 121.4)], 422),  # JSON, but not an object
        (staff, {"positions": [fix(vid, t + minutes(4), 31.2, 121.4)]}, 403),  # role
        ({"Authorization": "Bearer not-a-token"}, {"positions": []}, 401),
        ({}, {"positions": []}, 401),
    ]
    for headers, body, status in cases:
        answers = []
        for url in ("/v1/positions", "/v1/positions?via=fastapi"):
            if status == 200:  # a new fix each time, so both store one
                body = {"positions": [{**body["positions"][0], "at": (t + minutes(10 + len(answers))).isoformat()}]}
            r = api.post(url, headers=headers, json=body)
            assert r.status_code == status, (url, r.text)
            answers.append((r.json(), r.headers.get("www-authenticate")))
        assert answers[0] == answers[1], answers
    r = api.post("/v1/positions", headers=carrier, content=b'{"positions": [')  # not JSON
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    metrics = api.get("/metrics").text
    for status in ("200", "401", "403", "422"):
        assert f'lcs_http_requests_total{{method="POST",route="/v1/positions",service="tracking",status="{status}"}}' \
            in metrics, status


# --- OsmAnd and Traccar -----------------------------------------------------------------


def test_osmand_query_string_with_knots_and_epoch_seconds(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    vid, dev = new_vehicle(api, infra)
    t = (now() - minutes(3)).replace(microsecond=0)
    r = api.get("/osmand", params={"id": dev, "lat": 31.25, "lon": 121.40, "timestamp": int(t.timestamp()),
                                   "speed": 10, "bearing": 90, "altitude": 5, "accuracy": 8, "batt": 77})
    assert r.status_code == 200, r.text
    p = last_position(api, infra, vid)
    assert datetime.fromisoformat(p["at"]) == t and p["speed_kmh"] == pytest.approx(18.52) and p["heading"] == 90
    row = sql(infra, "SELECT battery, accuracy FROM tracking.positions WHERE vehicle_id = $1", vid)[0]
    assert row["battery"] == 77 and row["accuracy"] == 8
    # POST with the parameters in the query string (Traccar Client's classic form), epoch milliseconds
    t2 = t + minutes(1)
    r = api.post("/osmand", params={"deviceid": dev, "lat": 31.26, "lon": 121.39,
                                    "timestamp": int(t2.timestamp() * 1000), "speed": 20})
    assert r.status_code == 200
    assert datetime.fromisoformat(last_position(api, infra, vid)["at"]) == t2


def test_osmand_form_and_json_bodies_and_iso_times(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    vid, dev = new_vehicle(api, infra)
    t = (now() - minutes(5)).replace(microsecond=0)
    r = api.post("/osmand", data={"id": dev, "lat": "31.27", "lon": "121.38", "timestamp": t.isoformat(),
                                  "speed": "0"})
    assert r.status_code == 200, r.text
    t2 = t + minutes(1)
    body = {"device_id": dev, "location": {"timestamp": t2.isoformat().replace("+00:00", "Z"),
                                           "coords": {"latitude": 31.28, "longitude": 121.37, "speed": 10.0,
                                                      "heading": 45.0, "altitude": 3, "accuracy": 5},
                                           "battery": {"level": 0.5}}}
    r = api.post("/osmand", json=body)
    assert r.status_code == 200, r.text
    p = last_position(api, infra, vid)
    assert p["lat"] == 31.28 and p["speed_kmh"] == pytest.approx(36.0)  # m/s in the JSON form
    assert len(stored(infra, vid)) == 2


def test_osmand_errors_are_400(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    _, dev = new_vehicle(api, infra)
    ts = int(now().timestamp())
    cases = [
        {"id": f"UNKNOWN{unique()}", "lat": 31.2, "lon": 121.4, "timestamp": ts},
        {"lat": 31.2, "lon": 121.4, "timestamp": ts},
        {"id": dev, "lat": "north", "lon": 121.4, "timestamp": ts},
        {"id": dev, "lat": 91, "lon": 121.4, "timestamp": ts},
        {"id": dev, "lat": 31.2, "lon": 121.4, "timestamp": "2026-01-01T08:00:00"},  # no offset
        {"id": dev, "lat": 31.2, "lon": 121.4, "timestamp": ts + 3600},  # an hour ahead
        {"id": "bad id with spaces", "lat": 31.2, "lon": 121.4, "timestamp": ts},
    ]
    codes = []
    for params in cases:
        r = api.get("/osmand", params=params)
        assert r.status_code == 400, (params, r.text)
        codes.append(r.json()["error"]["code"])
    assert codes[0] == "unknown_device" and codes[1] == "missing_field" and codes[4] == "naive_timestamp"
    assert codes[5] == "invalid_position"
    assert api.post("/osmand", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400


def test_osmand_fast_route_is_counted_and_declines_what_the_guard_must_judge(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    """The usual /osmand request is answered in front of FastAPI (api.osmand_fast): it is still
    counted under its route, and a query string hiding NUL goes to the guard (422)."""
    vid, dev = new_vehicle(api, infra)

    def answered(status: str) -> float:
        prefix = f'lcs_http_requests_total{{method="GET",route="/osmand",service="tracking",status="{status}"}}'
        line = next((x for x in api.get("/metrics").text.splitlines() if x.startswith(prefix)), None)
        return 0.0 if line is None else float(line.split()[-1])

    before_200, before_400 = answered("200"), answered("400")
    ts = int((now() - minutes(2)).timestamp())
    assert api.get("/osmand", params={"id": dev, "lat": 31.2, "lon": 121.4, "timestamp": ts}).json() == {
        "status": "stored"}
    r = api.get("/osmand", params={"id": f"NOPE{unique()}", "lat": 31.2, "lon": 121.4, "timestamp": ts})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_device"
    assert answered("200") == before_200 + 1 and answered("400") == before_400 + 1
    r = api.get(f"/osmand?id={dev}&lat=31.2&lon=121.4&timestamp={ts}&batt=%00")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_characters"
    assert api.put("/osmand", params={"id": dev}).status_code == 405
    assert len(stored(infra, vid)) == 1


def test_osmand_concurrent_requests_share_commits_and_all_land(api, infra: Infra, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    import concurrent.futures

    import httpx

    vids = [new_vehicle(api, infra) for _ in range(4)]
    t = now() - minutes(20)
    shared = httpx.Client(base_url=stack.url("tracking"), timeout=30, limits=httpx.Limits(max_connections=16))

    def send(i: int) -> int:
        _, dev = vids[i % 4]
        return shared.get("/osmand", params={"id": dev, "lat": 31.2 + i / 1000, "lon": 121.4,
                                             "timestamp": (t + timedelta(seconds=i)).isoformat()}).status_code

    def group_sum() -> float:
        text = api.get("/metrics").text
        line = next((x for x in text.splitlines() if x.startswith("lcs_tracking_osmand_group_size_sum")), None)
        return 0.0 if line is None else float(line.split()[-1])

    before = group_sum()
    with shared, concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(send, range(80)))
    assert statuses == [200] * 80
    assert group_sum() - before == 80  # every fix went through the group committer
    assert sum(len(stored(infra, vid)) for vid, _ in vids) == 80
    assert datetime.fromisoformat(last_position(api, infra, vids[3][0])["at"]) == t + timedelta(seconds=79)


def test_traccar_forwarding(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    vid, dev = new_vehicle(api, infra)
    t = now() - minutes(4)
    body = {"position": {"id": 1, "deviceId": 77, "fixTime": t.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                         "latitude": 31.3, "longitude": 121.2, "speed": 30.0, "course": 180.0, "altitude": 4,
                         "accuracy": 10, "valid": True, "attributes": {"batteryLevel": 60}},
            "device": {"id": 77, "name": "truck", "uniqueId": dev}}
    carrier = infra.headers("carrier", carrier="CARR1")
    r = api.post("/v1/ingest/traccar", headers=carrier, json=body)
    assert r.status_code == 200, r.text
    p = last_position(api, infra, vid)
    assert p["lat"] == 31.3 and p["speed_kmh"] == pytest.approx(55.56) and p["heading"] == 180
    r = api.post("/v1/ingest/traccar", headers=infra.headers("carrier", carrier="CARR2"), json=body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_device"  # another carrier's
    unknown = {**body, "device": {"uniqueId": f"NOPE{unique()}"}}
    r = api.post("/v1/ingest/traccar", headers=carrier, json=unknown)
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_device"
    r = api.post("/v1/ingest/traccar", headers=carrier, json={"device": {"uniqueId": dev}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "missing_field"
    assert api.post("/v1/ingest/traccar", headers=infra.headers("staff"), json=body).status_code == 403
    assert len(stored(infra, vid)) == 1


# --- delays -----------------------------------------------------------------------------


def test_delayed_once_again_only_after_worsening_by_the_step_then_recovered(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    """SH → WX without transfer: 114 km of great circle, 148 km of road; at 60 km/h the ETA
    from Shanghai is fix time + ~2h28m, with a promised time 3 h after departure."""
    vid, _ = new_vehicle(api, infra)
    t0 = now() - minutes(150)
    promised = t0 + minutes(180)
    waybill = register(api, infra, world, promised_at=promised, via=[])
    assert scan(api, infra, waybill, "departed", world.sh, t0, vid).status_code == 201

    def at(lat: float, lon: float, t: datetime, speed: float) -> list[str]:
        r = post_positions(api, infra, [fix(vid, t, lat, lon, speed)])
        assert r.status_code == 200, r.text
        return [short(e) for e in events(infra, waybill, "delayed", "recovered")]

    wx = (31.4912, 120.3119)
    # t0: in Shanghai at 60 → ETA t0+2h28 ≤ promised+15: on time
    assert at(*SH, t0, 60.0) == []
    # t0+60: still in Shanghai, crawling at 5 km/h (the t0 fix is outside the 30 min window)
    # → the 30 km/h floor → ETA t0+60+4h56: late
    assert at(*SH, t0 + minutes(60), 5.0) == ["delayed"]
    first = events(infra, waybill, "delayed")[0]["data"]
    assert first["reason"] == "slow_progress" and first["delay_minutes"] > 0 and first["vehicle_id"] == vid
    assert first["last_position"]["lat"] == SH[0] and first["destination"] == world.wx
    # the same position again: nothing more; 10 minutes later (ETA +10 min < step): nothing
    assert at(*SH, t0 + minutes(60), 5.0) == ["delayed"]
    assert at(*SH, t0 + minutes(70), 5.0) == ["delayed"]
    # 40 minutes after the notice: the ETA is 40 min worse (≥ step) but within the hour's rest: nothing
    assert at(*SH, t0 + minutes(100), 5.0) == ["delayed"]
    # 65 minutes after the notice, 65 min worse: the revised time is told
    assert at(*SH, t0 + minutes(125), 5.0) == ["delayed", "delayed"]
    second = events(infra, waybill, "delayed")[1]["data"]
    assert second["delay_minutes"] >= first["delay_minutes"] + 30
    # teleport-close to Wuxi at speed: back on time → recovered
    assert at(wx[0] + 0.05, wx[1] + 0.05, t0 + minutes(135), 90.0) == ["delayed", "delayed", "recovered"]
    # and on time stays quiet
    assert at(wx[0] + 0.02, wx[1] + 0.02, t0 + minutes(140), 90.0) == ["delayed", "delayed", "recovered"]
    shipment = api.get(f"/v1/shipments/{waybill}", headers=infra.headers("admin")).json()
    assert shipment["delayed"] is False and shipment["delay_minutes"] == 0 and shipment["delay_reason"] is None
    assert shipment["last_position"]["lat"] == pytest.approx(wx[0] + 0.02)
    # oldest first by the time things happened (registration is "now", the trace is in the past)
    kinds = [e["kind"] for e in shipment["timeline"]]
    assert kinds == ["scan", "delayed", "delayed", "recovered", "registered"]


def test_an_out_of_order_fix_does_not_change_the_delay_state(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    vid, _ = new_vehicle(api, infra)
    t0 = now() - minutes(60)
    waybill = register(api, infra, world, promised_at=now() + minutes(30), via=[])
    assert scan(api, infra, waybill, "departed", world.sh, t0, vid).status_code == 201
    assert post_positions(api, infra, [fix(vid, t0 + minutes(50), 31.45, 120.4, 80.0)]).status_code == 200
    assert events(infra, waybill, "delayed") == []
    # an older fix, far back in Shanghai and crawling, arrives late: ignored for the delay
    assert post_positions(api, infra, [fix(vid, t0 + minutes(10), *SH, 1.0)]).status_code == 200
    assert events(infra, waybill, "delayed") == []
    assert api.get(f"/v1/shipments/{waybill}", headers=infra.headers("admin")).json()["delayed"] is False


def test_stale_vehicle_is_reported_once_per_silence_and_its_cargo_re_evaluated(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    vid, _ = new_vehicle(api, infra)
    t0 = now() - minutes(100)
    waybill = register(api, infra, world, promised_at=now() + timedelta(hours=4), via=[])
    assert scan(api, infra, waybill, "departed", world.sh, t0, vid).status_code == 201
    assert post_positions(api, infra, [fix(vid, t0 + minutes(5), *SH, 70.0)]).status_code == 200
    assert events(infra, waybill, "delayed") == []
    admin = infra.headers("admin")

    def sweep(at: datetime) -> dict:  # type: ignore[type-arg]
        r = api.post("/v1/admin/stale-scan", params={"now": at.isoformat()}, headers=admin)
        assert r.status_code == 200, r.text
        return r.json()

    sweep(now())  # silent for 95 min: not yet
    assert events(infra, vid, "stale") == []
    later = t0 + minutes(5) + timedelta(hours=5)  # 5 h of silence; ETA from then on: late
    sweep(later)
    sweep(later + minutes(1))
    [stale] = events(infra, vid, "stale")
    assert stale["data"]["waybills"] == [waybill] and stale["data"]["silent_minutes"] == 300
    assert stale["data"]["carrier"] == "CARR1"
    [delayed] = events(infra, waybill, "delayed")
    assert delayed["data"]["reason"] == "no_signal"
    # a new fix (a new silence later) may be reported again
    assert post_positions(api, infra, [fix(vid, now() - minutes(1), *SH, 70.0)]).status_code == 200
    sweep(now() + timedelta(hours=3))
    assert len(events(infra, vid, "stale")) == 2
    r = api.post("/v1/admin/stale-scan", params={"now": "2026-01-01T08:00:00"}, headers=admin)
    assert r.status_code == 422
    assert api.post("/v1/admin/stale-scan", headers=infra.headers("staff")).status_code == 403
    assert api.post("/v1/admin/stale-scan", headers=admin).status_code == 200


def test_osmand_answered_by_the_protocol_and_by_fastapi_alike(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    """The usual /osmand request (query string, no body) is answered by the HTTP protocol itself
    while the group commit runs (`feeds.api.OSMAND_DIRECT`); the same fix as a JSON body takes
    FastAPI's route. Every outcome is the same answer, and both fixes are stored."""
    vid, dev = new_vehicle(api, infra)
    ts = int((now() - minutes(5)).timestamp())
    cases = [
        {"id": dev, "lat": 31.2, "lon": 121.4, "speed": 20.0},  # stored (a time of its own below)
        {"id": f"NOPE{unique()}", "lat": 31.2, "lon": 121.4, "timestamp": ts},
        {"id": dev, "lat": 95, "lon": 121.4, "timestamp": ts},
        {"lat": 31.2, "lon": 121.4, "timestamp": ts},
        {"id": dev, "lat": 31.2, "lon": 121.4, "timestamp": "2026-01-01T08:00:00"},
    ]
    for n, params in enumerate(cases):
        answers = []
        for way in ("direct", "fastapi"):
            sent = {**params, "timestamp": ts + 2 * n + (way == "fastapi")} if n == 0 else params
            r = api.get("/osmand", params=sent) if way == "direct" else api.post("/osmand", json=sent)
            answers.append((r.status_code, r.json()))
        assert answers[0] == answers[1], (params, answers)
    assert len(stored(infra, vid)) == 2
