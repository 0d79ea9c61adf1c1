"""Tracking's reports as the desk's spreadsheets (`shared.tabular`): CSV with a BOM and formulas
neutralised, XLSX with typed cells and a frozen header, 406 for a form it does not serve; and a
report period given as calendar days is the same period as the instants it means."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.clock import BUSINESS_TZ, business_day, day_start
from shared.devtools.stack import Stack
from tests.conftest import Infra, unique
from tests.integration.tracking.test_tracking_desk_support import desk
from tests.support.sheets import CSV_ACCEPT, XLSX_ACCEPT, assert_not_acceptable, csv_rows, xlsx_rows


async def test_in_transit_report_as_csv_and_xlsx(stack: Stack, infra: Infra) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        vehicle = unique("VX")
        await d.ok("PUT", f"/v1/vehicles/{vehicle}", (200, 201), json={
            "plate": "=1+1", "carrier": "CARRIER1", "driver_name": "@SUM(A1)", "driver_phone": "13700000000"})
        now = datetime.now(UTC)
        await d.ok("POST", "/v1/positions", json={"positions": [
            {"vehicle_id": vehicle, "at": (now - timedelta(minutes=10)).isoformat(), "lat": 31.2, "lon": 121.45,
             "speed_kmh": 62.5, "heading": 90.0}]})
        no = await d.shipment(origin, dest, fragile=True)
        await d.scan(no, "departed", origin, now - timedelta(minutes=30), vehicle_id=vehicle)
        params = {"as_of": now.isoformat()}

        rows = {row["waybill_no"]: row for row in csv_rows(
            await d.c.get("/v1/reports/in-transit", headers={**d.admin, **CSV_ACCEPT}, params=params))}
        line = rows[no]
        assert line["plate"] == "'=1+1" and line["driver_name"] == "'@SUM(A1)"
        assert line["fix_age_minutes"] == "10" and line["fragile"] == "true" and line["handling"] == "易碎"

        header, cells, _ = xlsx_rows(
            await d.c.get("/v1/reports/in-transit", headers={**d.admin, **XLSX_ACCEPT}, params=params))
        assert header[:2] == ["vehicle_id", "plate"]
        row = next(r for r in cells if r["waybill_no"].value == no)
        assert row["plate"].data_type == "s" and row["plate"].value == "'=1+1"  # text, never a formula
        assert row["driver_name"].data_type == "s" and row["driver_name"].value == "'@SUM(A1)"
        assert row["fix_age_minutes"].value == 10 and row["fix_age_minutes"].data_type == "n"
        assert row["speed_kmh"].value == 62.5 and row["lat"].value == 31.2
        assert row["fragile"].value is True and row["stale"].value is False
        promised = row["promised_at"].value
        assert isinstance(promised, datetime) and row["promised_at"].is_date
        shipment = await d.ok("GET", f"/v1/shipments/{no}")
        expected = datetime.fromisoformat(shipment["promised_at"]).astimezone(BUSINESS_TZ).replace(
            tzinfo=None, microsecond=0)
        assert promised.replace(microsecond=0) == expected  # Beijing time
        assert row["eta"].value is None or isinstance(row["eta"].value, datetime)

        assert_not_acceptable(await d.c.get("/v1/reports/in-transit", headers={**d.admin, "Accept": "text/html"}))


async def test_exception_summary_as_csv_and_xlsx_and_by_calendar_days(stack: Stack, infra: Infra) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        # A waybill number may start with "-": the sheet's waybills cell must not become a formula.
        no = "-" + unique("X")
        now = datetime.now(UTC)
        await d.ok("POST", "/v1/shipments", 201, json={
            "waybill_no": no, "origin": origin, "destination": dest, "via": [],
            "shipper": {"customer_id": "C100", "name": "无锡精工", "phone": "13800000000"},
            "consignee": {"name": "杨民敬", "phone": "13900000000"}, "cargo": {"description": "轴承", "pieces": 4},
            "promised_at": (now + timedelta(days=2)).isoformat(), "payment": "prepaid"})
        await d.scan(no, "departed", origin, now - timedelta(hours=3))
        await d.scan(no, "arrived", dest, now - timedelta(hours=1))
        exc = await d.ok("POST", f"/v1/shipments/{no}/exceptions", 201,
                         json={"kind": "damage", "pieces": 2, "station": dest, "description": "外箱破损"})

        # The business day the exception was reported on, as the service stamped it (`now`, taken
        # before registering, is the day before if Beijing's midnight passed in between).
        today = business_day(datetime.fromisoformat(exc["reported_at"]))
        by_day = {"from": today.isoformat(), "to": today.isoformat()}
        by_instant = {"from": day_start(today).isoformat(), "to": day_start(today + timedelta(days=1)).isoformat()}
        days = await d.ok("GET", "/v1/reports/exceptions", params=by_day)
        instants = await d.ok("GET", "/v1/reports/exceptions", params=by_instant)
        assert days == instants  # the same period, the same rows
        assert datetime.fromisoformat(days["from"]) == day_start(today)
        assert datetime.fromisoformat(days["to"]) == day_start(today + timedelta(days=1))
        assert [r for r in days["rows"] if r["station"] == dest] == [
            {"station": dest, "kind": "damage", "count": 1, "pieces": 2, "open_at_end": 1, "waybills": [no]}]
        # one day given: the 7 days from it (or up to it, `to` inclusive)
        week = await d.ok("GET", "/v1/reports/exceptions", params={"from": today.isoformat()})
        assert datetime.fromisoformat(week["to"]) - datetime.fromisoformat(week["from"]) == timedelta(days=7)
        week = await d.ok("GET", "/v1/reports/exceptions", params={"to": today.isoformat()})
        assert datetime.fromisoformat(week["to"]) == day_start(today + timedelta(days=1))
        # yesterday's period, as days, does not hold today's exception
        yesterday = (today - timedelta(days=1)).isoformat()
        before = await d.ok("GET", "/v1/reports/exceptions", params={"from": yesterday, "to": yesterday})
        assert not [r for r in before["rows"] if r["station"] == dest]

        lines = {(r["station"], r["kind"]): r for r in csv_rows(
            await d.c.get("/v1/reports/exceptions", headers={**d.admin, **CSV_ACCEPT}, params=by_day))}
        assert lines[(dest, "damage")]["waybills"] == "'" + no and lines[(dest, "damage")]["pieces"] == "2"

        header, cells, _ = xlsx_rows(
            await d.c.get("/v1/reports/exceptions", headers={**d.admin, **XLSX_ACCEPT}, params=by_day))
        assert header == ["station", "kind", "count", "pieces", "open_at_end", "waybills"]
        row = next(r for r in cells if r["station"].value == dest)
        assert row["count"].value == 1 and row["pieces"].value == 2 and row["pieces"].data_type == "n"
        assert row["waybills"].data_type == "s" and row["waybills"].value == "'" + no

        for params in ({"from": "2026-12-01T00:00:00", "to": today.isoformat()}, {"from": "1969-12-31"},
                       {"to": "3000-01-01"}, {"from": "2026-12-08", "to": "2026-12-01"}, {"from": "2026-02-30"}):
            r = await d.c.get("/v1/reports/exceptions", headers=d.admin, params=params)
            assert r.status_code == 422, (params, r.text)
            assert r.json()["error"]["code"] in ("validation_error", "invalid_period")
        assert_not_acceptable(await d.c.get("/v1/reports/exceptions",
                                            headers={**d.admin, "Accept": "application/xml"}, params=by_day))
