"""The desk under test: the session's stack (web included), a small world made through the
backends' APIs, and desk accounts made with the web CLI; and the headless chromium of the
browser tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

import httpx
import pytest

from shared.devtools.stack import Stack
from tests.conftest import Infra, unique
from tests.web.world import World, add_user

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@dataclass
class Desk:
    url: str
    world: World
    env: dict[str, str]
    passwords: dict[str, str] = field(default_factory=dict)
    late: str = ""
    on_time: str = ""
    gz: str = ""
    track: list[tuple[float, float]] = field(default_factory=list)  # the vehicle's fixes, oldest first
    other_customer: str = ""  # a waybill of another customer than the world's

    @contextmanager
    def session(self, username: str, next_: str = "/desk/") -> Iterator[httpx.Client]:
        """An HTTP client signed in as `username` (cookies kept)."""
        with httpx.Client(base_url=self.url, timeout=15, follow_redirects=False) as client:
            page = client.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert token, page.text
            r = client.post("/login", data={"username": username, "password": self.passwords[username],
                                            "csrf": token.group(1), "next": next_})
            assert r.status_code == 303, r.text
            yield client


@pytest.fixture(scope="session")
def desk(stack: Stack, infra: Infra) -> Desk:
    if "web" not in stack.procs:
        pytest.skip("web is not in LCS_TEST_SERVICES")
    suffix = unique()[:5]
    world = World(stack.url("tracking"), infra.auth_secret, suffix).build()
    d = Desk(url=stack.url("web"), world=world, env=stack.service_env("web"))
    d.late = world.shipment(1, promised_hours=2, departed_minutes_ago=65)  # before the vehicle's drive
    d.on_time = world.shipment(2, promised_hours=72)
    # Its last 4 digits (7319) are the desk's alone: the search test expects exactly this match.
    d.gz = world.shipment(3, destination="GZ", phone="13911117319", depart=False)
    d.other_customer = world.shipment(4, destination="GZ", customer=f"D{suffix}", depart=False)
    d.track = world.drive()
    for username, role, extra in (
            (f"staff{suffix}".lower(), "staff", ()),
            (f"sup{suffix}".lower(), "supervisor", ()),
            (f"gz{suffix}".lower(), "branch", ("--branch", world.codes["GZ"])),
            (f"lock{suffix}".lower(), "staff", ()),  # locked out by the lockout tests: no one else uses it
            (f"mate{suffix}".lower(), "staff", ()),  # a second desk member (claims, hand-overs)
            (f"gone{suffix}".lower(), "staff", ()),
            (f"cust{suffix}".lower(), "customer", ("--customer", world.customer, "--display-name", "无锡精工")),
            (f"rival{suffix}".lower(), "customer", ("--customer", f"D{suffix}"))):
        d.passwords[username] = add_user(d.env, username, role, *extra)
    return d


def user(desk: Desk, prefix: str) -> str:
    return next(u for u in desk.passwords if u.startswith(prefix))


@pytest.fixture(scope="module")
def shots() -> Path:
    """Where the browser tests save their screenshots (LCS_SCREENSHOT_DIR, else a temporary folder)."""
    target = os.environ.get("LCS_SCREENSHOT_DIR")
    path = Path(target) if target else Path(tempfile.mkdtemp(prefix="lcs-shots-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def chromium(*, window: tuple[int, int] = (1366, 900), profile_prefix: str = "lcs-chromium-",
             javascript: bool = True, downloads: Path | None = None) -> Iterator[WebDriver]:
    """Debian's chromium, headless and offline, in Chinese, logging every request and console
    message, in a profile of its own removed at the end; the test is skipped where chromium is not
    installed. `javascript=False` switches scripts off (as WeChat's built-in browser at its
    strictest); `downloads` saves every download there, without asking."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("chromium and chromium-driver are not installed (scripts/ensure-infra.sh installs them)")
    from selenium import webdriver  # the browser modules skip themselves where selenium is missing

    os.environ["SE_OFFLINE"] = "true"  # selenium manager must not download anything
    profile = tempfile.mkdtemp(prefix=profile_prefix)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--window-size={window[0]},{window[1]}", "--lang=zh-CN", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    prefs: dict[str, Any] = {"intl.accept_languages": "zh-CN,zh"}
    if not javascript:
        prefs["profile.managed_default_content_settings.javascript"] = 2
    if downloads is not None:
        prefs.update({"download.default_directory": str(downloads), "download.prompt_for_download": False,
                      "safebrowsing.enabled": False})
    options.add_experimental_option("prefs", prefs)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        if downloads is not None:
            driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def requests_sent(driver: WebDriver) -> list[SplitResult]:
    """The URLs the browser requested since its performance log was last read, but the data:,
    blob:, about: and chrome: ones (which never leave the browser)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            parts = urlsplit(message["params"]["request"]["url"])
            if parts.scheme not in ("data", "blob", "about", "chrome"):
                urls.append(parts)
    return urls


def csp_violations(driver: WebDriver) -> list[dict[str, Any]]:
    """The console's severe messages about the Content Security Policy since it was last read."""
    return [e for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and "Content Security Policy" in e["message"]]
