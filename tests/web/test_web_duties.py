"""A CS day's duties through the desk over HTTP against the real stack: claiming a complaint,
the call log in words, every receipt step (re-sign, envelope arrival, found, cancel), resolving
an exception, sending a failed notice again, the day's work report; and the desk when its own
database is down, and the per-address sign-in limit."""

from __future__ import annotations

import io
import re
import secrets
import time
from datetime import datetime
from typing import Any

import httpx
from openpyxl import load_workbook

from shared.clock import business_day
from shared.devtools.stack import Stack
from shared.ratelimit import WINDOW_SECONDS
from tests.web.conftest import Desk, user
from tests.web.relay import desk_behind_relay
from tests.web.world import wait_for


def _csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m
    return m.group(1)


def _error(page: str) -> str:
    m = re.search(r'data-testid="form-error">([^<]*)<', page)
    assert m, page[:3000]
    return m.group(1)


def _api(desk: Desk, backend: str, role: str = "admin") -> httpx.Client:
    return httpx.Client(base_url=desk.env[f"LCS_{backend.upper()}_URL"], headers=desk.world.headers(role),
                        timeout=15)


def test_claiming_a_complaint_from_the_desk(desk: Desk) -> None:
    with _api(desk, "complaints", "staff") as api:
        r = api.post("/v1/complaints", json={"caller_name": "陈先生", "phone": "13800002222", "channel": "phone",
                                             "category": "delay", "description": "货还没到"})
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
    staff, sup, other = user(desk, "staff"), user(desk, "sup"), user(desk, "mate")
    with desk.session(staff) as c:
        page = c.get(f"/desk/complaints/{cid}")
        assert 'data-testid="claim-form"' in page.text and 'data-assigned-to=""' in page.text
        r = c.post(f"/desk/complaints/{cid}/claim", data={"csrf": _csrf(page.text)})
        assert r.status_code == 303
        page = c.get(f"/desk/complaints/{cid}")
        assert f'data-assigned-to="{staff}"' in page.text
        assert 'data-action="claim"' in page.text
        queue = c.get("/desk/complaints").text
        row = queue.split(f'data-complaint-id="{cid}"')[1].split("</tr>")[0]
        assert staff in row
    with desk.session(sup) as c:
        page = c.get(f"/desk/complaints/{cid}")
        r = c.post(f"/desk/complaints/{cid}/claim", data={"csrf": _csrf(page.text), "to": sup})
        assert r.status_code == 303
        assert f'data-assigned-to="{sup}"' in c.get(f"/desk/complaints/{cid}").text
    # someone else's ticket: refused with the holder's name, in the person's language
    with desk.session(other) as c:
        page = c.get(f"/desk/complaints/{cid}")
        r = c.post(f"/desk/complaints/{cid}/claim", data={"csrf": _csrf(page.text)})
        assert r.status_code == 409
        assert f"此投诉已由 {sup} 处理" in _error(r.text) and "already_claimed" in _error(r.text)


def test_the_call_log_speaks_words_not_codes(desk: Desk) -> None:
    with desk.session(user(desk, "staff")) as c:
        page = c.get("/desk/complaints")
        topic = page.text.split('data-testid="call-topic"')[1].split("</select>")[0]
        outcome = page.text.split('data-testid="call-outcome"')[1].split("</select>")[0]
        assert ">查货<" in topic and ">回单<" in topic and ">tracking<" not in topic
        assert ">待回电<" in outcome and ">callback<" not in outcome
        r = c.post("/desk/calls", data={"csrf": _csrf(page.text), "caller_name": "无锡站", "phone": "13800003333",
                                        "direction": "outbound", "topic": "receipt", "outcome": "answered",
                                        "waybill_no": desk.late})
        assert r.status_code == 303
        log = c.get("/desk/complaints").text.split('data-testid="call-log"')[1].split("</ul>")[0]
        assert "去电" in log and "回单" in log and "已解答" in log
    with desk.session(user(desk, "staff")) as c:
        english = c.get("/desk/complaints", headers={"Accept-Language": "en"}).text
        topic = english.split('data-testid="call-topic"')[1].split("</select>")[0]
        assert ">where is my cargo<" in topic


def _receipt(desk: Desk, waybill: str) -> dict[str, Any]:
    with _api(desk, "receipts") as api:
        r = api.get(f"/v1/receipts/{waybill}")
        return r.json() if r.status_code == 200 else {}  # type: ignore[no-any-return]


def _step(c: httpx.Client, waybill: str, action: str, **form: Any) -> httpx.Response:
    page = c.get("/desk/receipts")
    return c.post(f"/desk/receipts/{waybill}/{action}", data={"csrf": _csrf(page.text), **form})


