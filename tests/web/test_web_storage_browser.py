"""Delivery appointments and the storage report in a real browser (headless chromium, offline):
booking a window from the waybill page, the station's day with the outside-window delivery
flagged, the 货物暂存报表 screen. Screenshots as in test_web_browser (LCS_SCREENSHOT_DIR)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.clock import earlier_today, today
from tests.web.conftest import Desk, user
from tests.web.test_web_browser import arrives, browser, shoot, sign_in, wait  # noqa: F401 - fixtures

selenium = pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402


def _tomorrow() -> str:
    """Tomorrow's business day (Beijing): computed once per test (later, it may be another day)."""
    return (today() + timedelta(days=1)).isoformat()


def _fill_date(driver: WebDriver, field: str, value: str) -> None:
    """A date or time input set as the browser's own picker would (typing into one depends on
    the locale's field order)."""
    element = driver.find_element(By.CSS_SELECTOR, f"[data-testid=appointment-form] [name={field}]")
    driver.execute_script("arguments[0].value = arguments[1]", element, value)


def test_booking_a_window_and_the_stations_day(browser: WebDriver, desk: Desk, shots: Path) -> None:  # noqa: F811
    waybill = desk.world.shipment(81, destination="GZ", promised_hours=72)
    delivered = desk.world.shipment(82, destination="GZ", promised_hours=72)
    day = _tomorrow()
    sign_in(browser, desk, user(desk, "staff"))
    for no, start, end, channel in ((waybill, "09:00", "12:00", "phone"), (delivered, "14:00", "17:30", "email")):
        browser.get(f"{desk.url}/desk/shipments/{no}")
        form = wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=appointment-form]")))
        _fill_date(browser, "day", day)
        _fill_date(browser, "start", start)
        _fill_date(browser, "end", end)
        Select(form.find_element(By.NAME, "channel")).select_by_value(channel)
        form.find_element(By.NAME, "note").send_keys("送货前请先电话联系")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        arrives(browser, "[data-testid=appointment] [data-outcome=pending]")
    browser.execute_script("document.getElementById('appointment').scrollIntoView()")
    shoot(browser, shots, "appointment")

    desk.world.deliver(delivered, at="GZ")  # signed now, before the window (on `day`)
    browser.get(f"{desk.url}/desk/appointments?station={desk.world.codes['GZ']}&date={day}")
    flag = wait(browser).until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, f"[data-testid=appointments] tr[data-waybill='{delivered}'][data-flagged=true]")))
    assert "未按约定时段送达" in flag.text
    assert browser.find_elements(By.CSS_SELECTOR,
                                 f"[data-testid=appointments] tr[data-waybill='{waybill}'][data-outcome=pending]")
    shoot(browser, shots, "appointments")


def test_the_storage_report_screen(browser: WebDriver, desk: Desk, shots: Path) -> None:  # noqa: F811
    gz = desk.world.codes["GZ"]
    arrived = earlier_today(5)
    day = _tomorrow()
    for n, pieces in ((83, 4), (84, None)):
        no = desk.world.shipment(n, destination="GZ", promised_hours=72)
        r = httpx.post(f"{desk.world.tracking_url}/v1/shipments/{no}/scans", headers=desk.world.headers("admin"),
                       timeout=10, json={"type": "arrived", "station": gz, "pieces": pieces,
                                         "at": arrived.isoformat()})
        assert r.status_code in (200, 201), r.text
        if pieces is None:  # the whole waybill arrived: the consignee books tomorrow morning
            start = datetime.fromisoformat(day + "T09:00:00+08:00")
            r = httpx.post(f"{desk.world.tracking_url}/v1/shipments/{no}/appointments",
                           headers=desk.world.headers("admin"), timeout=10,
                           json={"window_start": start.isoformat(),
                                 "window_end": (start + timedelta(hours=3)).isoformat(),
                                 "contact": "杨民敬", "channel": "phone", "note": None})
            assert r.status_code == 201, r.text
    sign_in(browser, desk, user(desk, "sup"))
    browser.get(f"{desk.url}/desk/reports")
    browser.find_element(By.CSS_SELECTOR, "a[href='/desk/reports/storage']").click()
    station = wait(browser).until(ec.presence_of_element_located((By.NAME, "station")))
    station.send_keys(gz)
    station.submit()
    wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=report] tr[data-waybill]")))
    assert "货物暂存报表" in browser.find_element(By.TAG_NAME, "h1").text
    assert browser.find_elements(By.CSS_SELECTOR, "[data-testid=download-xlsx]")
    shoot(browser, shots, "report-storage")
