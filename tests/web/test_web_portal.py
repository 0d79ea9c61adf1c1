"""The key-account portal over HTTP against the real stack: who may enter, what a customer
sees (its own shipments only; another customer's waybill is the same not-found as none),
the downloads, the forms' refusals, and a backend down.

Until the backends take customer tokens (the customer scope) or publish a route the portal
uses (the storage report, appointments), the page must say that the part is unavailable and
show nothing in its place: each test checks whichever the running backends offer.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta

import httpx
from openpyxl import load_workbook

from shared.devtools.stack import Stack
from tests.support.clock import days_during, days_since, today
from tests.web.conftest import Desk, user


def _csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m
    return m.group(1)


def _main(page: str) -> str:
    return page.split("<main", 1)[1]


def _customer_scope(desk: Desk) -> bool:
    """Whether tracking takes a customer's token (the customer scope has landed)."""
    r = httpx.get(desk.env["LCS_TRACKING_URL"] + "/v1/shipments", timeout=10, params={"limit": 1},
                  headers=desk.world.headers("customer", customer=desk.world.customer))
    assert r.status_code in (200, 403), r.text
    return r.status_code == 200


PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000a49444154789c63000100000500010d0a2db40000000049454e44ae426082")


def _exception_with_photo(desk: Desk, waybill: str) -> tuple[str, int]:
    """An exception on the waybill with one photo, reported as the desk does; their ids."""
    tracking, admin = desk.env["LCS_TRACKING_URL"], desk.world.headers("admin")
    r = httpx.post(f"{tracking}/v1/shipments/{waybill}/exceptions", headers=admin, timeout=10, json={
        "kind": "damage", "pieces": 1, "station": desk.world.codes["SH"], "description": "外箱破损"})
    assert r.status_code == 201, r.text
    exception_id = r.json()["id"]
    r = httpx.post(f"{tracking}/v1/exceptions/{exception_id}/photos", headers=admin, timeout=10,
                   files={"file": ("box.png", PNG, "image/png")})
    assert r.status_code in (200, 201), r.text
    return str(exception_id), int(r.json()["id"])


def _tracking_has(desk: Desk, method: str, path: str) -> bool:
    doc = httpx.get(desk.env["LCS_TRACKING_URL"] + "/openapi.json", timeout=10).json()
    return method in doc.get("paths", {}).get(path, {})


def test_a_customer_lands_in_the_portal_and_the_desk_refuses_it(desk: Desk) -> None:
    name = user(desk, "cust")
    with desk.session(name, next_="/desk/in-transit") as c:
        assert c.cookies.get("lcs_session")
        r = c.get("/")
        assert r.status_code == 303 and r.headers["location"] == "/portal/"
        for path in ("/desk/", "/desk/in-transit", f"/desk/shipments/{desk.late}", "/desk/complaints",
                     "/desk/reports/daily-work", "/desk/in-transit?format=csv"):
            page = c.get(path)
            assert page.status_code == 403, path
            assert 'data-code="forbidden"' in page.text and 'href="/portal/"' in page.text
            assert desk.late not in _main(page.text)
        home = c.get("/portal/")
        assert home.status_code == 200 and 'data-testid="portal-nav"' in home.text
        assert 'data-testid="search"' not in home.text and "data-live" not in home.text.split("<header")[0]
        csp = home.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        # a write on the desk is refused too, whatever token it carries
        r = c.post(f"/desk/shipments/{desk.late}/notes", data={"contact": "x", "csrf": _csrf(home.text)})
        assert r.status_code == 403


def test_sign_in_sends_a_customer_to_the_portal_and_a_desk_account_to_the_desk(desk: Desk) -> None:
    with httpx.Client(base_url=desk.url, timeout=15) as c:
        page = c.get("/login")
        r = c.post("/login", data={"username": user(desk, "cust"), "password": desk.passwords[user(desk, "cust")],
                                   "csrf": _csrf(page.text), "next": "/desk/"})
        assert r.status_code == 303 and r.headers["location"] == "/portal/"
    with httpx.Client(base_url=desk.url, timeout=15) as c:
        page = c.get("/login")
        staff = user(desk, "staff")
        r = c.post("/login", data={"username": staff, "password": desk.passwords[staff], "csrf": _csrf(page.text),
                                   "next": "/portal/storage"})
        assert r.status_code == 303 and r.headers["location"] == "/desk/"


