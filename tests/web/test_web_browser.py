"""The desk in a real browser (Debian chromium + chromium-driver, headless, offline).

One browser for the module; every wait is on something observable (WebDriverWait), never a
fixed sleep. Screenshots of each screen go to $LCS_SCREENSHOT_DIR when set (the docs' images
are made that way: LCS_SCREENSHOT_DIR=docs/services/img), else to a temporary directory.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.devtools.stack import Stack
from tests.web.conftest import Desk, chromium, csp_violations, requests_sent, user
from tests.web.relay import desk_behind_relay

selenium = pytest.importorskip("selenium")
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

WAIT = 15


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


def wait(driver: WebDriver, timeout: float = WAIT) -> WebDriverWait:
    return WebDriverWait(driver, timeout, poll_frequency=0.1)


def sign_in(driver: WebDriver, desk: Desk, username: str, password: str | None = None) -> None:
    driver.delete_all_cookies()
    driver.get(desk.url + "/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password or desk.passwords[username])
    submit = driver.find_element(By.CSS_SELECTOR, "[data-testid=login-submit]")
    submit.click()
    wait(driver).until(replaced(submit))  # the answer to the sign-in has loaded


def replaced(element: WebElement) -> Callable[[WebDriver], bool]:
    """`ec.staleness_of`, also when chromedriver answers a check on a node of the page just left
    with "unhandled inspector error: Node with given id does not belong to the document" (a
    WebDriverException, not a StaleElementReferenceException): that node is gone too."""
    def gone(_: WebDriver) -> bool:
        try:
            element.is_enabled()
        except WebDriverException:  # StaleElementReferenceException is one
            return True
        return False
    return gone


def live_connected(driver: WebDriver) -> None:
    wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=live-status][data-state=open]")))


def arrives(driver: WebDriver, css: str) -> None:
    """Wait for `css` after a form was sent; a refusal shown on the page ends the wait with its text."""
    def seen(d: WebDriver) -> bool:
        refused = d.find_elements(By.CSS_SELECTOR, "[data-testid=form-error], [data-testid=error]")
        if refused:
            raise AssertionError(f"{d.current_url}: {refused[0].text}")
        return bool(d.find_elements(By.CSS_SELECTOR, css))
    wait(driver).until(seen)


def shoot(driver: WebDriver, shots: Path, name: str) -> None:
    driver.save_screenshot(str(shots / f"{name}.png"))


def fit_a_phone(driver: WebDriver, desk: Desk, shots: Path, ready: str, pages: tuple[tuple[str, str], ...]) -> None:
    """Each of `pages` (screenshot name or "", path), in a phone-sized window (390×844) once `ready`
    (a CSS selector) shows, must not scroll sideways; the window is desk-sized (1366×900) again after."""
    driver.set_window_size(390, 844)
    try:
        for name, path in pages:
            driver.get(desk.url + path)
            wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, ready)))
            overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{path} scrolls sideways on a phone by {overflow}px"
            if name:
                shoot(driver, shots, name)
    finally:
        driver.set_window_size(1366, 900)


def open_complaint(desk: Desk, caller_name: str, phone: str, category: str, description: str,
                   waybill_no: str | None = None) -> str:
    """A complaint filed through complaints' API, as the phone desk files one; its id."""
    r = httpx.post(desk.env["LCS_COMPLAINTS_URL"] + "/v1/complaints", headers=desk.world.headers("staff"),
                   timeout=10, json={"caller_name": caller_name, "phone": phone, "waybill_no": waybill_no,
                                     "channel": "phone", "category": category, "description": description})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_sign_in_wrong_then_right(browser: WebDriver, desk: Desk, shots: Path) -> None:
    name = user(desk, "staff")
    sign_in(browser, desk, name, "wrong-password-1")
    err = wait(browser).until(ec.visibility_of_element_located((By.CSS_SELECTOR, "[data-testid=login-error]")))
    assert "登录失败" in err.text
    shoot(browser, shots, "login")
    sign_in(browser, desk, name)
    wait(browser).until(ec.url_to_be(desk.url + "/desk/"))


def test_the_workbench_shows_the_delayed_shipment(browser: WebDriver, desk: Desk, shots: Path) -> None:
    sign_in(browser, desk, user(desk, "staff"))
    row = wait(browser).until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, f"[data-testid=delayed-list] [data-waybill='{desk.late}']")))
    assert "延误" in row.text
    live_connected(browser)
    shoot(browser, shots, "workbench")