def test_every_receipt_step_from_the_desk(desk: Desk) -> None:
    world = desk.world
    a = world.shipment(40, destination="GZ", promised_hours=72)
    b = world.shipment(41, destination="GZ", promised_hours=72)
    cod = world.shipment(42, destination="GZ", promised_hours=72, payment="cod")
    for w in (a, b, cod):
        world.deliver(w)
        wait_for(lambda w=w: _receipt(desk, w), lambda r: r.get("status") == "signed")  # type: ignore[misc]
    with desk.session(user(desk, "staff")) as c:
        page = c.get("/desk/receipts", params={"status": "signed"})
        row = page.text.split(f'data-waybill="{a}"')[1].split("</tr>")[0]
        assert 'data-testid="inspect-abnormal"' in row and 'data-testid="cancel"' not in row
        cod_row = page.text.split(f'data-waybill="{cod}"')[1].split("</tr>")[0]
        assert 'data-testid="cancel"' in cod_row  # cash on delivery only

        assert _step(c, a, "inspection", result="abnormal", anomalies=["stamp_missing"]).status_code == 303
        assert _receipt(desk, a)["status"] == "abnormal"
        page = c.get("/desk/receipts", params={"status": "abnormal"})
        assert "缺公章" in page.text.split(f'data-waybill="{a}"')[1].split("</tr>")[0]
        assert _step(c, a, "re-sign").status_code == 303
        assert _receipt(desk, a)["status"] == "signed"
        for w in (a, b):
            assert _step(c, w, "inspection", result="qualified").status_code == 303

        # a prepaid receipt cannot be cancelled: the refusal is shown, in words
        r = _step(c, a, "cancel", reason="客户不要了")
        assert r.status_code == 409 and "只有现付回单可以取消" in _error(r.text)
        assert _step(c, cod, "cancel", reason="已告知客户").status_code == 303
        assert _receipt(desk, cod)["status"] == "cancelled"

        page = c.get("/desk/receipts")
        r = c.post("/desk/envelopes", data={"csrf": _csrf(page.text), "from_station": world.codes["GZ"],
                                            "to_station": world.codes["SH"], "waybills": f"{a}\n{b}",
                                            "courier_no": f"SF{secrets.randbelow(10**9)}"})
        assert r.status_code == 303 and r.headers["location"].startswith("/desk/envelopes/")
        envelope = r.headers["location"]
        # the mailed receipt's row leads to its envelope
        r = c.get(f"/desk/receipts/{a}/envelope")
        assert r.status_code == 303 and r.headers["location"] == envelope
        page = c.get(envelope)
        assert 'data-testid="arrival-form"' in page.text and page.text.count('name="present"') == 2
        r = c.post(f"{envelope}/arrival", data={"csrf": _csrf(page.text), "present": [a]})  # b is missing
        assert r.status_code == 303
        page = c.get(envelope)
        assert 'data-status="received"' in page.text
        assert re.search(rf'data-waybill="{b}" data-outcome="missing"', page.text)
        assert (_receipt(desk, a)["status"], _receipt(desk, b)["status"]) == ("received", "lost")

        page = c.get("/desk/receipts", params={"status": "lost"})
        assert 'data-testid="receive-found"' in page.text.split(f'data-waybill="{b}"')[1].split("</tr>")[0]
        assert _step(c, b, "receive", note="夹在别的信封里").status_code == 303
        assert _receipt(desk, b)["status"] == "received"
        assert _step(c, a, "handover", to="customer", recipient="王经理").status_code == 303
        assert _step(c, b, "write-off", collector="李四").status_code == 303
        assert (_receipt(desk, a)["status"], _receipt(desk, b)["status"]) == ("handed_over", "written_off")