def test_the_portal_refuses_desk_accounts(desk: Desk) -> None:
    with desk.session(user(desk, "staff")) as c:
        for path in ("/portal/", f"/portal/shipments/{desk.late}", "/portal/storage", "/portal/arrivals",
                     "/portal/receipts", "/portal/complaints", "/portal/?format=csv"):
            r = c.get(path)
            assert r.status_code == 403, path
            assert 'data-code="forbidden"' in r.text and desk.late not in _main(r.text)


def test_a_customer_sees_only_its_own_shipments(desk: Desk) -> None:
    with desk.session(user(desk, "cust")) as c:
        page = c.get("/portal/")
        assert page.status_code == 200
        rows = set(re.findall(r'<tr data-waybill="([^"]+)"', page.text))
        assert desk.other_customer not in rows and desk.other_customer not in page.text
        if not _customer_scope(desk):
            assert 'data-testid="unavailable"' in page.text and rows == set()
            return
        assert {desk.late, desk.on_time, desk.gz} <= rows
        # the rival customer sees its own waybill and none of the world's
        with desk.session(user(desk, "rival")) as rival:
            theirs = set(re.findall(r'<tr data-waybill="([^"]+)"', rival.get("/portal/").text))
            assert desk.other_customer in theirs and not theirs & {desk.late, desk.on_time, desk.gz}
        # filters: destination, status, waybill prefix, registration dates
        gz = c.get("/portal/", params={"destination": desk.world.codes["GZ"]})
        gz_rows = set(re.findall(r'<tr data-waybill="([^"]+)"', gz.text))  # other test files add GZ goods too
        assert desk.gz in gz_rows and desk.other_customer not in gz_rows
        assert all(desk.world.destinations.get(w) == "GZ" for w in gz_rows), gz_rows
        registered = c.get("/portal/", params={"status": "registered"})
        kept = set(re.findall(r'<tr data-waybill="([^"]+)"', registered.text))
        assert desk.gz in kept and desk.late not in kept
        prefix = c.get("/portal/", params={"prefix": desk.late[:-1].lower()})
        assert desk.late in prefix.text
        tomorrow = (today() + timedelta(days=1)).isoformat()  # the business day (Beijing), not UTC's
        later = c.get("/portal/", params={"from": tomorrow})
        assert not re.findall(r'<tr data-waybill="([^"]+)"', later.text)
        bad = c.get("/portal/", params={"from": "yesterday"})
        assert bad.status_code == 422 and 'data-testid="form-error"' in bad.text


def test_the_shipments_download_as_csv_and_xlsx_with_only_the_customers_rows(desk: Desk) -> None:
    with desk.session(user(desk, "cust")) as c:
        csv = c.get("/portal/", params={"format": "csv"})
        if not _customer_scope(desk):
            assert csv.status_code == 503 and 'data-code="unavailable"' in csv.text
            return
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert csv.content.startswith(b"\xef\xbb\xbf")
        text = csv.content.decode("utf-8-sig")
        assert text.splitlines()[0].startswith("运单号 waybill") and desk.late in text
        assert desk.other_customer not in text
        xlsx = c.get("/portal/", params={"format": "xlsx", "destination": desk.world.codes["GZ"]})
        ws = load_workbook(io.BytesIO(xlsx.content)).active
        assert ws.freeze_panes == "A2" and ws["A1"].font.bold
        listed = [r[0] for r in ws.iter_rows(min_row=2, values_only=True)]
        assert desk.gz in listed and desk.other_customer not in listed
        assert all(desk.world.destinations.get(w) == "GZ" for w in listed), listed