def test_a_delay_appears_on_the_open_page_without_reload(browser: WebDriver, desk: Desk) -> None:
    sign_in(browser, desk, user(desk, "staff"))
    live_connected(browser)
    browser.execute_script("document.body.setAttribute('data-page-instance', 'first-load')")
    waybill = desk.world.shipment(10, promised_hours=1.5)  # departs on the vehicle now
    desk.world.fix(lat=31.26, lon=121.41)  # still in Shanghai: late
    wait(browser, 20).until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, f"[data-testid=delayed-list] [data-waybill='{waybill}']")))
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-page-instance") == "first-load"
    feed = browser.find_element(By.CSS_SELECTOR, "[data-testid=live-feed]")
    assert waybill in feed.text


def test_search_box_by_keyboard_goes_to_the_waybill(browser: WebDriver, desk: Desk, shots: Path) -> None:
    sign_in(browser, desk, user(desk, "staff"))
    wait(browser).until(ec.url_to_be(desk.url + "/desk/"))
    browser.find_element(By.TAG_NAME, "body").send_keys("/")
    active = browser.switch_to.active_element
    assert active.get_attribute("data-testid") == "search"
    active.send_keys(desk.late.lower(), Keys.ENTER)
    wait(browser).until(ec.url_to_be(f"{desk.url}/desk/shipments/{desk.late}"))
    status = browser.find_element(By.CSS_SELECTOR, "[data-testid=status]")
    assert status.get_attribute("data-status") == "in_transit"
    reason = browser.find_element(By.CSS_SELECTOR, "[data-testid=delay-reason]").text
    assert "延误" in reason
    wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=map][data-ready='1']")))
    # The vehicle's recent track (tracking's /v1/vehicles/{id}/track) is drawn as a line of its own.
    track = browser.find_elements(By.CSS_SELECTOR, "[data-testid=map] path[stroke='#d9480f'][fill='none']")
    assert len(track) == 1 and (track[0].get_attribute("d") or "").count("L") >= 2  # a line, not a dot
    shoot(browser, shots, "shipment")


def test_search_by_the_last_four_digits(browser: WebDriver, desk: Desk) -> None:
    api = httpx.get(desk.world.tracking_url + "/openapi.json", timeout=10).json()
    params = {p["name"] for p in api["paths"]["/v1/shipments"]["get"].get("parameters", [])}
    if "phone" not in params:
        pytest.skip("tracking has no phone search yet: GET /v1/shipments?phone= (whole or last 4 digits of the "
                    "shipper's or consignee's phone; see docs/services/web-backend-needs.md)")
    sign_in(browser, desk, user(desk, "staff"))
    browser.get(desk.url + "/desk/search?q=7319")
    wait(browser).until(ec.url_to_be(f"{desk.url}/desk/shipments/{desk.gz}"))


def test_a_search_with_many_hits_shows_a_page_and_says_so(browser: WebDriver, desk: Desk, shots: Path) -> None:
    for n in range(26):  # 26 consignees whose phones end in 3579: one more than the page shows
        desk.world.shipment(600 + n, destination="GZ", phone="13911113579", depart=False)
    sign_in(browser, desk, user(desk, "staff"))
    browser.get(desk.url + "/desk/search?q=3579")
    more = wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=search-more]")))
    assert "25" in more.text
    assert len(browser.find_elements(By.CSS_SELECTOR, "[data-testid=search-results] li[data-waybill]")) == 25
    shoot(browser, shots, "search-more")


def test_a_note_with_a_script_is_shown_as_text(browser: WebDriver, desk: Desk) -> None:
    sign_in(browser, desk, user(desk, "staff"))
    browser.get(f"{desk.url}/desk/shipments/{desk.on_time}")
    form = wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=note-form]")))
    form.find_element(By.NAME, "contact").send_keys("杨民敬")
    text = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"
    form.find_element(By.NAME, "note").send_keys(text)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    item = wait(browser).until(ec.presence_of_element_located(
        (By.XPATH, "//*[@data-testid='timeline']/li[@data-kind='note'][last()]")))
    assert text in item.text
    assert browser.title != "pwned"
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=timeline] img")


