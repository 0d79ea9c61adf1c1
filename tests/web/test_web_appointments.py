"""Delivery appointments and the storage report on the desk, over HTTP against the real stack:
booking from the waybill's page (CSRF, refusals kept with what was typed), the station's day
with outside-window deliveries flagged, the 货物暂存报表 screen and its downloads."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import httpx
from openpyxl import load_workbook

from shared.clock import business_day
from tests.support.clock import days_during, days_since, earlier_today, today
from tests.web.conftest import Desk, user


def _csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m
    return m.group(1)


def tomorrow() -> str:
    """Tomorrow's business day (Beijing). A test computes it once and uses that one value
    throughout: called again, it may name another day once Beijing's midnight has passed."""
    return (today() + timedelta(days=1)).isoformat()


def book(c: httpx.Client, waybill: str, **form: str) -> httpx.Response:
    page = c.get(f"/desk/shipments/{waybill}")
    data = {"day": tomorrow(), "start": "09:00", "end": "12:00", "contact": "杨民敬", "channel": "phone",
            "note": "到了先打电话", "csrf": _csrf(page.text)}
    data.update(form)
    return c.post(f"/desk/shipments/{waybill}/appointments", data=data)


def appointment_block(page: str) -> str:
    return page.split('data-testid="appointment"')[1].split("</section>")[0]


def test_booking_from_the_waybill_page(desk: Desk) -> None:
    waybill = desk.world.shipment(71, promised_hours=72)
    day = tomorrow()
    with desk.session(user(desk, "staff")) as c:
        page = c.get(f"/desk/shipments/{waybill}")
        assert 'data-testid="appointment-form"' in page.text and "尚未预约" in appointment_block(page.text)
        no_token = c.post(f"/desk/shipments/{waybill}/appointments",
                          data={"day": day, "start": "09:00", "end": "12:00", "contact": "x"})
        assert no_token.status_code == 403

        r = book(c, waybill, day=day)
        assert r.status_code == 303 and r.headers["location"] == f"/desk/shipments/{waybill}#appointment"
        block = appointment_block(c.get(f"/desk/shipments/{waybill}").text)
        assert 'data-outcome="pending"' in block and "09:00" in block and "到了先打电话" in block
        stored = desk.world.get(waybill)["appointment"]
        assert stored["window_start"].startswith(f"{day}T01:00:00")  # 09:00 Beijing
        assert stored["channel"] == "phone" and stored["booked_by"].startswith("staff:")

        # a new booking replaces it
        assert book(c, waybill, day=day, start="14:00", end="17:00", channel="email").status_code == 303
        assert desk.world.get(waybill)["appointment"]["channel"] == "email"


def test_a_refused_window_keeps_what_was_typed(desk: Desk) -> None:
    waybill = desk.world.shipment(72, promised_hours=72)
    with desk.session(user(desk, "staff")) as c:
        r = book(c, waybill, start="12:00", end="09:00", note="<b>后门</b>")
        assert r.status_code == 422
        error = r.text.split('data-testid="form-error"')[1].split("</p>")[0]
        assert "window_end_before_start" in error
        assert "&lt;b&gt;后门&lt;/b&gt;" in r.text and "<b>后门</b>" not in r.text
        r = book(c, waybill, day="明天")
        assert r.status_code == 422 and 'data-testid="form-error"' in r.text
        assert desk.world.get(waybill)["appointment"] is None


def test_the_days_appointments_flag_a_delivery_outside_the_window(desk: Desk) -> None:
    waybill = desk.world.shipment(73, destination="GZ", promised_hours=72)
    day = tomorrow()
    with desk.session(user(desk, "staff")) as c:
        assert book(c, waybill, day=day).status_code == 303
    desk.world.deliver(waybill, at="GZ")  # signed now: before the window (09:00 on `day`)
    gz = desk.world.codes["GZ"]
    with desk.session(user(desk, "gz")) as c:  # the GZ branch reads its own station's day
        page = c.get("/desk/appointments", params={"station": gz, "date": day})
        assert page.status_code == 200
        table = page.text.split('data-testid="appointments"')[1].split("</table>")[0]
        row = re.search(rf'<tr data-waybill="{waybill}"[^>]*>', table)
        assert row and 'data-outcome="outside_window"' in row.group(0) and 'data-flagged="true"' in row.group(0)
        shipment = c.get(f"/desk/shipments/{waybill}").text
        assert 'data-testid="outside-window"' in shipment


def test_the_storage_report_screen_and_its_downloads(desk: Desk) -> None:
    waybill = desk.world.shipment(74, destination="GZ", promised_hours=72)
    arrived = earlier_today(5)  # on today's business day: 0 days in storage today
    r = httpx.post(f"{desk.world.tracking_url}/v1/shipments/{waybill}/scans", headers=desk.world.headers("admin"),
                   timeout=10, json={"type": "arrived", "station": desk.world.codes["GZ"], "pieces": 4,
                                     "at": arrived.isoformat()})
    assert r.status_code in (200, 201), r.text
    gz = desk.world.codes["GZ"]
    with desk.session(user(desk, "sup")) as c:
        page, days = days_during(lambda: c.get("/desk/reports/storage", params={"station": gz}))
        assert page.status_code == 200, page.text[:2000]
        row = page.text.split(f'data-waybill="{waybill}"')[1].split("</tr>")[0]
        assert '<td data-key="pieces">4</td>' in row and '<td data-key="pieces_total">10</td>' in row
        # 0 on the day of arrival (1 only if Beijing's midnight passed since the scan)
        assert any(f'<td data-key="days_in_storage">{n}</td>' in row
                   for n in days_since(business_day(arrived), days)), row
        assert 'data-testid="download-csv"' in page.text

        csv = c.get("/desk/reports/storage", params={"station": gz, "format": "csv"})
        assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
        text = csv.content.decode("utf-8-sig")
        assert text.splitlines()[0].startswith("运单号 waybill") and waybill in text

        xlsx = c.get("/desk/reports/storage", params={"station": gz, "format": "xlsx"})
        ws = load_workbook(io.BytesIO(xlsx.content)).active
        header = [cell.value for cell in ws[1]]
        rows = {r[0]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)}
        assert rows[waybill]["到件 pieces"] == 4 and rows[waybill]["重量kg weight"] == 48.2
    with desk.session(user(desk, "gz")) as c:
        own = c.get("/desk/reports/storage")
        assert own.status_code == 200 and f'data-waybill="{waybill}"' in own.text
