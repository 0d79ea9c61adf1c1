"""The desk's screens on tracking's lists and reports (web-backend-needs.md items 1-5), over HTTP
against the real stack: the delayed list newest delay first with when it began, the waybill
map's track, open exceptions from tracking's list, notes written in the day's work report, the
daily volume with its downloads, and the reports index."""

from __future__ import annotations

import html
import io
import json
import re
from datetime import datetime

import httpx
import pytest
from openpyxl import load_workbook

from shared.clock import business_day
from tests.web.conftest import Desk, user
from tests.web.world import wait_for


def _csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m
    return m.group(1)


def _tracking(desk: Desk) -> httpx.Client:
    return desk.world.tracking


def test_the_workbench_lists_delays_newest_first_with_when_they_began(desk: Desk) -> None:
    late = desk.world.get(desk.late)
    assert late["delayed"] is True and late["delayed_since"]
    with desk.session(user(desk, "staff")) as c:
        page = wait_for(lambda: c.get("/desk/lists/delayed-list").text, lambda t: f'data-waybill="{desk.late}"' in t)
        row = page.split(f'data-waybill="{desk.late}"')[1].split("</li>")[0]
        assert 'data-testid="delayed-since"' in row
    # The list's order is tracking's: the newest delay first.
    with _tracking(desk) as t:
        items = t.get("/v1/shipments", headers=desk.world.headers("admin"),
                      params={"delayed": "true", "limit": 200}).json()["items"]
    since = [datetime.fromisoformat(s["delayed_since"]) for s in items if s["delayed_since"]]
    assert since == sorted(since, reverse=True) and desk.late in [s["waybill_no"] for s in items]


def test_the_waybill_map_draws_the_vehicles_track_since_departure(desk: Desk) -> None:
    with desk.session(user(desk, "staff")) as c:
        page = c.get(f"/desk/shipments/{desk.late}")
        assert page.status_code == 200
    raw = re.search(r'data-map="([^"]*)"', page.text)
    assert raw
    data = json.loads(html.unescape(raw.group(1)))
    # The world's drive out of Shanghai, oldest first (later tests may have added fixes after it).
    drawn = data["track"][:len(desk.track)]
    assert drawn == [[pytest.approx(lat), pytest.approx(lon)] for lat, lon in desk.track]
    assert data["position"]["label"] == desk.world.vehicle
    assert len(data["stations"]) == 3  # 上海 → 南京 → 无锡


def test_open_exceptions_come_from_trackings_list(desk: Desk) -> None:
    waybill = desk.world.shipment(70, promised_hours=72)
    with _tracking(desk) as t:
        r = t.post(f"/v1/shipments/{waybill}/exceptions", headers=desk.world.headers("admin"), json={
            "kind": "wet", "pieces": 2, "station": desk.world.codes["SH"], "description": "雨淋受潮"})
        assert r.status_code == 201, r.text
        exception_id = r.json()["id"]
    with desk.session(user(desk, "staff")) as c:
        box = c.get("/desk/lists/exceptions-open").text
        assert f'data-exception-id="{exception_id}"' in box
        row = box.split(f'data-exception-id="{exception_id}"')[1].split("</li>")[0]
        assert waybill in row
        page = c.get("/desk/exceptions").text
        listed = page.split('data-testid="open-exceptions"')[1].split("</table>")[0]
        assert f'data-exception-id="{exception_id}"' in listed
        r = c.post(f"/desk/exceptions/{exception_id}/resolve", data={"csrf": _csrf(page), "resolution": "已烘干"})
        assert r.status_code == 303
        assert f'data-exception-id="{exception_id}"' not in c.get("/desk/lists/exceptions-open").text


