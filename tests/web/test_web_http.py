"""The desk over HTTP against the real stack: sign-in, lockout, CSRF, headers, escaping,
branch scope, downloads, a backend down."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import httpx
import pytest
from openpyxl import load_workbook

from shared.devtools.stack import Stack
from tests.web.conftest import Desk, user
from tests.web.world import wait_for


def _login_form(client: httpx.Client) -> str:
    page = client.get("/login")
    assert page.status_code == 200
    m = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert m
    return m.group(1)


def _csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m
    return m.group(1)


def test_sign_in_rotates_the_session_and_every_page_carries_the_security_headers(desk: Desk) -> None:
    name = user(desk, "staff")
    with httpx.Client(base_url=desk.url, timeout=15) as c:
        r = c.get("/desk/")
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
        token = _login_form(c)
        r = c.post("/login", data={"username": name, "password": desk.passwords[name], "csrf": token,
                                   "next": "/desk/in-transit"})
        assert r.status_code == 303 and r.headers["location"] == "/desk/in-transit"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        first = c.cookies["lcs_session"]
        # signing in again rotates the session: a new id, and the old one no longer works
        again = c.post("/login", data={"username": name, "password": desk.passwords[name],
                                       "csrf": _login_form(c)})
        assert again.status_code == 303 and c.cookies["lcs_session"] != first
        with httpx.Client(base_url=desk.url, timeout=15, cookies={"lcs_session": first}) as old:
            assert old.get("/desk/").status_code == 303
        page = c.get("/desk/")
        assert page.status_code == 200
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"]
        assert "<script>" not in page.text and not re.search(r"\son[a-z]+=", page.text)  # no inline script


def test_one_message_for_unknown_user_and_wrong_password_and_five_failures_lock(desk: Desk) -> None:
    name = user(desk, "lock")
    with httpx.Client(base_url=desk.url, timeout=15) as c:
        token = _login_form(c)
        unknown = c.post("/login", data={"username": "nobody-here", "password": "x" * 12, "csrf": token})
        wrong = c.post("/login", data={"username": name, "password": "x" * 12, "csrf": token})
        assert unknown.status_code == wrong.status_code == 401
        text = lambda r: re.search(r'data-testid="login-error">([^<]*)<', r.text).group(1)  # noqa: E731
        assert text(unknown) == text(wrong)
        for _ in range(4):
            c.post("/login", data={"username": name, "password": "y" * 12, "csrf": token})
        right = c.post("/login", data={"username": name, "password": desk.passwords[name], "csrf": token})
        assert right.status_code == 401, "locked after five failures in a row"
        assert text(right) == text(wrong)


def test_a_post_without_the_csrf_token_is_refused(desk: Desk) -> None:
    with desk.session(user(desk, "staff")) as c:
        r = c.post(f"/desk/shipments/{desk.on_time}/notes", data={"contact": "张三", "note": "x"})
        assert r.status_code == 403
        r = c.post(f"/desk/shipments/{desk.on_time}/notes", data={"contact": "张三", "note": "x", "csrf": "nope"})
        assert r.status_code == 403
        # the sign-in form too: no token, no sign-in
        with httpx.Client(base_url=desk.url, timeout=15) as fresh:
            r = fresh.post("/login", data={"username": "x", "password": "y"})
            assert r.status_code == 403


def test_a_note_with_markup_is_shown_as_text(desk: Desk) -> None:
    with desk.session(user(desk, "staff")) as c:
        page = c.get(f"/desk/shipments/{desk.on_time}")
        r = c.post(f"/desk/shipments/{desk.on_time}/notes", data={
            "contact": "<b>王</b>", "channel": "phone", "note": "<script>alert('x')</script> 已通知",
            "csrf": _csrf(page.text)})
        assert r.status_code == 303
        page = c.get(f"/desk/shipments/{desk.on_time}")
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; 已通知" in page.text
        assert "<script>alert" not in page.text and "<b>王</b>" not in page.text


def test_a_disabled_user_is_out_at_the_next_request(desk: Desk) -> None:
    name = user(desk, "gone")
    with desk.session(name) as c:
        assert c.get("/desk/").status_code == 200
        subprocess.run([sys.executable, "-m", "services.web", "users", "disable", name], env=desk.env, check=True,
                       capture_output=True, timeout=120)
        r = c.get("/desk/")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_a_branch_user_gets_a_clean_404_for_another_branchs_waybill(desk: Desk) -> None:
    with desk.session(user(desk, "gz")) as c:
        own = c.get(f"/desk/shipments/{desk.gz}")
        assert own.status_code == 200 and 'data-testid="status"' in own.text
        other = c.get(f"/desk/shipments/{desk.late}")
        assert other.status_code == 404
        assert 'data-testid="error"' in other.text and desk.late not in other.text.split("<main")[1].split("href")[0]


def test_search_by_whole_waybill_redirects_and_a_prefix_or_phone_says_when_it_cannot(desk: Desk) -> None:
    with desk.session(user(desk, "staff")) as c:
        r = c.get("/desk/search", params={"q": desk.late.lower()})
        assert r.status_code == 303 and r.headers["location"] == f"/desk/shipments/{desk.late}"
        r = c.get("/desk/search", params={"q": "7319"})
        assert r.status_code in (200, 303)
        if r.status_code == 200 and 'data-testid="search-unavailable"' in r.text:
            assert "phone" in r.text


def test_a_last4_search_shows_one_page_and_says_more_match(desk: Desk) -> None:
    """More hits than a page: the first 25 by waybill number, and a line that says more match."""
    made = sorted(desk.world.shipment(500 + n, destination="GZ", phone="13911118642", depart=False)
                  for n in range(26))
    with desk.session(user(desk, "staff")) as c:
        r = c.get("/desk/search", params={"q": "8642"})
        assert r.status_code == 200, r.text
        rows = re.findall(r'<li data-waybill="([^"]+)"', r.text)
        assert rows == made[:25]
        assert 'data-testid="search-more"' in r.text and "25" in r.text.split('data-testid="search-more"')[1]
        r = c.get("/desk/search", params={"q": "7319"})  # one hit: straight to its page
        assert r.status_code == 303 and 'search-more' not in r.text


def test_in_transit_downloads_csv_with_bom_and_a_typed_xlsx(desk: Desk) -> None:
    with desk.session(user(desk, "staff")) as c:
        csv = c.get("/desk/in-transit", params={"format": "csv"})
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert csv.content.startswith(b"\xef\xbb\xbf")
        text = csv.content.decode("utf-8-sig")
        assert text.splitlines()[0].startswith("运单号 waybill")
        assert desk.late in text
        xlsx = c.get("/desk/in-transit", params={"format": "xlsx", "delayed": "1"})
        assert xlsx.status_code == 200
        ws = load_workbook(io.BytesIO(xlsx.content)).active
        assert ws.freeze_panes == "A2" and ws["A1"].font.bold
        header = [c.value for c in ws[1]]
        rows = {r[0]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)}
        assert desk.late in rows and desk.on_time not in rows  # the delayed filter
        row = rows[desk.late]
        assert row["延误 delayed"] is True and isinstance(row["纬度 lat"], float)
        assert ws.column_dimensions["A"].width >= 10


def test_the_workbench_lists_the_delayed_shipment(desk: Desk) -> None:
    with desk.session(user(desk, "staff")) as c:
        page = wait_for(lambda: c.get("/desk/").text, lambda t: f'data-waybill="{desk.late}"' in t)
        block = page.split('data-testid="delayed-list"')[1].split("</ul>")[0]
        assert desk.late in block and desk.on_time not in block


def test_a_backend_down_leaves_the_rest_of_the_page(desk: Desk, stack: Stack) -> None:
    """A second web whose notifier and receipts point at a closed port: the waybill page names what
    is unavailable and renders the rest; a write to a dead backend keeps what was typed."""
    proc = stack.add_service("web", instance="web-degraded", LCS_NOTIFIER_URL="http://127.0.0.1:9",
                             LCS_RECEIPTS_URL="http://127.0.0.1:9", LCS_COMPLAINTS_URL="http://127.0.0.1:9",
                             LCS_BACKEND_GET_RETRIES="0")
    proc.start()
    try:
        stack.wait_http("web-degraded", "/readyz")
        degraded = Desk(url=stack.url("web-degraded"), world=desk.world, env=desk.env, passwords=desk.passwords)
        with degraded.session(user(desk, "staff")) as c:
            page = c.get(f"/desk/shipments/{desk.late}")
            assert page.status_code == 200
            assert 'data-testid="status"' in page.text and 'data-testid="timeline"' in page.text
            assert page.text.count('data-testid="unavailable"') >= 2
            r = c.post(f"/desk/shipments/{desk.late}/complaints", data={
                "caller_name": "李四", "phone": "13900009999", "channel": "phone", "category": "delay",
                "description": "货怎么还没到", "csrf": _csrf(page.text)})
            assert r.status_code == 503
            assert "货怎么还没到" in r.text and 'data-testid="form-error"' in r.text
            workbench = c.get("/desk/")
            assert workbench.status_code == 200 and 'data-testid="delayed-list"' in workbench.text
    finally:
        proc.stop()


@pytest.mark.parametrize("path", ["/desk/", "/desk/in-transit", "/desk/complaints", "/desk/receipts",
                                  "/desk/exceptions", "/desk/notifications", "/desk/reports",
                                  "/desk/reports/exceptions", "/desk/reports/receipts-month",
                                  "/desk/reports/complaints-month", "/desk/reports/daily-work",
                                  "/desk/reports/daily-volume", "/desk/reports/storage", "/desk/appointments"])
def test_every_desk_page_renders(desk: Desk, path: str) -> None:
    with desk.session(user(desk, "sup")) as c:
        r = c.get(path)
        assert r.status_code == 200, r.text[:2000]
        assert 'data-testid="search"' in r.text
