"""The desk under test: the session's stack (web included), a small world made through the
backends' APIs, and desk accounts made with the web CLI."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from shared.devtools.stack import Stack
from tests.conftest import Infra, unique
from tests.web.world import World, add_user


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