def test_the_days_work_counts_the_notes_each_person_wrote(desk: Desk) -> None:
    name = user(desk, "sup")
    with desk.session(name) as c:
        page = c.get(f"/desk/shipments/{desk.on_time}")
        for contact in ("南京站 王经理", "收货人 杨先生"):
            r = c.post(f"/desk/shipments/{desk.on_time}/notes", data={
                "contact": contact, "channel": "phone", "note": "已告知预计到达时间", "csrf": _csrf(page.text)})
            assert r.status_code == 303
        with _tracking(desk) as t:
            notes = t.get(f"/v1/shipments/{desk.on_time}/notes", headers=desk.world.headers("admin"),
                          params={"limit": 500}).json()["items"]
        mine = [n for n in notes if n["actor"] == f"supervisor:{name}"]
        days = {business_day(datetime.fromisoformat(n["recorded_at"])) for n in mine}
        for day in days:
            report = c.get("/desk/reports/daily-work", params={"date": day.isoformat()})
            assert report.status_code == 200
            assert 'data-missing="missing_notes"' not in report.text
            row = report.text.split(f'data-person="{name}"')[1].split("</tr>")[0]
            written = sum(1 for n in mine if business_day(datetime.fromisoformat(n["recorded_at"])) == day)
            assert re.search(rf'data-key="notes_written">{written}<', row), row
            sheet = c.get("/desk/reports/daily-work", params={"date": day.isoformat(), "format": "xlsx"})
            ws = load_workbook(io.BytesIO(sheet.content)).active
            header = [cell.value for cell in ws[1]]
            rows = {r[1]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)}
            assert rows[name]["追踪记录 notes written"] == written


def test_the_daily_volume_page_shows_trackings_numbers_with_downloads(desk: Desk) -> None:
    sh = desk.world.codes["SH"]
    day = business_day(datetime.fromisoformat(desk.world.get(desk.late)["registered_at"]))
    # What the world itself did at SH that business day (Beijing): the desk's waybills were all
    # registered there, two of them departed (one 65 minutes before its registration, so on the
    # day before when the world was made just after midnight).
    made = [desk.world.get(w) for w in (desk.late, desk.on_time, desk.gz, desk.other_customer)]
    registered = sum(business_day(datetime.fromisoformat(s["registered_at"])) == day for s in made)
    departed = sum(bool(s["departed_at"]) and business_day(datetime.fromisoformat(s["departed_at"])) == day
                   for s in made)
    with _tracking(desk) as t:
        truth = t.get("/v1/reports/daily-volume", headers=desk.world.headers("admin"),
                      params={"date": day.isoformat(), "station": sh}).json()
    [row] = truth["rows"]
    assert row["registered"]["shipments"] >= registered >= 1 and row["departed"]["shipments"] >= departed
    with desk.session(user(desk, "staff")) as c:
        page = c.get("/desk/reports/daily-volume", params={"date": day.isoformat(), "station": sh})
        assert page.status_code == 200 and 'data-testid="unavailable"' not in page.text
        table = page.text.split('data-testid="report"')[1].split("</table>")[0]
        assert table.count("<tr") == 2  # the header and the one station
        assert f'data-key="registered_shipments">{row["registered"]["shipments"]}<' in table
        assert f'data-key="departed_pieces">{row["departed"]["pieces"]}<' in table
        assert 'data-testid="download-csv"' in page.text and 'data-testid="station-filter"' in page.text
        csv = c.get("/desk/reports/daily-volume", params={"date": day.isoformat(), "station": sh, "format": "csv"})
        assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
        lines = csv.content.decode("utf-8-sig").splitlines()
        assert len(lines) == 2 and lines[1].startswith(f"{sh},{row['registered']['shipments']},")
        sheet = c.get("/desk/reports/daily-volume", params={"date": day.isoformat(), "format": "xlsx"})
        ws = load_workbook(io.BytesIO(sheet.content)).active
        stations = [r[0] for r in ws.iter_rows(min_row=2, values_only=True)]
        assert sh in stations


def test_the_reports_index_is_a_table_of_what_each_report_shows(desk: Desk) -> None:
    with desk.session(user(desk, "staff")) as c:
        page = c.get("/desk/reports").text
    table = page.split('data-testid="reports"')[1].split("</table>")[0]
    names = re.findall(r'data-report="([^"]+)"', table)
    assert names == ["daily-work", "daily-volume", "in-transit", "storage", "exceptions", "receipts-month",
                     "complaints-month"]
    assert "reportinfo_" not in table and "period_" not in table  # every report is described in words
    row = table.split('data-report="daily-volume"')[1].split("</tr>")[0]
    assert "每个站点当天登记、发车、到达、签收" in row
    for fmt in ("csv", "xlsx"):
        assert f'href="/desk/reports/daily-volume?format={fmt}"' in row
    assert 'href="/desk/reports/daily-volume"' in row
