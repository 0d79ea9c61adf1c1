"""Tickets over HTTP against the running service: opening, every step, refused steps,
history, list, validation, roles, and the events the notifier relies on."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
import pytest

from tests.conftest import Infra, unique
from tests.integration.complaints.support import (
    Api,
    EventTap,
    complaint_body,
    feed,
    registered,
    station,
    waybill,
)

# The state machine as the contract describes it: which route is allowed from which status.
ALLOWED = {
    "open": {"respond", "ask", "customer-reply", "escalate", "resolve"},
    "responded": {"respond", "ask", "customer-reply", "escalate", "resolve"},
    "waiting_customer": {"respond", "ask", "customer-reply", "escalate", "resolve"},
    "escalated": {"respond", "ask", "customer-reply", "resolve"},
    "resolved": {"reopen", "survey", "close"},
    "closed": set(),
}
STEPS = {
    "respond": ("responses", {"by": "小李", "channel": "phone", "message": "您好，我们正在核实。"}),
    "ask": ("responses", {"by": "小李", "channel": "phone", "message": "请提供收货电话。", "asks_customer": True}),
    "customer-reply": ("customer-reply", {"message": "电话是 13900000000"}),
    "escalate": ("escalate", {"reason": "客户要求主管回电"}),
    "resolve": ("resolve", {"resolution": "已告知新的到货时间，客户认可"}),
    "reopen": ("reopen", {"reason": "客户说还没收到"}),
    "survey": ("survey", {"score": 4, "comment": "还可以"}),
    "close": ("close", None),
}
# How to reach each status from a new ticket.
PATHS = {
    "open": [],
    "responded": ["respond"],
    "waiting_customer": ["ask"],
    "escalated": ["escalate"],
    "resolved": ["resolve"],
    "closed": ["resolve", "survey"],
}


async def step(api: Api, complaint_id: str, name: str, role: str = "staff") -> tuple[int, dict]:
    route, body = STEPS[name]
    r = await api.post(f"/v1/complaints/{complaint_id}/{route}", body, role=role)
    return r.status_code, r.json()


async def test_open_returns_the_contract_fields_and_records_history(api: Api, tap: EventTap) -> None:
    body = complaint_body(category="damage", email="wang@example.com", language="en")
    r = await api.post("/v1/complaints", body)
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["status"] == "open"
    assert uuid.UUID(t["id"])
    for key in ("first_response_due", "resolution_due", "suggested_reply", "shipment"):
        assert key in t
    assert datetime.fromisoformat(t["first_response_due"]) < datetime.fromisoformat(t["resolution_due"])
    assert t["priority"] == "high"  # damage is a money loss for the customer
    assert t["language"] == "en" and t["suggested_reply"].startswith("Hello 王先生,")
    assert t["shipment"] is None
    assert t["phone"] == "13800001234"  # a single ticket shows the whole number to the desk
    assert [h["action"] for h in t["history"]] == ["open"]
    assert t["history"][0]["actor"] == "staff:test-staff"

    (opened,) = await tap.wait("complaints.complaint.opened.v1", t["id"])
    assert opened.data["complainant"] == {"customer_id": body["customer_id"], "caller_name": "王先生",
                                          "phone": "13800001234", "email": "wang@example.com", "language": "en"}
    assert opened.data["category"] == "damage" and opened.data["proactive"] is False
    assert opened.subject == t["id"]


async def test_every_step_in_a_tickets_life(api: Api, tap: EventTap, infra: Infra) -> None:
    t = await api.open(category="delay")
    cid = t["id"]
    code, t = await step(api, cid, "ask")
    assert code == 200 and t["status"] == "waiting_customer" and t["paused"] is True
    assert t["resolution_due"] is None  # clock stopped while we wait on the customer
    assert t["first_responded_at"] is not None
    code, t = await step(api, cid, "customer-reply")
    assert code == 200 and t["status"] == "responded" and t["paused"] is False
    assert t["resolution_due"] is not None
    code, t = await step(api, cid, "respond")
    assert code == 200 and t["status"] == "responded"
    code, t = await step(api, cid, "escalate")
    assert code == 200 and t["status"] == "escalated" and t["assigned_role"] == "supervisor"
    code, t = await step(api, cid, "resolve", role="supervisor")
    assert code == 200 and t["status"] == "resolved" and t["resolution"] == "已告知新的到货时间，客户认可"
    code, t = await step(api, cid, "reopen")
    assert code == 200 and t["status"] == "open" and t["resolved_at"] is None
    code, t = await step(api, cid, "resolve")
    code, t = await step(api, cid, "survey")
    assert code == 200 and t["status"] == "closed" and t["csat_score"] == 4 and t["csat_comment"] == "还可以"
    assert t["allowed_actions"] == []

    r = await api.get(f"/v1/complaints/{cid}")
    assert r.status_code == 200
    history = r.json()["history"]
    assert [h["action"] for h in history] == ["open", "ask_customer", "customer_reply", "respond", "escalate",
                                              "resolve", "reopen", "resolve", "survey"]
    assert [h["to_status"] for h in history][-1] == "closed"
    assert history[5]["actor"] == "supervisor:test-supervisor"
    assert history[1]["details"]["message"] == "请提供收货电话。"
    ats = [datetime.fromisoformat(h["at"]) for h in history]
    assert ats == sorted(ats)

    responded = await tap.wait("complaints.complaint.responded.v1", cid, 2)
    assert [e.data["message"] for e in responded] == ["请提供收货电话。", "您好，我们正在核实。"]
    resolved = await tap.wait("complaints.complaint.resolved.v1", cid, 2)
    assert resolved[0].data["resolution"] == "已告知新的到货时间，客户认可"
    assert resolved[0].data["complainant"]["phone"] == "13800001234"
    (escalated,) = await tap.wait("complaints.complaint.escalated.v1", cid)
    assert escalated.data["category"] == "delay" and escalated.data["escalated_by"] == "staff:test-staff"
    (reopened,) = await tap.wait("complaints.complaint.reopened.v1", cid)
    assert datetime.fromisoformat(reopened.data["reopened_at"]) == ats[6]
    (closed,) = await tap.wait("complaints.complaint.closed.v1", cid)
    assert closed.data["csat_score"] == 4 and datetime.fromisoformat(closed.data["closed_at"]) == ats[8]

    # The history is append-only: the database itself refuses to change or delete it.
    conn = await asyncpg.connect(infra.database_url)
    try:
        for sql in ("UPDATE complaints.complaint_history SET actor = 'someone' WHERE complaint_id = $1",
                    "DELETE FROM complaints.complaint_history WHERE complaint_id = $1"):
            with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
                await conn.execute(sql, uuid.UUID(cid))
        assert await conn.fetchval("SELECT count(*) FROM complaints.complaint_history WHERE complaint_id = $1",
                                   uuid.UUID(cid)) == 9
    finally:
        await conn.close()


async def test_close_without_survey(api: Api, tap: EventTap) -> None:
    t = await api.open()
    await step(api, t["id"], "resolve")
    code, t = await step(api, t["id"], "close")
    assert code == 200 and t["status"] == "closed" and t["closed_at"] is not None and t["csat_score"] is None
    (closed,) = await tap.wait("complaints.complaint.closed.v1", t["id"])
    assert closed.data["csat_score"] is None


@pytest.mark.parametrize("status", list(ALLOWED))
async def test_every_refused_step_is_409_and_changes_nothing(api: Api, status: str) -> None:
    t = await api.open()
    for name in PATHS[status]:
        code, t = await step(api, t["id"], name)
        assert code == 200, t
    assert t["status"] == status
    history_len = len(t["history"])
    refused = set(STEPS) - ALLOWED[status]
    for name in sorted(refused):
        code, body = await step(api, t["id"], name)
        assert code == 409, (status, name, body)
        assert body["error"]["code"] == "invalid_transition"
        assert body["error"]["details"]["status"] == status
    r = await api.get(f"/v1/complaints/{t['id']}")
    assert r.json()["status"] == status and len(r.json()["history"]) == history_len


async def test_bad_input_is_a_clear_4xx_and_nothing_is_stored(api: Api, infra: Infra) -> None:
    customer = "C" + unique()
    bad_bodies = [
        complaint_body(customer_id=customer, phone="not-a-phone"),
        complaint_body(customer_id=customer, category="rude"),
        complaint_body(customer_id=customer, channel="fax"),
        complaint_body(customer_id=customer, description="x" * 2001),
        complaint_body(customer_id=customer, description="   "),
        complaint_body(customer_id=customer, email="nope"),
        complaint_body(customer_id=customer, waybill_no="bad waybill!"),
        complaint_body(customer_id=customer, surprise="field"),
        {"customer_id": customer, "caller_name": "王先生"},
    ]
    for body in bad_bodies:
        r = await api.post("/v1/complaints", body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == "validation_error"
    r = await api.client.post("/v1/complaints", content=b'{"caller_name": "a\\u0000b"}',
                              headers={**api.infra.headers("staff"), "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_characters"
    conn = await asyncpg.connect(infra.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM complaints.complaints WHERE customer_id = $1", customer) == 0
        assert await conn.fetchval("SELECT count(*) FROM complaints.customers WHERE customer_id = $1", customer) == 0
    finally:
        await conn.close()

    t = await api.open()
    for route, body in (("resolve", {"resolution": ""}), ("survey", {"score": 6}), ("survey", {"score": "5"}),
                        ("responses", {"by": "小李", "channel": "pigeon", "message": "hi"}),
                        ("responses", {"by": "小李", "channel": "phone"})):
        r = await api.post(f"/v1/complaints/{t['id']}/{route}", body)
        assert r.status_code == 422, (route, body, r.text)
    r = await api.get(f"/v1/complaints/{t['id']}")
    assert r.json()["status"] == "open" and len(r.json()["history"]) == 1

    missing = uuid.uuid4()
    assert (await api.get(f"/v1/complaints/{missing}")).status_code == 404
    r = await api.post(f"/v1/complaints/{missing}/escalate")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert (await api.get("/v1/complaints/not-a-uuid")).status_code == 422
    r = await api.get("/v1/complaints", params={"cursor": "garbage!"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_cursor"
    assert (await api.get("/v1/complaints", params={"status": "lost"})).status_code == 422
    assert (await api.get("/v1/complaints", params={"limit": 501})).status_code == 422


async def test_list_filters_paginates_and_masks(api: Api) -> None:
    customer = "C" + unique()
    opened = [await api.open(customer_id=customer, email="li.si@example.com") for _ in range(5)]
    await step(api, opened[0]["id"], "escalate")
    seen: list[dict] = []
    cursor = None
    while True:
        params = {"customer_id": customer, "limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await api.get("/v1/complaints", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [s["id"] for s in seen] == [t["id"] for t in reversed(opened)]  # newest first, no gaps or repeats
    assert all(s["phone"] == "138****1234" and s["email"] == "l***@example.com" for s in seen)
    r = await api.get("/v1/complaints", params={"customer_id": customer, "status": "escalated"})
    assert [i["id"] for i in r.json()["items"]] == [opened[0]["id"]]
    r = await api.get("/v1/complaints", params={"customer_id": customer, "breached": "false"})
    assert len(r.json()["items"]) == 5


async def test_roles_and_branch_scoping(api: Api, infra: Infra) -> None:
    assert (await api.client.get("/v1/complaints")).status_code == 401
    r = await api.client.get("/v1/complaints", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"
    r = await api.client.get("/v1/complaints", headers=infra.headers("carrier", carrier="CARR1"))
    assert r.status_code == 403

    mine, other = station(), station()
    no = waybill()
    await feed(infra, registered(no, customer_id="C" + unique(), origin=mine, destination="WX02"))
    # A branch files through the partner system, about a waybill that touches its station.
    r = await api.post("/v1/complaints", complaint_body(waybill_no=no, channel="partner"), role="branch", branch=mine)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert r.json()["opened_by"] == "branch:test-branch"
    r = await api.post("/v1/complaints", complaint_body(waybill_no=no, channel="phone"), role="branch", branch=mine)
    assert r.status_code == 422 and r.json()["error"]["code"] == "channel_not_allowed"

    assert (await api.get(f"/v1/complaints/{cid}", role="branch", branch=mine)).status_code == 200
    r = await api.get(f"/v1/complaints/{cid}", role="branch", branch=other)
    assert r.status_code == 404  # existence must not leak
    listed = (await api.get("/v1/complaints", role="branch", branch=mine)).json()["items"]
    assert [i["id"] for i in listed] == [cid]
    assert (await api.get("/v1/complaints", role="branch", branch=other)).json()["items"] == []
    # A ticket without a waybill is the desk's alone.
    desk_only = await api.open()
    assert (await api.get(f"/v1/complaints/{desk_only['id']}", role="branch", branch=mine)).status_code == 404

    # Branches do not work tickets, and only admins change policies or run the monitor.
    r = await api.post(f"/v1/complaints/{cid}/escalate", role="branch", branch=mine)
    assert r.status_code == 403
    assert (await api.post("/v1/admin/sla-scan", role="supervisor")).status_code == 403
    assert (await api.put("/v1/admin/sla-policies", {"policies": []}, role="supervisor")).status_code == 403
    assert (await api.get("/v1/customers/C1", role="branch", branch=mine)).status_code == 403
    assert (await api.get("/v1/calls", role="branch", branch=mine)).status_code == 403


async def test_openapi_documents_every_route(api: Api) -> None:
    r = await api.client.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in ("/v1/complaints", "/v1/complaints/{complaint_id}", "/v1/complaints/{complaint_id}/responses",
                 "/v1/complaints/{complaint_id}/customer-reply", "/v1/complaints/{complaint_id}/escalate",
                 "/v1/complaints/{complaint_id}/resolve", "/v1/complaints/{complaint_id}/reopen",
                 "/v1/complaints/{complaint_id}/survey", "/v1/complaints/{complaint_id}/close",
                 "/v1/admin/sla-policies", "/v1/admin/sla-scan", "/v1/calls", "/v1/calls/callbacks",
                 "/v1/calls/{call_id}/callback-done", "/v1/customers/{customer_id}",
                 "/v1/customers/{customer_id}/visits", "/v1/customers/visits-due", "/v1/reports/complaints",
                 "/v1/complaints/{complaint_id}/claim", "/v1/reports/complaints/daily-work"):
        assert path in paths, path
    assert "409" in paths["/v1/complaints/{complaint_id}/resolve"]["post"]["responses"]