def test_another_customers_waybill_is_the_same_not_found_as_none(desk: Desk) -> None:
    nowhere = desk.other_customer[:-3] + "999"
    with desk.session(user(desk, "cust")) as c:
        other = c.get(f"/portal/shipments/{desk.other_customer}")
        none = c.get(f"/portal/shipments/{nowhere}")
        assert other.status_code == none.status_code
        assert _main(other.text).replace(desk.other_customer, "W") == _main(none.text).replace(nowhere, "W")
        assert "杨" not in _main(other.text)
        photo = c.get(f"/portal/shipments/{desk.other_customer}/exceptions/{'0' * 32}/photos/1")
        assert photo.status_code == 404
        if _customer_scope(desk):
            assert other.status_code == 404 and 'data-code="not_found"' in other.text
            damaged = desk.world.shipment(6, promised_hours=72)
            exception_id, photo_id = _exception_with_photo(desk, damaged)
            own = c.get(f"/portal/shipments/{damaged}")
            assert own.status_code == 200 and 'data-testid="status"' in own.text
            assert 'data-testid="timeline"' in own.text and 'data-testid="eta"' in own.text
            # never the vehicle or its position, never the consignee's whole name
            assert desk.world.vehicle not in own.text and "沪A12345" not in own.text
            assert "杨民敬" not in own.text and "121.4" not in own.text
            # the exception's photo, through the portal, as tracking serves it (sandboxed)
            src = f"/portal/shipments/{damaged}/exceptions/{exception_id}/photos/{photo_id}"
            assert f'src="{src}"' in own.text and "外箱破损" in own.text
            image = c.get(src)
            assert image.status_code == 200 and image.content == PNG
            assert image.headers["content-type"] == "image/png"
            assert "sandbox" in image.headers["content-security-policy"]
            with desk.session(user(desk, "rival")) as rival:
                assert rival.get(src).status_code == 404
        # a complaint about another customer's waybill is refused as not found
        page = c.get("/portal/complaints")
        r = c.post("/portal/complaints", data={
            "waybill_no": desk.other_customer, "caller_name": "王", "phone": "13900001111", "category": "delay",
            "description": "where is it", "csrf": _csrf(page.text)})
        assert r.status_code in (404, 503) and 'data-testid="form-error"' in r.text
        assert "where is it" in r.text  # what was typed is kept


def test_a_delivery_window_that_ends_before_it_starts_is_refused_with_what_was_typed(desk: Desk) -> None:
    with desk.session(user(desk, "cust")) as c:
        page = c.get(f"/portal/shipments/{desk.gz}")
        if not _customer_scope(desk):
            assert 'data-testid="unavailable"' in page.text
            return
        has_route = _tracking_has(desk, "post", "/v1/shipments/{waybill_no}/appointments")
        assert ('data-testid="appointment-form"' in page.text) == has_route
        assert ('data-problem="unsupported"' in page.text) == (not has_route)
        day = (today() + timedelta(days=2)).isoformat()  # business days (Beijing), as the portal reads them
        r = c.post(f"/portal/shipments/{desk.gz}/appointments", data={
            "date": day, "start": "15:00", "end": "10:00", "contact": "王经理 13900002222", "note": "后门",
            "csrf": _csrf(page.text)})
        if not has_route:  # said above the (absent) form; nothing was sent
            assert r.status_code == 503 and 'data-testid="form-error"' in r.text
            return
        assert r.status_code == 422 and 'data-testid="form-error"' in r.text
        assert "王经理 13900002222" in r.text
        if has_route:
            r = c.post(f"/portal/shipments/{desk.gz}/appointments", data={
                "date": day, "start": "09:00", "end": "12:00", "contact": "王经理 13900002222", "note": "后门",
                "csrf": _csrf(page.text)})
            assert r.status_code == 303 and r.headers["location"].endswith("appointment=requested#appointment")


