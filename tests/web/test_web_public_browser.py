"""The public tracking page in a real browser with JavaScript switched off (as in WeChat's
built-in browser at its strictest): the form, the result with and without the phone digits, a
signed link, the 429 page, and a phone-sized window (390×844). Debian chromium + chromium-driver,
headless, offline; waits on observables only. Screenshots go to $LCS_SCREENSHOT_DIR when set
(LCS_SCREENSHOT_DIR=docs/services/img makes the docs' images)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from shared.links import LinkKeys, sign
from tests.web.conftest import Desk, chromium, requests_sent
from tests.web.test_web_browser import replaced, wait
from tests.web.world import wait_for

selenium = pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402

PHONE = (390, 844)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with chromium(window=(1024, 800), profile_prefix="lcs-chromium-public-", javascript=False) as driver:
        yield driver




def result(driver: WebDriver):  # type: ignore[no-untyped-def]
    return wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=track-result]")))


def submit(driver: WebDriver, desk: Desk, waybill: str, digits: str = "") -> None:
    driver.get(desk.url + "/track")
    box = driver.find_element(By.NAME, "waybill")
    box.clear()
    box.send_keys(waybill)
    if digits:
        driver.find_element(By.NAME, "phone4").send_keys(digits)
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, "[data-testid=track-submit]").click()
    wait(driver).until(replaced(old))


def no_sideways_scroll(driver: WebDriver) -> None:
    overflow = driver.execute_cdp_cmd("Runtime.evaluate", {
        "expression": "document.documentElement.scrollWidth - document.documentElement.clientWidth",
        "returnByValue": True})["result"]["value"]
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px"


@pytest.fixture(scope="module")
def late(desk: Desk) -> str:
    wait_for(lambda: desk.world.get(desk.late), lambda s: s["delayed"] and s["eta"])
    return desk.late


def test_javascript_is_off_and_the_form_works_without_it(browser: WebDriver, desk: Desk, late: str,
                                                         shots: Path) -> None:
    browser.get(desk.url + "/track")
    assert browser.find_elements(By.TAG_NAME, "script") == []
    browser.save_screenshot(str(shots / "public-track-form.png"))
    submit(browser, desk, late.lower())
    box = result(browser)
    assert box.get_attribute("data-detailed") == "false" and box.get_attribute("data-stage") == "in_transit"
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=track-stage]").text == "运输中"
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=track-city]").text == "上海"
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=track-eta]")
    browser.save_screenshot(str(shots / "public-track.png"))


def test_with_the_digits_the_timeline_eta_and_delay(browser: WebDriver, desk: Desk, late: str, shots: Path) -> None:
    submit(browser, desk, f" {late} ", "1234")
    box = result(browser)
    assert box.get_attribute("data-detailed") == "true"
    delay = browser.find_element(By.CSS_SELECTOR, "[data-testid=track-delay]")
    assert "不好意思" in delay.text and delay.get_attribute("data-reason") not in delay.text
    eta = browser.find_element(By.CSS_SELECTOR, "[data-testid=track-eta]")
    assert "预计到达" in eta.text and ("上午" in eta.text or "下午" in eta.text)
    events = browser.find_elements(By.CSS_SELECTOR, "[data-testid=track-timeline] li")
    assert "departed" in [e.get_attribute("data-event") for e in events]
    text = browser.find_element(By.TAG_NAME, "body").text
    for secret in ("13900001234", "沪A12345", "王师傅", "杨民敬"):
        assert secret not in text
    browser.save_screenshot(str(shots / "public-track-detailed.png"))


def test_a_delivered_waybill_by_its_link_on_a_phone(browser: WebDriver, desk: Desk, shots: Path) -> None:
    waybill = desk.world.shipment(90, destination="GZ", phone="13900005678")
    desk.world.deliver(waybill)
    keys = LinkKeys.parse(desk.env["LCS_PUBLIC_LINK_KEYS"])
    assert keys is not None
    browser.set_window_size(*PHONE)
    try:
        browser.get(f"{desk.url}/t/{sign(keys, waybill, datetime.now(UTC) + timedelta(days=30))}")
        box = result(browser)
        assert box.get_attribute("data-stage") == "delivered" and box.get_attribute("data-detailed") == "true"
        signer = browser.find_element(By.CSS_SELECTOR, "[data-testid=track-signer]")
        assert "杨**" in signer.text and "杨民敬" not in signer.text
        no_sideways_scroll(browser)
        browser.save_screenshot(str(shots / "phone-track-delivered.png"))
        submit(browser, desk, desk.late, "1234")
        result(browser)
        no_sideways_scroll(browser)
        browser.save_screenshot(str(shots / "phone-track.png"))
        browser.find_element(By.LINK_TEXT, "EN").click()
        wait(browser).until(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en")
        assert browser.find_element(By.CSS_SELECTOR, "button[type=submit]").text == "Track"
        browser.find_element(By.LINK_TEXT, "中文").click()
        wait(browser).until(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN")
    finally:
        browser.set_window_size(1024, 800)


def test_a_locked_waybill_gets_the_429_page(browser: WebDriver, desk: Desk, shots: Path) -> None:
    waybill = desk.world.shipment(91, phone="13900001357")
    for guess in ("1111", "2222", "3333", "4444", "5555"):  # from addresses of their own
        address = f"127.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 2}"
        with httpx.Client(base_url=desk.url, transport=httpx.HTTPTransport(local_address=address)) as c:
            assert c.post("/track", data={"waybill": waybill, "phone4": guess}).status_code == 404
    browser.set_window_size(*PHONE)
    try:
        submit(browser, desk, waybill, "1357")
        error = wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=track-error]")))
        assert error.get_attribute("data-code") == "locked" and "30" in error.text
        no_sideways_scroll(browser)
        browser.save_screenshot(str(shots / "public-track-429.png"))
    finally:
        browser.set_window_size(1024, 800)


def test_no_request_left_127_0_0_1_and_no_script_ran(browser: WebDriver) -> None:
    urls = requests_sent(browser)
    scripts = [url.path for url in urls if url.path.endswith(".js")]
    assert not scripts, scripts
    hosts = {url.hostname for url in urls}
    assert hosts <= {"127.0.0.1"}, hosts
    # (network errors are expected here: the 404 and 429 answers themselves, the absent favicon)
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and e["source"] != "network"]
    assert not severe, severe