def test_a_complaint_countdown_ticks(browser: WebDriver, desk: Desk, shots: Path) -> None:
    complaint_id = open_complaint(desk, "陈先生", "13800001111", "delay", "货太慢了", desk.late)
    sign_in(browser, desk, user(desk, "staff"))
    browser.get(desk.url + "/desk/complaints")
    selector = f"[data-complaint-id='{complaint_id}'] [data-testid=sla-countdown]"
    wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, selector)))

    def read(name: str) -> str | None:
        # Read in one script call: the live queue may be re-rendered (swapped) at any moment by
        # the complaint's own "opened" event, which would orphan an element reference.
        return browser.execute_script(  # type: ignore[no-any-return]
            "const el = document.querySelector(arguments[0]); return el && el.getAttribute(arguments[1]);",
            selector, name)

    due = wait(browser).until(lambda _: read("data-due"))
    assert datetime.fromisoformat(due).tzinfo is not None  # RFC 3339 with an offset
    first = wait(browser).until(lambda _: read("data-seconds"))
    wait(browser).until(lambda _: read("data-seconds") not in (None, first))
    assert int(read("data-seconds") or first) < int(first)
    shoot(browser, shots, "complaints")


def test_a_branch_user_cannot_see_another_branchs_waybill(browser: WebDriver, desk: Desk) -> None:
    sign_in(browser, desk, user(desk, "gz"))
    wait(browser).until(ec.url_to_be(desk.url + "/desk/"))
    browser.get(f"{desk.url}/desk/shipments/{desk.late}")
    err = wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=error]")))
    assert err.get_attribute("data-code") == "not_found"
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=status]")
    browser.get(f"{desk.url}/desk/shipments/{desk.gz}")
    wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=status]")))


def test_in_transit_table_and_downloads(browser: WebDriver, desk: Desk, shots: Path) -> None:
    sign_in(browser, desk, user(desk, "staff"))
    browser.get(desk.url + "/desk/in-transit")
    wait(browser).until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, f"[data-testid=in-transit] [data-waybill='{desk.late}']")))
    wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=map][data-ready='1']")))
    shoot(browser, shots, "in-transit")
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    for fmt, magic in (("csv", b"\xef\xbb\xbf"), ("xlsx", b"PK")):
        href = browser.find_element(By.CSS_SELECTOR, f"[data-testid=download-{fmt}]").get_attribute("href")
        r = httpx.get(href, cookies=cookies, timeout=15)
        assert r.status_code == 200 and r.content.startswith(magic)
        assert "attachment" in r.headers["content-disposition"]


def _csrf_of(desk: Desk, username: str) -> tuple[dict[str, str], str]:
    with desk.session(username) as c:
        page = c.get("/desk/")
        token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        return dict(c.cookies), token


class LiveListener:
    """A desk member's own live stream (`/desk/events`), read in a thread: what every open desk
    page was sent, in order."""

    def __init__(self, desk: Desk, username: str) -> None:
        cookies, _ = _csrf_of(desk, username)
        self.client = httpx.Client(base_url=desk.url, cookies=cookies, timeout=httpx.Timeout(10, read=None))
        self.messages: list[dict[str, object]] = []
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.connected.wait(15), "the live stream did not open"

    def _read(self) -> None:
        try:
            with self.client.stream("GET", "/desk/events", headers={"Accept": "text/event-stream"}) as r:
                self.connected.set()
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        self.messages.append(json.loads(line[6:]))
        except httpx.HTTPError:
            pass

    def saw(self, topic: str, waybill: str) -> bool:
        return any(m.get("topic") == topic and m.get("waybill") == waybill for m in list(self.messages))

    def close(self) -> None:
        self.client.close()