def test_the_storage_report_lists_goods_waiting_at_the_destination(desk: Desk) -> None:
    waybill = desk.world.shipment(5, destination="WX", depart=True)
    desk.world.arrive(waybill, at="WX")
    arrived = desk.world.arrival_day(waybill)
    with desk.session(user(desk, "cust")) as c:
        page, days = days_during(lambda: c.get("/portal/storage"))
        assert page.status_code == 200
        if not (_customer_scope(desk) and _tracking_has(desk, "get", "/v1/reports/storage")):
            assert 'data-testid="unavailable"' in page.text and 'data-testid="storage-report"' not in page.text
            assert c.get("/portal/storage", params={"format": "xlsx"}).status_code == 503
            return
        row = re.search(rf'<tr data-waybill="{waybill}">(.*?)</tr>', page.text, re.S)
        assert row, page.text
        # 0 on the day of arrival (world.arrive keeps it on today's business day); 1 only if
        # Beijing's midnight passed since
        assert 'data-col="pieces">10<' in row.group(1)
        assert any(f'data-col="days">{n}<' in row.group(1) for n in days_since(arrived, days)), row.group(1)
        assert desk.other_customer not in page.text
        xlsx = c.get("/portal/storage", params={"format": "xlsx"})
        ws = load_workbook(io.BytesIO(xlsx.content)).active
        header = [c.value for c in ws[1]]
        rows = {r[0]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)}
        assert rows[waybill]["件数 pieces"] == 10 and rows[waybill]["重量kg weight"] == 120.5


def test_the_daily_arrival_list_and_receipts(desk: Desk) -> None:
    with desk.session(user(desk, "cust")) as c:
        page = c.get("/portal/arrivals", params={"date": today().isoformat()})  # Beijing's day, not UTC's
        assert page.status_code == 200
        receipts = c.get("/portal/receipts")
        assert receipts.status_code == 200
        if not _customer_scope(desk):
            assert 'data-testid="unavailable"' in page.text
            return
        assert 'data-testid="arrivals"' in page.text
        assert desk.other_customer not in page.text
        assert c.get("/portal/arrivals", params={"date": "bad"}).status_code == 422


def test_the_portal_says_which_backend_is_down_and_renders_the_rest(desk: Desk, stack: Stack) -> None:
    """A second web whose receipts and complaints point at a closed port."""
    proc = stack.add_service("web", instance="web-portal-degraded", LCS_RECEIPTS_URL="http://127.0.0.1:9",
                             LCS_COMPLAINTS_URL="http://127.0.0.1:9", LCS_BACKEND_GET_RETRIES="0")
    proc.start()
    try:
        stack.wait_http("web-portal-degraded", "/readyz")
        degraded = Desk(url=stack.url("web-portal-degraded"), world=desk.world, env=desk.env,
                        passwords=desk.passwords)
        with degraded.session(user(desk, "cust")) as c:
            page = c.get(f"/portal/shipments/{desk.late}")
            assert page.status_code == 200
            assert 'data-backend="receipts" data-problem="unavailable"' in page.text
            assert 'data-backend="complaints" data-problem="unavailable"' in page.text
            if _customer_scope(desk):
                assert 'data-testid="timeline"' in page.text and 'data-testid="status"' in page.text
            for path in ("/portal/receipts", "/portal/complaints"):
                r = c.get(path)
                assert r.status_code == 200 and 'data-problem="unavailable"' in r.text, path
            assert c.get("/portal/").status_code == 200
    finally:
        proc.stop()


def test_a_customer_opens_a_complaint_about_its_waybill_and_follows_it(desk: Desk) -> None:
    with desk.session(user(desk, "cust")) as c:
        page = c.get("/portal/complaints", params={"waybill": desk.on_time})
        assert page.status_code == 200 and f'value="{desk.on_time}"' in page.text  # prefilled from the waybill
        r = c.post("/portal/complaints", data={
            "waybill_no": desk.on_time.lower(), "caller_name": "王经理", "phone": "13900003333", "category": "delay",
            "description": "<i>几号能到？</i>", "csrf": _csrf(page.text)})
        if not _customer_scope(desk):
            assert r.status_code == 503 and 'data-testid="form-error"' in r.text
            return
        assert r.status_code == 303, r.text
        location = r.headers["location"]
        assert location.startswith("/portal/complaints/")
        ticket = c.get(location)
        assert ticket.status_code == 200 and 'data-status="open"' in ticket.text
        assert "&lt;i&gt;几号能到？&lt;/i&gt;" in ticket.text and "<i>几号能到" not in ticket.text
        listed = c.get("/portal/complaints")
        assert f'data-complaint-id="{location.rsplit("/", 1)[1]}"' in listed.text
        # the rival customer does not find it
        with desk.session(user(desk, "rival")) as rival:
            assert rival.get(location).status_code == 404
