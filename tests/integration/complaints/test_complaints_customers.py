"""Call log, customer files and the monthly return-visit list."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.conftest import Infra, unique
from tests.integration.complaints.support import CST, Api, feed, now, registered, waybill


async def test_calls_are_logged_and_listed_masked(api: Api) -> None:
    customer = "C" + unique()
    no = waybill()
    t = await api.open(customer_id=customer)
    bodies = [
        {"customer_id": customer, "caller_name": "王先生", "phone": "13812345678", "waybill_no": no,
         "topic": "delay", "outcome": "complaint_opened", "complaint_id": t["id"], "note": "很着急"},
        {"customer_id": customer, "caller_name": "王先生", "phone": "13812345678", "topic": "quote",
         "outcome": "callback", "callback_due": (now() + timedelta(hours=8)).isoformat()},
        {"customer_id": customer, "caller_name": "王先生", "phone": "021-55556666", "direction": "outbound",
         "topic": "tracking", "outcome": "answered", "called_at": (now() - timedelta(minutes=5)).isoformat()},
    ]
    created = []
    for body in bodies:
        r = await api.post("/v1/calls", body)
        assert r.status_code == 201, r.text
        created.append(r.json())
    assert created[0]["phone"] == "13812345678" and created[0]["recorded_by"] == "staff:test-staff"
    assert created[1]["callback_due"] is not None

    seen, cursor = [], None
    while True:
        params = {"customer_id": customer, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/calls", params=params)).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert {c["id"] for c in seen} == {c["id"] for c in created}
    assert seen[-1]["id"] == created[2]["id"]  # called earliest, listed last
    assert {c["phone"] for c in seen} == {"138****5678", "021-****6666"}
    r = await api.get("/v1/calls", params={"customer_id": customer, "outcome": "callback"})
    assert [c["id"] for c in r.json()["items"]] == [created[1]["id"]]
    r = await api.get("/v1/calls", params={"waybill_no": no})
    assert [c["id"] for c in r.json()["items"]] == [created[0]["id"]]

    bad = [
        {**bodies[1], "callback_due": None},  # a callback needs its due time
        {**bodies[1], "callback_due": "2026-11-28T10:00:00"},  # time without an offset
        {**bodies[0], "complaint_id": "6f1c1b8e-0000-4000-8000-000000000000"},
        {**bodies[0], "topic": "weather"},
        {**bodies[0], "phone": "12"},
    ]
    for body in bad:
        r = await api.post("/v1/calls", body)
        assert r.status_code == 422, (body, r.text)
    codes = [(await api.post("/v1/calls", b)).json()["error"]["code"] for b in bad[:1]]
    assert codes == ["callback_due_required"]
    assert len((await api.get("/v1/calls", params={"customer_id": customer})).json()["items"]) == 3


async def test_callbacks_owed_are_a_worklist_until_a_returning_call_settles_them(api: Api) -> None:
    customer = "C" + unique()
    base = {"customer_id": customer, "caller_name": "李女士", "phone": "13912345678", "topic": "quote"}

    async def call(**extra: object) -> dict:
        r = await api.post("/v1/calls", {**base, **extra})
        assert r.status_code == 201, r.text
        return r.json()

    async def owed(**params: object) -> list[dict]:
        r = await api.get("/v1/calls/callbacks", params={"customer_id": customer, **params})
        assert r.status_code == 200, r.text
        return r.json()["items"]

    late = await call(outcome="callback", callback_due=(now() - timedelta(minutes=10)).isoformat())
    later = await call(outcome="callback", callback_due=(now() + timedelta(hours=3)).isoformat())
    await call(outcome="answered")  # an ordinary call owes nothing
    items = await owed()
    assert [c["id"] for c in items] == [late["id"], later["id"]]  # soonest due first
    assert [c["overdue"] for c in items] == [True, False] and items[0]["attempts"] == 0
    assert items[0]["phone"] == "139****5678"
    assert [c["id"] for c in await owed(due_before=now().isoformat())] == [late["id"]]
    page = (await api.get("/v1/calls/callbacks", params={"customer_id": customer, "limit": 1})).json()
    assert [c["id"] for c in page["items"]] == [late["id"]] and page["next_cursor"]
    page = (await api.get("/v1/calls/callbacks", params={"customer_id": customer, "limit": 1,
                                                         "cursor": page["next_cursor"]})).json()
    assert [c["id"] for c in page["items"]] == [later["id"]] and page["next_cursor"] is None

    # nobody answers: an attempt, still owed
    attempt = await call(direction="outbound", outcome="no_answer", callback_of=late["id"])
    assert attempt["callback_of"] == late["id"] and attempt["settles_callback"] is False
    items = await owed()
    assert [c["id"] for c in items] == [late["id"], later["id"]] and items[0]["attempts"] == 1
    # answered: settled, off the list; returning it again is a conflict
    done = await call(direction="outbound", outcome="answered", callback_of=late["id"])
    assert done["settles_callback"] is True
    assert [c["id"] for c in await owed()] == [later["id"]]
    r = await api.post("/v1/calls", {**base, "outcome": "answered", "callback_of": late["id"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "callback_settled", r.text
    # the customer asks to be called again: the old one settled, a new one owed
    again = await call(direction="outbound", outcome="callback", callback_of=later["id"],
                       callback_due=(now() + timedelta(days=1)).isoformat())
    assert [c["id"] for c in await owed()] == [again["id"]]
    # what cannot be returned
    r = await api.post("/v1/calls", {**base, "outcome": "answered", "callback_of": done["id"]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_a_callback", r.text
    r = await api.post("/v1/calls", {**base, "outcome": "answered",
                                     "callback_of": "6f1c1b8e-0000-4000-8000-000000000000"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_call", r.text
    assert len((await api.get("/v1/calls", params={"customer_id": customer})).json()["items"]) == 6


async def test_a_callback_marked_done_leaves_the_worklist(api: Api) -> None:
    customer = "C" + unique()
    base = {"customer_id": customer, "caller_name": "赵先生", "phone": "13712345678", "topic": "quote"}

    async def call(**extra: object) -> dict:
        r = await api.post("/v1/calls", {**base, **extra})
        assert r.status_code == 201, r.text
        return r.json()

    async def owed() -> list[str]:
        r = await api.get("/v1/calls/callbacks", params={"customer_id": customer})
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    first = await call(outcome="callback", callback_due=(now() + timedelta(hours=1)).isoformat())
    second = await call(outcome="callback", callback_due=(now() + timedelta(hours=2)).isoformat())
    assert await owed() == [first["id"], second["id"]]

    # the customer called in again and got the quote: the desk marks the promised callback done
    r = await api.post(f"/v1/calls/{first['id']}/callback-done", {"note": "客户来电已报价"})
    assert r.status_code == 200, r.text
    marked = r.json()
    assert marked["id"] == first["id"] and marked["callback_done_by"] == "staff:test-staff"
    assert marked["callback_done_note"] == "客户来电已报价" and marked["callback_done_at"] is not None
    assert marked["phone"] == "137****5678"
    assert await owed() == [second["id"]]
    listed = {c["id"]: c for c in (await api.get("/v1/calls", params={"customer_id": customer})).json()["items"]}
    assert listed[first["id"]]["callback_done_by"] == "staff:test-staff"
    assert listed[second["id"]]["callback_done_at"] is None

    # settled once: neither marked done again nor returned by a call
    r = await api.post(f"/v1/calls/{first['id']}/callback-done")
    assert r.status_code == 409 and r.json()["error"]["code"] == "callback_settled", r.text
    r = await api.post("/v1/calls", {**base, "outcome": "answered", "callback_of": first["id"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "callback_settled", r.text
    # returned by a call first: marking it done is a conflict too (no body needed)
    await call(direction="outbound", outcome="answered", callback_of=second["id"])
    r = await api.post(f"/v1/calls/{second['id']}/callback-done")
    assert r.status_code == 409 and r.json()["error"]["code"] == "callback_settled", r.text
    assert await owed() == []

    # what cannot be marked done
    answered = await call(outcome="answered")
    r = await api.post(f"/v1/calls/{answered['id']}/callback-done")
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_a_callback", r.text
    r = await api.post("/v1/calls/6f1c1b8e-0000-4000-8000-000000000000/callback-done")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
    r = await api.post(f"/v1/calls/{second['id']}/callback-done", {"note": "x", "surprise": 1})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", r.text
    r = await api.post(f"/v1/calls/{second['id']}/callback-done", role="branch", branch="SH01")
    assert r.status_code == 403


async def test_customer_file_brings_everything_together(api: Api, infra: Infra) -> None:
    customer = "C" + unique()
    assert (await api.get(f"/v1/customers/{customer}")).status_code == 404
    r = await api.put(f"/v1/customers/{customer}", {
        "name": "无锡精工", "phone": "13800000000", "email": "ops@example.com", "language": "en",
        "contacts": [{"name": "张经理", "role": "物流主管", "phone": "13900000001"}]})
    assert r.status_code == 200, r.text
    file = r.json()
    assert file["key_flag"] is False and file["key_customer"] is False and file["language"] == "en"
    assert file["contacts"] == [{"name": "张经理", "role": "物流主管", "phone": "13900000001", "email": None}]

    for body in ({"contacts": [{"name": "x", "phone": "nope"}]}, {"name": "x" * 201}, {"vip": True},
                 {"language": "english!"}):
        assert (await api.put(f"/v1/customers/{customer}", body)).status_code == 422, body

    no = waybill()
    await feed(infra, registered(no, customer_id=customer))
    t1 = await api.open(customer_id=customer, waybill_no=no, category="delay")
    assert t1["language"] == "en"  # from the customer file
    t2 = await api.open(customer_id=customer)
    for t, score in ((t1, 5), (t2, 2)):
        await api.post(f"/v1/complaints/{t['id']}/resolve", {"resolution": "已处理"})
        await api.post(f"/v1/complaints/{t['id']}/survey", {"score": score})
    await api.open(customer_id=customer)
    await api.post("/v1/calls", {"customer_id": customer, "caller_name": "张经理", "phone": "13900000001",
                                 "topic": "tracking", "outcome": "answered"})

    r = await api.put(f"/v1/customers/{customer}", {"key_customer": True})
    file = r.json()
    assert file["key_flag"] is True and file["key_customer"] is True
    assert file["name"] == "无锡精工"  # fields not given are unchanged
    assert file["shipments_count"] == 1 and file["shipments"][0]["waybill_no"] == no
    assert file["complaints_count"] == 3 and file["open_complaints"] == 1
    assert file["csat"] == {"average": 3.5, "count": 2,
                            "distribution": {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}}
    assert file["calls_count"] == 1
    assert file["last_visit"] is None

    visited = now() - timedelta(hours=1)
    r = await api.post(f"/v1/customers/{customer}/visits", {"visited_at": visited.isoformat(), "by": "小李",
                                                            "channel": "onsite", "note": "满意",
                                                            "satisfaction": 5})
    assert r.status_code == 201, r.text
    file = (await api.get(f"/v1/customers/{customer}")).json()
    assert file["last_visit"]["by"] == "小李"
    assert datetime.fromisoformat(file["last_visit"]["visited_at"]) == visited

    assert (await api.post("/v1/customers/NOBODY-" + unique() + "/visits",
                           {"visited_at": visited.isoformat()})).status_code == 404
    r = await api.post(f"/v1/customers/{customer}/visits", {"visited_at": "2026-11-28T10:00:00"})
    assert r.status_code == 422
    assert (await api.get("/v1/customers/bad%20id")).status_code == 422


async def test_visits_due_lists_key_and_new_customers_without_a_visit_this_month(api: Api) -> None:
    key, fresh = "K" + unique(), "N" + unique()
    await api.put(f"/v1/customers/{key}", {"name": "重点客户", "key_customer": True})
    r = await api.put(f"/v1/customers/{fresh}", {"name": "新客户"})
    # The month (Beijing) the service first saw the newer customer in, not the month it is now:
    # on a month's last evening the two can differ, and a customer first seen after the month
    # asked about is not due in it. `key`, seen just before, is new in it too (90 days).
    seen = datetime.fromisoformat(r.json()["first_seen_at"])
    month = seen.astimezone(CST).strftime("%Y-%m")
    start_of_month = datetime.fromisoformat(f"{month}-01T00:00:00+08:00")
    last_month_visit = start_of_month - timedelta(days=3)
    r = await api.post(f"/v1/customers/{key}/visits", {"visited_at": last_month_visit.isoformat()})
    assert r.status_code == 201

    r = await api.get("/v1/customers/visits-due", params={"month": month})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["month"] == month
    due = {d["customer_id"]: d for d in body["items"]}
    assert due[key]["reasons"] == ["key_customer", "new_customer"]
    assert datetime.fromisoformat(due[key]["last_visit_at"]) == last_month_visit
    assert due[fresh]["reasons"] == ["new_customer"] and due[fresh]["last_visit_at"] is None
    order = [d["customer_id"] for d in body["items"]]
    assert order.index(key) < order.index(fresh)  # key customers are called first
    assert all("key_customer" in d["reasons"] for d in body["items"][: order.index(key) + 1])

    # visited in the month (now() may be in the next one)
    await api.post(f"/v1/customers/{key}/visits", {"visited_at": seen.isoformat(), "channel": "phone"})
    due = {d["customer_id"] for d in (await api.get("/v1/customers/visits-due", params={"month": month})).json()
           ["items"]}
    assert key not in due and fresh in due

    for bad in ("2026-13", "26-11", "2026/11", ""):
        r = await api.get("/v1/customers/visits-due", params={"month": bad})
        assert r.status_code == 422, bad