def test_a_branch_user_does_not_see_another_branchs_delay_live(browser: WebDriver, desk: Desk) -> None:
    sign_in(browser, desk, user(desk, "gz"))
    wait(browser).until(ec.url_to_be(desk.url + "/desk/"))
    live_connected(browser)
    staff = LiveListener(desk, user(desk, "staff"))
    try:
        elsewhere = desk.world.shipment(50, promised_hours=1.5)  # 上海 → 无锡: not the branch's
        desk.world.fix(lat=31.27, lon=121.42)
        # every open stream is handed each message at once: once the desk's has this one, the
        # branch's page was sent its version of it before anything that follows
        wait(browser, 30).until(lambda _: staff.saw("delays", elsewhere))
        own = desk.world.shipment(51, destination="GZ", promised_hours=1.5)  # 上海 → 广州: the branch's
        desk.world.fix(lat=31.28, lon=121.43)
        wait(browser, 30).until(ec.presence_of_element_located(
            (By.CSS_SELECTOR, f"[data-testid=delayed-list] [data-waybill='{own}']")))
        feed = browser.find_element(By.CSS_SELECTOR, "[data-testid=live-feed]").text
        assert own in feed
        assert elsewhere not in feed
        assert not browser.find_elements(By.CSS_SELECTOR, f"[data-waybill='{elsewhere}']")
        assert elsewhere not in browser.find_element(By.TAG_NAME, "main").text
    finally:
        staff.close()


def test_the_keyboard_works_the_complaints_queue(browser: WebDriver, desk: Desk) -> None:
    complaint_id = open_complaint(desk, "周女士", "13800005555", "damage", "外箱破了")
    sign_in(browser, desk, user(desk, "staff"))
    browser.get(desk.url + "/desk/complaints")
    wait(browser).until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, f"[data-complaint-id='{complaint_id}'] [data-row]")))
    live_connected(browser)
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("/")
    assert browser.switch_to.active_element.get_attribute("data-testid") == "search"
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)

    def open_newest(_: WebDriver) -> str | None:
        # j, j, k: down to the second row and back to the first (the newest: this test's
        # complaint); Enter opens it. A live refresh of the queue between the keys takes the
        # focus away: then try again.
        try:
            for key in ("j", "j", "k"):
                browser.switch_to.active_element.send_keys(key)
            active = browser.switch_to.active_element
            rows = browser.find_elements(By.CSS_SELECTOR, "[data-row]")
            if len(rows) < 2 or active != rows[0]:
                browser.find_element(By.TAG_NAME, "body").click()
                return None
            href = active.get_attribute("href")
            active.send_keys(Keys.ENTER)
            return href
        except StaleElementReferenceException:
            return None

    href = wait(browser).until(open_newest)
    wait(browser).until(ec.url_to_be(href))
    assert browser.current_url.endswith(f"/desk/complaints/{complaint_id}")
    wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=complaint-status]")))
    # Tab reaches the actions, Enter presses the focused one: the Claim button
    claim = browser.find_element(By.CSS_SELECTOR, "[data-testid=claim]")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", claim)
    for _ in range(60):
        if browser.switch_to.active_element == claim:
            break
        browser.switch_to.active_element.send_keys(Keys.TAB)
    assert browser.switch_to.active_element == claim
    claim.send_keys(Keys.ENTER)
    wait(browser).until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, f"[data-testid=assigned-to][data-assigned-to='{user(desk, 'staff')}']")))


def test_claiming_and_answering_a_complaint(browser: WebDriver, desk: Desk, shots: Path) -> None:
    cid = open_complaint(desk, "李先生", "13800006666", "delay", "什么时候能到？", desk.late)
    sign_in(browser, desk, user(desk, "sup"))
    browser.get(f"{desk.url}/desk/complaints/{cid}")
    wait(browser).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-testid=claim]"))).click()
    wait(browser).until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, f"[data-testid=assigned-to][data-assigned-to='{user(desk, 'sup')}']")))
    form = browser.find_element(By.CSS_SELECTOR, "[data-testid=respond-form]")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(browser).until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, "[data-testid=complaint-status][data-status=responded]")))
    assert browser.find_elements(By.CSS_SELECTOR, "[data-testid=complaint-history] [data-action=claim]")
    shoot(browser, shots, "complaint")
    browser.get(desk.url + "/desk/complaints")
    form = wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=call-form]")))
    form.find_element(By.NAME, "caller_name").send_keys("南京站 王经理")
    form.find_element(By.NAME, "phone").send_keys("13800007777")
    Select(form.find_element(By.NAME, "direction")).select_by_visible_text("去电")
    Select(form.find_element(By.NAME, "topic")).select_by_visible_text("回单")
    assert Select(form.find_element(By.NAME, "outcome")).first_selected_option.text == "已解答"
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(browser).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid=call-log]"), "南京站 王经理"))
    shoot(browser, shots, "complaints")