def test_resolving_an_exception_from_the_desk(desk: Desk) -> None:
    waybill = desk.world.shipment(43, promised_hours=72)
    with desk.session(user(desk, "staff")) as c:
        page = c.get(f"/desk/shipments/{waybill}")
        r = c.post(f"/desk/shipments/{waybill}/exceptions", data={
            "csrf": _csrf(page.text), "kind": "damage", "pieces": "1", "station": desk.world.codes["SH"],
            "description": "外箱破损"})
        assert r.status_code == 303
        page = c.get(f"/desk/shipments/{waybill}")
        assert 'data-testid="resolve-exception"' in page.text  # on the waybill's timeline too
        listed = wait_for(lambda: c.get("/desk/exceptions").text,
                          lambda t: f'data-waybill="{waybill}"' in t.split('data-testid="open-exceptions"')[1])
        row = listed.split('data-testid="open-exceptions"')[1].split(f'data-waybill="{waybill}"')[1].split("</tr>")[0]
        exception_id = re.search(r'action="/desk/exceptions/([0-9a-f-]{36})/resolve"', row).group(1)  # type: ignore[union-attr]
        r = c.post(f"/desk/exceptions/{exception_id}/resolve", data={"csrf": _csrf(listed), "resolution": "已赔付"})
        assert r.status_code == 303
        after = c.get("/desk/exceptions").text.split('data-testid="open-exceptions"')[1].split("</table>")[0]
        assert exception_id not in after
        again = c.post(f"/desk/exceptions/{exception_id}/resolve", data={"csrf": _csrf(listed), "resolution": "x"})
        assert again.status_code == 409 and "此异常已处理" in _error(again.text)
        timeline = c.get(f"/desk/shipments/{waybill}").text
        assert "已赔付" in timeline and f'data-exception-id="{exception_id}"' not in timeline


def _notifications(desk: Desk, waybill: str) -> list[dict[str, Any]]:
    with _api(desk, "notifier") as api:
        return list(api.get("/v1/notifications", params={"waybill_no": waybill, "limit": 50}).json()["items"])


def test_a_failed_notice_is_sent_again_from_the_desk(desk: Desk, stack: Stack) -> None:
    sinks = httpx.Client(base_url=stack.url("sinks"), timeout=10)
    try:
        sinks.put("/control", json={"sms": "reject", "fallback": "reject", "smtp": "reject"}).raise_for_status()
        # a consignee of its own: no hourly limit shared with the world's other waybills holds it back
        waybill = desk.world.shipment(44, promised_hours=1.5, phone=f"139{secrets.randbelow(10**8):08d}")
        desk.world.fix(lat=31.24, lon=121.39)  # still in Shanghai: late, the customers are told
        failed = wait_for(lambda: _notifications(desk, waybill),
                          lambda ns: any(n["status"] == "failed" and n["to"] for n in ns), timeout=30)
    finally:
        sinks.put("/control", json={"sms": "ok", "fallback": "ok", "smtp": "ok"})
        sinks.close()
    undelivered = [n for n in failed if n["status"] == "failed" and n["to"]]
    target = next((n for n in undelivered if n["channel"] == "email"), undelivered[0])  # no quiet hours
    with desk.session(user(desk, "staff")) as c:
        page = c.get("/desk/notifications", params={"status": "failed"})
        assert 'data-testid="retry-unavailable"' not in page.text  # the notifier publishes its retry
        row = page.text.split(f'data-notification-id="{target["id"]}"')[1].split("</tr>")[0]
        assert 'data-testid="retry"' in row
        r = c.post(f"/desk/notifications/{target['id']}/retry", data={"csrf": _csrf(page.text)})
        assert r.status_code == 303
        sent = wait_for(lambda: next(n for n in _notifications(desk, waybill) if n["id"] == target["id"]),
                        lambda n: n["status"] == "sent")
        assert sent["attempts"] >= 2
        # sent: a second retry is refused by the notifier and shown above the list
        r = c.post(f"/desk/notifications/{target['id']}/retry", data={"csrf": _csrf(page.text)})
        assert r.status_code == 409 and "invalid_transition" in _error(r.text)
        page = c.get("/desk/notifications", params={"status": "sent"})
        row = page.text.split(f'data-notification-id="{target["id"]}"')[1].split("</tr>")[0]
        assert 'data-testid="retry"' not in row


