"""The key-account portal in a real browser (Debian chromium + chromium-driver, headless,
offline), as a customer uses it: the storage report and its Excel file, the daily arrival
list, a delivery appointment, on a desk-sized screen and on a phone.

Waits are on observables only. Until the backends offer a part (customer tokens, the storage
report, appointments), the test checks that the page says it is unavailable instead.
Screenshots go to $LCS_SCREENSHOT_DIR when set (the docs' images are made that way).
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook

from tests.support.clock import days_during, days_since, today
from tests.web.conftest import Desk, chromium, csp_violations, requests_sent, user
from tests.web.test_web_browser import fit_a_phone, shoot, wait
from tests.web.world import wait_for

selenium = pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402


@pytest.fixture(scope="module")
def downloads() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="lcs-downloads-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Iterator[WebDriver]:
    with chromium(downloads=downloads) as driver:
        yield driver




def sign_in_customer(driver: WebDriver, desk: Desk) -> None:
    name = user(desk, "cust")
    driver.delete_all_cookies()
    driver.get(desk.url + "/login")
    driver.find_element(By.NAME, "username").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(desk.passwords[name])
    driver.find_element(By.CSS_SELECTOR, "[data-testid=login-submit]").click()
    wait(driver).until(ec.url_to_be(desk.url + "/portal/"))  # a customer lands in the portal


def tracking_offers(desk: Desk, method: str, path: str) -> bool:
    doc = httpx.get(desk.env["LCS_TRACKING_URL"] + "/openapi.json", timeout=10).json()
    return method in doc.get("paths", {}).get(path, {})


def customer_scope(desk: Desk) -> bool:
    r = httpx.get(desk.env["LCS_TRACKING_URL"] + "/v1/shipments", params={"limit": 1}, timeout=10,
                  headers=desk.world.headers("customer", customer=desk.world.customer))
    return r.status_code == 200


def one_of(driver: WebDriver, *css: str) -> str:
    """Wait until one of the selectors is on the page; which one."""
    found: list[str] = []

    def seen(d: WebDriver) -> bool:
        found[:] = [c for c in css if d.find_elements(By.CSS_SELECTOR, c)]
        return bool(found)
    wait(driver).until(seen)
    return found[0]


@pytest.fixture(scope="module")
def stored(desk: Desk) -> str:
    """A waybill of the customer that reached its destination and waits there."""
    waybill = desk.world.shipment(70, destination="WX", promised_hours=48)
    desk.world.arrive(waybill, at="WX")
    return waybill


def test_the_shipments_list_and_its_filters(browser: WebDriver, desk: Desk, shots: Path, stored: str) -> None:
    sign_in_customer(browser, desk)
    got = one_of(browser, f"[data-testid=shipments] [data-waybill='{desk.late}']", "[data-testid=unavailable]")
    if customer_scope(desk):
        assert got.startswith("[data-testid=shipments]")
        assert not browser.find_elements(By.CSS_SELECTOR, f"[data-waybill='{desk.other_customer}']")
        form = browser.find_element(By.CSS_SELECTOR, "[data-testid=shipment-filters]")
        form.find_element(By.NAME, "destination").send_keys(desk.world.codes["GZ"])
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait(browser).until(lambda d: "destination=" in d.current_url)
        rows = browser.find_elements(By.CSS_SELECTOR, "[data-testid=shipments] tbody tr[data-waybill]")
        shown = [r.get_attribute("data-waybill") for r in rows]  # other test files add GZ goods too
        assert desk.gz in shown and desk.other_customer not in shown
        assert all(desk.world.destinations.get(w) == "GZ" for w in shown), shown
        browser.get(desk.url + "/portal/")
        one_of(browser, f"[data-testid=shipments] [data-waybill='{desk.late}']")
    shoot(browser, shots, "portal-shipments")


def test_the_storage_report_and_its_excel_download(browser: WebDriver, desk: Desk, shots: Path, stored: str,
                                                   downloads: Path) -> None:
    sign_in_customer(browser, desk)

    def open_the_report() -> str:
        browser.find_element(By.CSS_SELECTOR, "[data-testid=portal-nav] a[href='/portal/storage']").click()
        wait(browser).until(ec.url_to_be(desk.url + "/portal/storage"))
        return one_of(browser, f"[data-testid=storage-report] tr[data-waybill='{stored}']",
                      "[data-testid=unavailable]")
    got, days = days_during(open_the_report)
    shoot(browser, shots, "portal-storage")
    if not (customer_scope(desk) and tracking_offers(desk, "get", "/v1/reports/storage")):
        assert got == "[data-testid=unavailable]"
        assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=storage-report]")
        return
    row = browser.find_element(By.CSS_SELECTOR, f"[data-testid=storage-report] tr[data-waybill='{stored}']")
    # 0 on the day of arrival; more only once Beijing's midnight passed since (the fixture's data
    # is older than this test)
    arrived = desk.world.arrival_day(stored)
    assert row.find_element(By.CSS_SELECTOR, "[data-col=pieces]").text == "10"
    assert int(row.find_element(By.CSS_SELECTOR, "[data-col=days]").text) in days_since(arrived, days)
    assert not browser.find_elements(By.CSS_SELECTOR, f"[data-waybill='{desk.other_customer}']")
    before = set(downloads.iterdir())

    def download() -> list[Path]:
        browser.find_element(By.CSS_SELECTOR, "[data-testid=download-xlsx]").click()
        return wait_for(lambda: [p for p in downloads.iterdir() if p not in before and p.suffix == ".xlsx"],  # type: ignore[no-any-return]
                        lambda new: bool(new))
    done, days = days_during(download)
    ws = load_workbook(io.BytesIO(done[0].read_bytes())).active
    header = [c.value for c in ws[1]]
    rows = {r[0]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)}
    assert rows[stored]["件数 pieces"] == 10
    assert rows[stored]["暂存天数 days in storage"] in days_since(arrived, days)
    assert rows[stored]["重量kg weight"] == 120.5 and desk.other_customer not in rows


def test_the_daily_arrival_list(browser: WebDriver, desk: Desk, shots: Path, stored: str) -> None:
    sign_in_customer(browser, desk)
    # The day the stored goods arrived (today, unless Beijing's midnight passed since the fixture)
    day = desk.world.arrival_day(stored).isoformat()
    browser.get(f"{desk.url}/portal/arrivals?date={day}")
    got = one_of(browser, f"[data-testid=arrivals] tr[data-waybill='{stored}']", "[data-testid=unavailable]")
    shoot(browser, shots, "portal-arrivals")
    if not customer_scope(desk):
        assert got == "[data-testid=unavailable]"
        return
    table = browser.find_element(By.CSS_SELECTOR, "[data-testid=arrivals]")
    assert table.get_attribute("data-date") == day
    row = table.find_element(By.CSS_SELECTOR, f"tr[data-waybill='{stored}']")
    assert row.get_attribute("data-kind") == "arrived"
    assert not table.find_elements(By.CSS_SELECTOR, f"[data-waybill='{desk.other_customer}']")


def test_an_appointment_request(browser: WebDriver, desk: Desk, shots: Path, stored: str) -> None:
    sign_in_customer(browser, desk)
    browser.get(f"{desk.url}/portal/shipments/{stored}")
    if not customer_scope(desk):
        one_of(browser, "[data-testid=unavailable]")
        shoot(browser, shots, "portal-shipment")
        return
    one_of(browser, "[data-testid=status]")
    assert "杨民敬" not in browser.page_source and desk.world.vehicle not in browser.page_source
    if not tracking_offers(desk, "post", "/v1/shipments/{waybill_no}/appointments"):
        one_of(browser, "[data-testid=appointment] [data-testid=unavailable]")
        assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=appointment-form]")
        shoot(browser, shots, "portal-shipment")
        return
    form = browser.find_element(By.CSS_SELECTOR, "[data-testid=appointment-form]")
    day = today() + timedelta(days=1)  # the business day (Beijing), computed once
    date_box = form.find_element(By.NAME, "date")
    browser.execute_script("arguments[0].value = arguments[1]", date_box, day.isoformat())
    for name, value in (("start", "14:00"), ("end", "17:00")):
        browser.execute_script("arguments[0].value = arguments[1]", form.find_element(By.NAME, name), value)
    form.find_element(By.NAME, "contact").send_keys("王经理 13900002222")
    form.find_element(By.NAME, "note").send_keys("请走后门")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    one_of(browser, "[data-testid=appointment-requested]", "[data-testid=form-error]")
    errors = browser.find_elements(By.CSS_SELECTOR, "[data-testid=form-error]")
    assert not errors, errors[0].text
    browser.execute_script("window.scrollTo(0, 0)")
    shoot(browser, shots, "portal-shipment")
    current = browser.find_element(By.CSS_SELECTOR, "[data-testid=current-appointment]")
    assert f"{day.isoformat()} 14:00–17:00" in current.text
    assert current.get_attribute("data-outcome") == "pending"


def test_the_portal_fits_a_phone(browser: WebDriver, desk: Desk, shots: Path, stored: str) -> None:
    sign_in_customer(browser, desk)
    fit_a_phone(browser, desk, shots, "[data-testid=portal-nav]",
                (("phone-portal-shipments", "/portal/"), ("phone-portal-storage", "/portal/storage"),
                 ("", f"/portal/shipments/{desk.late}"), ("", "/portal/complaints")))


def test_no_request_left_127_0_0_1(browser: WebDriver) -> None:
    hosts = {url.hostname for url in requests_sent(browser)}
    assert hosts <= {"127.0.0.1"}, hosts
    severe = csp_violations(browser)
    assert not severe, severe
