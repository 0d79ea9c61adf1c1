"""The 08:00 in-transit check and the weekly exception summary, as JSON and as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from services.tracking.domain.exceptions import EXCEPTION_CSV_COLUMNS, business_week
from services.tracking.domain.reports import IN_TRANSIT_CSV_COLUMNS
from shared.devtools.stack import Stack
from tests.conftest import Infra
from tests.integration.tracking.test_tracking_desk_support import CITIES, desk
from tests.support.clock import days_awaiting


def read_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to show Chinese"
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


async def test_in_transit_report(stack: Stack, infra: Infra) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        moving, silent = await d.vehicle(), await d.vehicle()
        now = datetime.now(UTC)
        _, _, lat, lon = CITIES["SH"]
        await d.ok("POST", "/v1/positions", json={"positions": [
            {"vehicle_id": moving, "at": (now - timedelta(minutes=10)).isoformat(), "lat": lat, "lon": lon - 0.05,
             "speed_kmh": 70.0, "heading": 280.0},
            {"vehicle_id": silent, "at": (now - timedelta(hours=3)).isoformat(), "lat": lat, "lon": lon,
             "speed_kmh": 0.0, "heading": 0.0}]})
        fragile = await d.shipment(origin, dest, fragile=True, keep_upright=True)
        dangerous = await d.shipment(origin, dest, dangerous=True, moisture_sensitive=True)
        plain = await d.shipment(origin, dest)
        await d.scan(fragile, "departed", origin, now - timedelta(minutes=30), vehicle_id=moving)
        await d.scan(dangerous, "departed", origin, now - timedelta(minutes=30), vehicle_id=moving)
        await d.scan(plain, "departed", origin, now - timedelta(hours=4), vehicle_id=silent)

        report = await d.ok("GET", "/v1/reports/in-transit", params={"as_of": now.isoformat()})
        rows = {v["vehicle_id"]: v for v in report["vehicles"] if v["vehicle_id"] in (moving, silent)}
        assert set(rows) == {moving, silent}
        ids = [v["vehicle_id"] for v in report["vehicles"]]
        assert ids.index(silent) < ids.index(moving), "stale vehicles come first"
        m = rows[moving]
        assert m["stale"] is False and m["fix_age_minutes"] == 10
        assert m["last_position"]["speed_kmh"] == 70.0 and m["last_position"]["heading"] == 280.0
        assert m["driver_phone"] == "137****0000"
        assert m["handling_flags"] == ["dangerous", "fragile", "keep_upright", "moisture_sensitive"]
        on_board = {s["waybill_no"]: s for s in m["shipments"]}
        assert set(on_board) == {fragile, dangerous}
        assert on_board[fragile]["handling_flags"] == ["fragile", "keep_upright"]
        assert on_board[fragile]["handling"] == "易碎、不能倒放"
        s = rows[silent]
        assert s["stale"] is True and s["fix_age_minutes"] >= 180
        assert [x["waybill_no"] for x in s["shipments"]] == [plain] and s["handling_flags"] == []

        # A branch sees only what touches its station.
        other = await d.station("NJ")
        theirs = await d.ok("GET", "/v1/reports/in-transit", headers=d.branch(other))
        assert not {v["vehicle_id"] for v in theirs["vehicles"]} & {moving, silent}
        mine = await d.ok("GET", "/v1/reports/in-transit", headers=d.branch(dest))
        assert {v["vehicle_id"] for v in mine["vehicles"]} == {moving, silent}

        r = await d.c.get("/v1/reports/in-transit", headers={**d.admin, "Accept": "text/csv"},
                          params={"as_of": now.isoformat()})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        assert r.content.decode("utf-8-sig").splitlines()[0] == ",".join(IN_TRANSIT_CSV_COLUMNS)
        lines = {row["waybill_no"]: row for row in read_csv(r.content)}
        assert lines[fragile]["vehicle_id"] == moving and lines[fragile]["handling"] == "易碎、不能倒放"
        assert lines[dangerous]["dangerous"] == "true" and lines[plain]["stale"] == "true"
        assert "13700000000" not in r.text

        r = await d.c.get("/v1/reports/in-transit", headers=d.admin, params={"as_of": "2026-01-01T08:00:00"})
        assert r.status_code == 422


async def test_exception_summary(stack: Stack, infra: Infra) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        a = await d.arrived(origin, dest)
        b = await d.arrived(origin, dest)
        at_dest: list[datetime] = []  # when the service recorded each exception at `dest`
        for no, station, kind, pieces in [(a, dest, "damage", 2), (b, dest, "damage", 1), (b, dest, "shortage", 3),
                                          (a, origin, "wet", 1)]:
            made = await d.ok("POST", f"/v1/shipments/{no}/exceptions", 201,
                              json={"kind": kind, "pieces": pieces, "station": station, "description": "到站验货发现"})
            if station == dest:
                at_dest.append(datetime.fromisoformat(made["reported_at"]))
        exc = await d.ok("POST", f"/v1/shipments/{a}/exceptions", 201,
                         json={"kind": "mismatch", "pieces": 1, "station": dest, "description": "运单与货物不符"})
        at_dest.append(datetime.fromisoformat(exc["reported_at"]))
        await d.ok("POST", f"/v1/exceptions/{exc['id']}/resolve")

        now = datetime.now(UTC)
        period = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}
        summary = await d.ok("GET", "/v1/reports/exceptions", params=period)
        assert summary["from"] and summary["to"]
        rows = {(r["station"], r["kind"]): r for r in summary["rows"] if r["station"] in (origin, dest)}
        assert rows[(dest, "damage")]["count"] == 2 and rows[(dest, "damage")]["pieces"] == 3
        assert rows[(dest, "damage")]["waybills"] == sorted([a, b])
        assert rows[(dest, "shortage")]["count"] == 1
        assert rows[(origin, "wet")]["open_at_end"] == 1
        assert rows[(dest, "mismatch")]["open_at_end"] == 0
        assert summary["by_station"][dest] == 4 and summary["by_station"][origin] == 1
        assert summary["total"] >= 5

        # The default period is the current business week (Beijing, Monday to Monday), as the
        # service reads it when it answers; the exceptions just reported are in it, unless the
        # week turned (Sunday's midnight, Beijing) since.
        week, days = await days_awaiting(d.ok("GET", "/v1/reports/exceptions"))
        start, end = datetime.fromisoformat(week["from"]), datetime.fromisoformat(week["to"])
        assert (start, end) in {business_week(day) for day in days}, week
        assert week["by_station"].get(dest) == (sum(start <= t < end for t in at_dest) or None)

        other = await d.station("NJ")
        theirs = await d.ok("GET", "/v1/reports/exceptions", headers=d.branch(other), params=period)
        assert theirs["total"] == 0 and theirs["rows"] == []
        mine = await d.ok("GET", "/v1/reports/exceptions", headers=d.branch(dest), params=period)
        assert mine["by_station"] == {dest: 4, origin: 1}

        r = await d.c.get("/v1/reports/exceptions", headers={**d.admin, "Accept": "text/csv"}, params=period)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert r.content.decode("utf-8-sig").splitlines()[0] == ",".join(EXCEPTION_CSV_COLUMNS)
        lines = {(row["station"], row["kind"]): row for row in read_csv(r.content)}
        assert lines[(dest, "damage")]["count"] == "2"
        assert lines[(dest, "damage")]["waybills"] == "|".join(sorted([a, b]))

        for params in ({"from": period["to"], "to": period["from"]},
                       {"from": "2026-01-01T00:00:00", "to": period["to"]},
                       {"from": "2020-01-01T00:00:00+08:00", "to": "2026-01-01T00:00:00+08:00"},
                       {"from": "yesterday"}):
            r = await d.c.get("/v1/reports/exceptions", headers=d.admin, params=params)
            assert r.status_code == 422, (params, r.text)
        r = await d.c.get("/v1/reports/exceptions", headers=infra.headers("carrier", carrier="C1"))
        assert r.status_code == 403