def test_the_days_work_report_per_staff_member(desk: Desk) -> None:
    name = user(desk, "staff")
    marker = f"daily-work {secrets.token_hex(6)}"
    with desk.session(name) as c:
        page = c.get("/desk/complaints")
        assert c.post("/desk/calls", data={"csrf": _csrf(page.text), "caller_name": "南京站", "phone": "13800004444",
                                           "direction": "outbound", "topic": "receipt", "outcome": "answered",
                                           "note": marker}).status_code == 303
        # The report of the business day (Beijing) the call was recorded on, as complaints counts
        # it: a day computed in the test before or after the call may be another one at midnight.
        with _api(desk, "complaints") as api:
            calls = api.get("/v1/calls", params={"limit": 200}).json()["items"]
        [call] = [x for x in calls if x["note"] == marker]
        today = business_day(datetime.fromisoformat(call["called_at"])).isoformat()
        report = c.get("/desk/reports/daily-work", params={"date": today})
        assert report.status_code == 200
        row = report.text.split(f'data-person="{name}"')[1].split("</tr>")[0]
        calls = int(re.search(r'data-key="calls_logged">(\d+)<', row).group(1))  # type: ignore[union-attr]
        chased = int(re.search(r'data-key="receipts_chased">(\d+)<', row).group(1))  # type: ignore[union-attr]
        assert calls >= 1 and chased >= 1
        if 'data-missing="missing_notes"' in report.text:  # tracking has no notes report yet: said, not zero
            assert re.search(r'data-key="notes_written">—<', row)
            assert "GET /v1/reports/notes?date=" in report.text
        csv = c.get("/desk/reports/daily-work", params={"date": today, "format": "csv"})
        assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
        lines = csv.content.decode("utf-8-sig").splitlines()
        assert lines[0].startswith("客服 staff,用户名 user,来电记录 calls logged")
        assert any(f",{name}," in line for line in lines) and lines[-1].startswith("合计 total")
        xlsx = c.get("/desk/reports/daily-work", params={"date": today, "format": "xlsx"})
        ws = load_workbook(io.BytesIO(xlsx.content)).active
        header = [cell.value for cell in ws[1]]
        rows = {r[1]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)}
        assert isinstance(rows[name]["来电记录 calls logged"], int) and rows[name]["来电记录 calls logged"] >= 1
        volume = c.get("/desk/reports/daily-volume", params={"date": today})
        assert volume.status_code == 200
        if 'data-testid="unavailable"' in volume.text:
            assert "/v1/reports/daily-volume" in volume.text
        assert c.get("/desk/reports/daily-work", params={"date": "2026-02-30"}).status_code == 422


# --- web's own database down --------------------------------------------------------------

def test_when_its_database_is_down_a_browser_gets_a_page_and_a_script_json(desk: Desk, stack: Stack) -> None:
    with desk_behind_relay(desk, stack) as (relayed, relay), relayed.session(user(desk, "staff")) as c:
        assert c.get("/desk/").status_code == 200
        relay.cut()
        html = wait_for(lambda: c.get("/desk/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}),
                        lambda r: r.status_code == 503)
        assert html.headers["content-type"].startswith("text/html") and html.headers["retry-after"]
        assert 'data-testid="error" data-code="unavailable"' in html.text and "服务暂时不可用" in html.text
        script = c.get("/desk/", headers={"Accept": "application/json"})
        assert script.status_code == 503 and script.json()["error"]["code"] == "unavailable"


# --- the per-address sign-in limit --------------------------------------------------------

def test_too_many_failed_sign_ins_from_one_address_get_a_429_page(desk: Desk) -> None:
    """From an address of its own (127.0.0.x on the loopback), so the rest of the suite's
    sign-ins from 127.0.0.1 are not counted with it."""
    address = f"127.0.{secrets.randbelow(200) + 20}.{secrets.randbelow(200) + 20}"
    transport = httpx.HTTPTransport(local_address=address)
    # The limiter counts failures per clock minute (`shared.ratelimit.WINDOW_SECONDS`, epoch time,
    # the same clock as this process): eleven argon2 sign-ins take some seconds, and across a
    # minute's end the count would start again. So they start with at least half a minute ahead.
    if (left := WINDOW_SECONDS - time.time() % WINDOW_SECONDS) < WINDOW_SECONDS / 2:
        time.sleep(left + 0.05)
    names = [u for u in desk.passwords if not u.startswith(("lock", "gone"))]
    with httpx.Client(base_url=desk.url, timeout=15, transport=transport) as c:
        token = _csrf(c.get("/login").text)
        statuses = []
        for i in range(12):  # spread over accounts: no account reaches its own lockout
            r = c.post("/login", data={"username": names[i % len(names)], "password": f"wrong-{i}-password",
                                       "csrf": token})
            statuses.append(r.status_code)
            if r.status_code == 429:
                break
        assert statuses[:10] == [401] * 10 and statuses[-1] == 429, statuses
        assert r.headers["content-type"].startswith("text/html") and int(r.headers["retry-after"]) >= 1
        assert 'data-code="rate_limited"' in r.text and 'data-testid="login-form"' in r.text
        right = c.post("/login", data={"username": user(desk, "sup"), "password": desk.passwords[user(desk, "sup")],
                                       "csrf": token})
        assert right.status_code == 429  # even the right password waits out the minute
    for name in names:  # another address signs in as usual (and each account's failures reset)
        with desk.session(name) as other:
            home = "/portal/" if name.startswith(("cust", "rival")) else "/desk/"  # the key-account logins
            assert other.get(home).status_code == 200