def test_the_receipts_screen_works_a_receipt_to_its_envelope(browser: WebDriver, desk: Desk, shots: Path) -> None:
    world = desk.world
    abnormal, mailed = world.shipment(60, destination="GZ", promised_hours=72), \
        world.shipment(61, destination="GZ", promised_hours=72)
    world.shipment(62, destination="GZ", promised_hours=72, payment="cod")
    receipts = desk.env["LCS_RECEIPTS_URL"]
    for w in (abnormal, mailed):
        world.deliver(w)
        wait(browser, 30).until(lambda _, w=w: httpx.get(f"{receipts}/v1/receipts/{w}", headers=world.headers("admin"),
                                                          timeout=10).json().get("status") == "signed")
    sign_in(browser, desk, user(desk, "staff"))
    browser.get(desk.url + "/desk/receipts")
    row = wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, f"tr[data-waybill='{abnormal}']")))
    form = row.find_element(By.CSS_SELECTOR, "[data-testid=inspect-abnormal]")
    Select(form.find_element(By.NAME, "anomalies")).select_by_visible_text("缺公章")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(browser).until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, f"tr[data-waybill='{abnormal}'][data-status=abnormal] [data-testid=re-sign]")))
    browser.find_element(By.CSS_SELECTOR,
                         f"tr[data-waybill='{mailed}'] [data-testid=inspect-qualified] button").click()
    wait(browser).until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, f"tr[data-waybill='{mailed}'][data-status=qualified]")))
    browser.execute_script("window.scrollTo(0, 0)")
    shoot(browser, shots, "receipts")
    form = browser.find_element(By.CSS_SELECTOR, "[data-testid=envelope-form]")
    form.find_element(By.NAME, "from_station").send_keys(world.codes["GZ"])
    form.find_element(By.NAME, "to_station").send_keys(world.codes["SH"])
    form.find_element(By.NAME, "courier_no").send_keys("SF1234567890")
    form.find_element(By.NAME, "waybills").send_keys(mailed)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    arrives(browser, "[data-testid=envelope][data-status=in_transit]")
    assert browser.find_element(By.CSS_SELECTOR, f"[data-testid=envelope-items] [data-waybill='{mailed}'] input"
                                ).is_selected()
    shoot(browser, shots, "envelope")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=arrival-form] button[type=submit]").click()
    arrives(browser, f"[data-testid=envelope-items] [data-waybill='{mailed}'][data-outcome=present]")
    assert browser.find_elements(By.CSS_SELECTOR, "[data-testid=envelope][data-status=received]")


def test_the_exceptions_screen_resolves_an_exception(browser: WebDriver, desk: Desk, shots: Path) -> None:
    waybill = desk.world.shipment(63, promised_hours=72)
    r = httpx.post(f"{desk.world.tracking_url}/v1/shipments/{waybill}/exceptions", headers=desk.world.headers("admin"),
                   timeout=10, json={"kind": "shortage", "pieces": 2, "station": desk.world.codes["NJ"],
                                     "description": "少了两件"})
    assert r.status_code == 201, r.text
    exception_id = r.json()["id"]
    sign_in(browser, desk, user(desk, "staff"))
    browser.get(desk.url + "/desk/exceptions")
    form = wait(browser).until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, f"[data-testid=resolve-exception][data-exception-id='{exception_id}']")))
    shoot(browser, shots, "exceptions")
    form.find_element(By.NAME, "resolution").send_keys("已找到，随下一车补送")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(browser).until(replaced(form))
    wait(browser).until(lambda b: not b.find_elements(
        By.CSS_SELECTOR, f"[data-testid=open-exceptions] [data-exception-id='{exception_id}']"))


