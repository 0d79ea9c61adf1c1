"""What the desk's screens read from tracking (docs/services/web-backend-needs.md, items 1-5):
when a delay began and the delayed list newest delay first, a vehicle's recent track, the list
of exceptions, the notes written per person and day, the daily volume — each with its scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from shared.clock import business_day
from shared.devtools.stack import Stack
from tests.conftest import Infra, unique
from tests.integration.tracking import core_support as core
from tests.integration.tracking.core_support import World, fix, minutes, now
from tests.integration.tracking.test_tracking_desk_support import desk, resident_id
from tests.support.sheets import CSV_ACCEPT, XLSX_ACCEPT, assert_not_acceptable, csv_rows, xlsx_rows

SH = (31.2304, 121.4737)
WX = (31.4912, 120.3119)


def delayed_page(api: httpx.Client, infra: Infra, station: str, **params: Any) -> dict[str, Any]:
    r = api.get("/v1/shipments", headers=infra.headers("admin"),
                params={"delayed": "true", "station": station, **params})
    assert r.status_code == 200, r.text
    page: dict[str, Any] = r.json()
    return page


# --- 1. delayed_since -------------------------------------------------------------------------


def test_delayed_since_is_the_first_detection_kept_while_late_and_cleared_on_recovery(  # type: ignore[no-untyped-def]
        api, infra: Infra) -> None:
    """SH → WX, 148 km of road: a truck in Shanghai 5 minutes before the promised time is late."""
    world: World = core.make_world(api, infra)
    promised = now() + minutes(5)
    t0 = now() - minutes(60)
    first_vid, second_vid = core.new_vehicle(api, infra)[0], core.new_vehicle(api, infra)[0]
    first = core.register(api, infra, world, promised_at=promised, via=[])
    second = core.register(api, infra, world, promised_at=promised, via=[])
    on_time = core.register(api, infra, world, promised_at=promised + timedelta(days=1), via=[])
    for waybill, vid in ((first, first_vid), (second, second_vid), (on_time, core.new_vehicle(api, infra)[0])):
        assert core.scan(api, infra, waybill, "departed", world.sh, t0, vid).status_code == 201

    detected = t0 + minutes(10)
    assert core.post_positions(api, infra, [fix(first_vid, detected, *SH, 60.0)]).status_code == 200
    shipment = api.get(f"/v1/shipments/{first}", headers=infra.headers("admin")).json()
    assert shipment["delayed"] is True
    assert datetime.fromisoformat(shipment["delayed_since"]) == detected
    # Still late at a later fix: the delay began when it was first detected.
    assert core.post_positions(api, infra, [fix(first_vid, detected + minutes(5), *SH, 50.0)]).status_code == 200
    shipment = api.get(f"/v1/shipments/{first}", headers=infra.headers("admin")).json()
    assert shipment["delayed"] is True and datetime.fromisoformat(shipment["delayed_since"]) == detected

    later = t0 + minutes(30)
    assert core.post_positions(api, infra, [fix(second_vid, later, *SH, 60.0)]).status_code == 200

    # Newest delay first, also through the cursor; the summary carries the time too.
    page = delayed_page(api, infra, world.sh)
    assert [s["waybill_no"] for s in page["items"]] == [second, first]
    assert datetime.fromisoformat(page["items"][0]["delayed_since"]) == later
    one = delayed_page(api, infra, world.sh, limit=1)
    assert [s["waybill_no"] for s in one["items"]] == [second] and one["next_cursor"]
    rest = delayed_page(api, infra, world.sh, limit=1, cursor=one["next_cursor"])
    assert [s["waybill_no"] for s in rest["items"]] == [first]
    assert rest["next_cursor"] is None
    # The on-time one is in no delayed list, and has no time.
    plain = api.get(f"/v1/shipments/{on_time}", headers=infra.headers("admin")).json()
    assert plain["delayed"] is False and plain["delayed_since"] is None
    # A forged cursor is a 422, not a 500.
    r = api.get("/v1/shipments", headers=infra.headers("admin"),
                params={"delayed": "true", "cursor": "WyJub3QtYS10aW1lIiwgIngiXQ"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_cursor"

    # Recovered: the time is cleared, and it leaves the delayed list.
    assert core.post_positions(api, infra, [fix(first_vid, detected + minutes(20), WX[0] + 0.01, WX[1] + 0.01,
                                                 90.0)]).status_code == 200
    shipment = api.get(f"/v1/shipments/{first}", headers=infra.headers("admin")).json()
    assert shipment["delayed"] is False and shipment["delayed_since"] is None
    assert [s["waybill_no"] for s in delayed_page(api, infra, world.sh)["items"]] == [second]
    # A branch not on the route sees none of them.
    other = core.make_world(api, infra)
    r = api.get("/v1/shipments", headers=infra.headers("branch", branch=other.sh),
                params={"delayed": "true", "station": world.sh})
    assert r.status_code == 200 and r.json()["items"] == []


# --- 2. the vehicle's track -------------------------------------------------------------------


def test_vehicle_track_oldest_first_sampled_scoped(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    world: World = core.make_world(api, infra)
    vid, _ = core.new_vehicle(api, infra, carrier="CARR1")
    waybill = core.register(api, infra, world, promised_at=now() + timedelta(days=1), via=[])
    t0 = now() - minutes(60)
    assert core.scan(api, infra, waybill, "departed", world.sh, t0, vid).status_code == 201
    # Every 5 minutes, and a fix 10 s after one (the one-a-minute sampling passes over it).
    times = [t0 + minutes(5 * i) for i in range(8)]
    fixes = [fix(vid, t, SH[0] + 0.01 * i, SH[1] - 0.02 * i, 50.0 + i) for i, t in enumerate(times)]
    fixes.append(fix(vid, times[2] + timedelta(seconds=10), 0.0 + SH[0], SH[1], 1.0))
    assert core.post_positions(api, infra, fixes).status_code == 200

    r = api.get(f"/v1/vehicles/{vid}/track", headers=infra.headers("staff"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["vehicle_id"] == vid
    assert [datetime.fromisoformat(p["at"]) for p in body["points"]] == times
    assert body["points"][3] == {"at": body["points"][3]["at"], "lat": pytest.approx(SH[0] + 0.03),
                                 "lon": pytest.approx(SH[1] - 0.06), "speed_kmh": 53.0}
    # since: from then on; limit: the newest, still oldest first.
    since = api.get(f"/v1/vehicles/{vid}/track", headers=infra.headers("staff"),
                    params={"since": times[5].isoformat()}).json()
    assert [datetime.fromisoformat(p["at"]) for p in since["points"]] == times[5:]
    newest = api.get(f"/v1/vehicles/{vid}/track", headers=infra.headers("staff"), params={"limit": 3}).json()
    assert [datetime.fromisoformat(p["at"]) for p in newest["points"]] == times[-3:]

    # A newest fix that the sampling passes over is still the track's last point.
    last = times[-1] + timedelta(seconds=20)
    assert core.post_positions(api, infra, [fix(vid, last, 31.5, 121.0, 40.0)]).status_code == 200
    points = api.get(f"/v1/vehicles/{vid}/track", headers=infra.headers("staff")).json()["points"]
    assert datetime.fromisoformat(points[-1]["at"]) == last and len(points) == len(times) + 1

    # Scope: a branch on the route of a shipment on board, its own carrier; nobody else.
    assert api.get(f"/v1/vehicles/{vid}/track", headers=infra.headers("branch", branch=world.wx)).status_code == 200
    other = core.make_world(api, infra)
    assert api.get(f"/v1/vehicles/{vid}/track",
                   headers=infra.headers("branch", branch=other.sh)).status_code == 404
    assert api.get(f"/v1/vehicles/{vid}/track", headers=infra.headers("carrier", carrier="CARR1")).status_code == 200
    assert api.get(f"/v1/vehicles/{vid}/track", headers=infra.headers("carrier", carrier="CARR2")).status_code == 404
    assert api.get(f"/v1/vehicles/V{unique()}/track", headers=infra.headers("staff")).status_code == 404
    # Bad input: a naive time, a limit out of range.
    for params in ({"since": "2026-01-01T00:00:00"}, {"since": "0001-01-01T00:00:00+14:00"}, {"limit": 0},
                   {"limit": 100_000}):
        assert api.get(f"/v1/vehicles/{vid}/track", headers=infra.headers("staff"),
                       params=params).status_code == 422
    # A vehicle that never reported has nothing to draw.
    quiet, _ = core.new_vehicle(api, infra)
    assert api.get(f"/v1/vehicles/{quiet}/track", headers=infra.headers("staff")).json()["points"] == []


# --- 3. the list of exceptions -----------------------------------------------------------------


async def test_exceptions_listed_newest_first_by_status_and_scope(stack: Stack, infra: Infra) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        first, second = await d.shipment(origin, dest), await d.shipment(origin, dest)
        ids = []
        for no, kind in ((first, "damage"), (second, "wet"), (first, "shortage")):
            made = await d.ok("POST", f"/v1/shipments/{no}/exceptions", 201, json={
                "kind": kind, "pieces": 1, "station": origin, "description": "外包装破损"})
            ids.append(made["id"])
        await d.ok("POST", f"/v1/exceptions/{ids[1]}/resolve", json={"resolution": "已赔付"})

        def listed(page: dict[str, Any]) -> list[str]:
            return [x["id"] for x in page["items"]]

        everything = await d.ok("GET", "/v1/exceptions", params={"station": origin})
        assert listed(everything) == ids[::-1]
        open_ = await d.ok("GET", "/v1/exceptions", params={"station": origin, "status": "open"})
        assert listed(open_) == [ids[2], ids[0]]
        assert {x["status"] for x in open_["items"]} == {"open"}
        resolved = await d.ok("GET", "/v1/exceptions", params={"station": origin, "status": "resolved"})
        assert listed(resolved) == [ids[1]] and resolved["items"][0]["resolution"] == "已赔付"
        # The cursor walks the same order.
        page = await d.ok("GET", "/v1/exceptions", params={"station": origin, "status": "open", "limit": 1})
        assert listed(page) == [ids[2]] and page["next_cursor"]
        page = await d.ok("GET", "/v1/exceptions", params={"station": origin, "status": "open", "limit": 1,
                                                            "cursor": page["next_cursor"]})
        assert listed(page) == [ids[0]]
        # A branch on the route (the destination) sees them; a branch elsewhere sees none.
        assert listed(await d.ok("GET", "/v1/exceptions", headers=d.branch(dest),
                                 params={"station": origin, "status": "open"})) == [ids[2], ids[0]]
        other = await d.station("NJ")
        assert (await d.ok("GET", "/v1/exceptions", headers=d.branch(other),
                           params={"station": origin}))["items"] == []
        # Bad input.
        for params in ({"status": "pending"}, {"cursor": "not-a-cursor"}, {"station": "bad code!"}):
            r = await d.c.get("/v1/exceptions", headers=d.admin, params=params)
            assert r.status_code == 422, (params, r.text)
        r = await d.c.get("/v1/exceptions", headers=infra.headers("carrier", carrier="CARR1"))
        assert r.status_code == 403


# --- 4. notes per person and day -------------------------------------------------------------


async def test_notes_written_per_person_on_a_business_day(stack: Stack, infra: Infra) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        first, second = await d.shipment(origin, dest), await d.shipment(origin, dest)
        who = unique("xiaoli")
        staff = infra.headers("staff", sub=who)
        at = datetime.now(UTC) - timedelta(hours=1)
        recorded = []
        for no in (first, first, second):
            made = await d.ok("POST", f"/v1/shipments/{no}/notes", 201, headers=staff, json={
                "at": at.isoformat(), "contact": "张经理", "channel": "phone", "note": "已告知客户"})
            recorded.append(datetime.fromisoformat(made["recorded_at"]))
        days = {business_day(t) for t in recorded}
        for day in days:
            report = await d.ok("GET", "/v1/reports/notes", params={"date": day.isoformat()})
            assert report["date"] == day.isoformat()
            mine = [r for r in report["rows"] if r["actor"] == f"staff:{who}"]
            expected = [t for t in recorded if business_day(t) == day]
            assert mine == [{"actor": f"staff:{who}", "notes": len(expected),
                             "waybills": len({no for no, t in zip((first, first, second), recorded, strict=True)
                                              if business_day(t) == day})}]
        # The same rows as a sheet (shared.tabular), typed.
        day = min(days)
        sheet = await d.c.get("/v1/reports/notes", headers={**d.admin, **CSV_ACCEPT}, params={"date": day.isoformat()})
        line = next(r for r in csv_rows(sheet) if r["actor"] == f"staff:{who}")
        assert int(line["notes"]) == sum(1 for t in recorded if business_day(t) == day)
        header, cells, _ = xlsx_rows(await d.c.get("/v1/reports/notes", headers={**d.admin, **XLSX_ACCEPT},
                                                   params={"date": day.isoformat()}))
        assert header == ["actor", "notes", "waybills"]
        assert next(r for r in cells if r["actor"].value == f"staff:{who}")["notes"].data_type == "n"
        # Another day has none of them.
        away = min(days) - timedelta(days=3)
        report = await d.ok("GET", "/v1/reports/notes", params={"date": away.isoformat()})
        assert all(r["actor"] != f"staff:{who}" for r in report["rows"])
        # Desk roles only; a day is a date.
        r = await d.c.get("/v1/reports/notes", headers=d.branch(origin), params={"date": away.isoformat()})
        assert r.status_code == 403
        for bad in ("2026-13-01", "9999-12-31", "0001-01-01"):
            r = await d.c.get("/v1/reports/notes", headers=d.admin, params={"date": bad})
            assert r.status_code == 422, (bad, r.text)


# --- 5. the daily volume -------------------------------------------------------------------


async def test_daily_volume_per_station_and_stage(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        whole = await d.shipment(origin, dest, pieces=10)
        part = await d.shipment(origin, dest, pieces=10)
        registered = await db.fetchval("SELECT max(registered_at) FROM tracking.shipments WHERE waybill_no = ANY($1)",
                                       [whole, part])
        # Every movement on one business day (the registration's, unless it was within seconds of midnight).
        base = registered if business_day(registered + timedelta(seconds=5)) == business_day(registered) \
            else registered - timedelta(seconds=5)
        day = business_day(base)
        assert day == business_day(registered)

        def t(seconds: float) -> datetime:
            return base + timedelta(seconds=seconds)

        await d.scan(whole, "departed", origin, t(1))
        await d.scan(part, "departed", origin, t(1))
        await d.scan(whole, "arrived", dest, t(2), pieces=4)
        await d.scan(whole, "arrived", dest, t(3), pieces=6)
        await d.scan(part, "arrived", dest, t(3), pieces=3)
        await d.ok("POST", f"/v1/shipments/{whole}/delivery", 201, json={
            "signed_at": t(4).isoformat(), "signer_name": "杨民敬", "signer_id_type": "id_card",
            "signer_id_number": resident_id(), "delegate": None, "company_stamp": False, "pieces": 10})

        report = await d.ok("GET", "/v1/reports/daily-volume", params={"date": day.isoformat()})
        rows = {r["station"]: r for r in report["rows"]}
        assert report["date"] == day.isoformat()
        zero = {"shipments": 0, "pieces": 0, "weight_kg": 0.0, "volume_m3": 0.0}
        assert rows[origin] == {"station": origin, "arrived": zero, "delivered": zero,
                                "registered": {"shipments": 2, "pieces": 20, "weight_kg": 241.0, "volume_m3": 2.4},
                                "departed": {"shipments": 2, "pieces": 20, "weight_kg": 241.0, "volume_m3": 2.4}}
        # Arrived: one whole waybill in two batches, 3 of 10 pieces of the other (their share of its weight).
        assert rows[dest] == {"station": dest, "registered": zero, "departed": zero,
                              "arrived": {"shipments": 2, "pieces": 13, "weight_kg": pytest.approx(156.65),
                                          "volume_m3": pytest.approx(1.56)},
                              "delivered": {"shipments": 1, "pieces": 10, "weight_kg": 120.5, "volume_m3": 1.2}}
        # One station; a branch sees its own station's row only.
        only = await d.ok("GET", "/v1/reports/daily-volume", params={"date": day.isoformat(), "station": dest})
        assert [r["station"] for r in only["rows"]] == [dest]
        mine = await d.ok("GET", "/v1/reports/daily-volume", headers=d.branch(dest), params={"date": day.isoformat()})
        assert [r["station"] for r in mine["rows"]] == [dest]
        theirs = await d.ok("GET", "/v1/reports/daily-volume", headers=d.branch(dest),
                            params={"date": day.isoformat(), "station": origin})
        assert theirs["rows"] == []
        # Another day: none of it.
        other_day = await d.ok("GET", "/v1/reports/daily-volume",
                               params={"date": (day - timedelta(days=2)).isoformat(), "station": origin})
        assert other_day["rows"] == []

        # CSV and XLSX (shared.tabular): the same numbers, one line per station, typed cells.
        r = await d.c.get("/v1/reports/daily-volume", headers={**d.admin, **CSV_ACCEPT},
                          params={"date": day.isoformat(), "station": dest})
        assert r.content.startswith("\ufeff".encode())
        lines = csv_rows(r)
        assert len(lines) == 1 and lines[0]["station"] == dest
        assert lines[0]["arrived_pieces"] == "13" and lines[0]["delivered_weight_kg"] == "120.5"
        assert lines[0]["registered_shipments"] == "0"
        header, cells, _ = xlsx_rows(await d.c.get("/v1/reports/daily-volume", headers={**d.admin, **XLSX_ACCEPT},
                                                   params={"date": day.isoformat(), "station": dest}))
        assert header[:3] == ["station", "registered_shipments", "registered_pieces"]
        [cell] = cells
        assert cell["arrived_pieces"].value == 13 and cell["arrived_weight_kg"].value == pytest.approx(156.65)
        assert_not_acceptable(await d.c.get("/v1/reports/daily-volume", headers={**d.admin, "Accept": "text/html"},
                                            params={"date": day.isoformat()}))

        for params in ({"date": "yesterday"}, {"station": "bad code!"}, {"date": "9999-12-31"}, {"date": "0001-01-01"}):
            r = await d.c.get("/v1/reports/daily-volume", headers=d.admin, params=params)
            assert r.status_code == 422, (params, r.text)
        r = await d.c.get("/v1/reports/daily-volume", headers=infra.headers("carrier", carrier="CARR1"))
        assert r.status_code == 403