def test_retry_on_a_failed_notice_requeues_it(browser: WebDriver, desk: Desk, stack: Stack, shots: Path) -> None:
    """The SMS and SMTP stand-ins refuse: the delay notices of a late waybill fail. Once they accept
    again, the Retry button on the notifications screen puts the notice back in the queue (it then
    goes out)."""
    sinks = httpx.Client(base_url=stack.url("sinks"), timeout=10)
    notifier = desk.env["LCS_NOTIFIER_URL"]

    def notices(waybill: str) -> list[dict[str, Any]]:
        r = httpx.get(notifier + "/v1/notifications", headers=desk.world.headers("admin"), timeout=10,
                      params={"waybill_no": waybill, "limit": 50})
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    try:
        sinks.put("/control", json={"sms": "reject", "fallback": "reject", "smtp": "reject"}).raise_for_status()
        # a consignee of its own: no hourly limit shared with the world's other waybills holds it back
        waybill = desk.world.shipment(80, promised_hours=1.5, phone=f"139{secrets.randbelow(10**8):08d}")
        desk.world.fix(lat=31.24, lon=121.39)  # still in Shanghai: late, the customers are told
        failed: list[dict[str, Any]] = []
        wait(browser, 30).until(lambda _: failed.extend(
            n for n in notices(waybill) if n["status"] == "failed" and n["to"]) or bool(failed))
    finally:
        sinks.put("/control", json={"sms": "ok", "fallback": "ok", "smtp": "ok"})
        sinks.close()
    target = failed[0]["id"]
    row_css = f"[data-testid=notifications] [data-notification-id='{target}']"
    sign_in(browser, desk, user(desk, "staff"))
    browser.get(desk.url + "/desk/notifications?status=failed")
    button = wait(browser).until(ec.element_to_be_clickable((By.CSS_SELECTOR, f"{row_css} [data-testid=retry] button")))
    assert browser.find_element(By.CSS_SELECTOR, row_css).get_attribute("data-status") == "failed"
    shoot(browser, shots, "notifications")
    button.click()
    wait(browser).until(replaced(button))
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=form-error]")

    def requeued(b: WebDriver) -> bool:
        rows = b.find_elements(By.CSS_SELECTOR, row_css)
        if rows and rows[0].get_attribute("data-status") in ("queued", "sent"):
            return True
        b.get(desk.url + "/desk/notifications")  # the list as it is now
        return False

    wait(browser, 30).until(requeued)
    assert not browser.find_elements(By.CSS_SELECTOR, f"{row_css} [data-testid=retry]")
    assert next(n for n in notices(waybill) if n["id"] == target)["status"] in ("queued", "sent")


def test_a_page_says_so_when_the_desks_database_is_down(browser: WebDriver, desk: Desk, stack: Stack,
                                                        shots: Path) -> None:
    with desk_behind_relay(desk, stack) as (relayed, relay):
        sign_in(browser, relayed, user(desk, "staff"))
        wait(browser).until(ec.url_to_be(relayed.url + "/desk/"))
        relay.cut()

        def error_page(b: WebDriver) -> bool:
            b.get(relayed.url + "/desk/")
            return bool(b.find_elements(By.CSS_SELECTOR, "[data-testid=error][data-code=unavailable]"))

        wait(browser, 30).until(error_page)
        assert "服务暂时不可用" in browser.find_element(By.TAG_NAME, "main").text
        shoot(browser, shots, "error-unavailable")


def test_every_screen_renders_chinese_and_fits_a_phone(browser: WebDriver, desk: Desk, shots: Path) -> None:
    sign_in(browser, desk, user(desk, "sup"))
    wait(browser).until(ec.url_to_be(desk.url + "/desk/"))
    # receipts, exceptions, notifications: shot by their own tests, with something on them
    for name, path in (("", "/desk/receipts"), ("", "/desk/exceptions"),
                       ("", "/desk/notifications"), ("reports", "/desk/reports"),
                       ("report-receipts-month", "/desk/reports/receipts-month"),
                       ("report-daily-work", "/desk/reports/daily-work"),
                       ("report-daily-volume", "/desk/reports/daily-volume")):
        browser.get(desk.url + path)
        wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=search]")))
        assert "工作台" in browser.find_element(By.TAG_NAME, "nav").text
        if name:
            shoot(browser, shots, name)
    fit_a_phone(browser, desk, shots, "[data-testid=search]",
                (("phone-workbench", "/desk/"), ("phone-shipment", f"/desk/shipments/{desk.late}")))


def test_no_request_left_127_0_0_1(browser: WebDriver) -> None:
    """Every request the browser made in this module went to the desk on 127.0.0.1 (or was data:)."""
    hosts = {url.hostname for url in requests_sent(browser)}
    assert hosts <= {"127.0.0.1"}, hosts
    severe = csp_violations(browser)
    assert not severe, severe


