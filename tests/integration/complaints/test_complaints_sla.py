"""SLA policies and the breach monitor, with the clock under the test's control
(`POST /v1/admin/sla-scan?now=`)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from tests.conftest import Infra, unique
from tests.integration.complaints.support import Api, EventTap

BREACHED = "complaints.complaint.sla_breached.v1"
DEFAULTS = {  # (category, priority) -> (first response, resolution) minutes, from the seed and domain.md
    (None, None): (5, 48 * 60), ("delay", None): (5, 24 * 60), ("damage", None): (5, 72 * 60),
    ("loss", None): (5, 72 * 60), ("quote", None): (5, 8 * 60), ("billing", None): (5, 72 * 60),
    ("attitude", None): (5, 48 * 60), ("other", None): (5, 48 * 60),
}


async def scan(api: Api, at: datetime) -> list[dict[str, Any]]:
    r = await api.post("/v1/admin/sla-scan", role="admin", params={"now": at.isoformat()})
    assert r.status_code == 200, r.text
    assert datetime.fromisoformat(r.json()["now"]) == at
    found: list[dict[str, Any]] = r.json()["breaches"]
    return found


def mine(found: list[dict[str, Any]], complaint_id: str) -> list[tuple[str, bool]]:
    return [(b["kind"], b["escalated"]) for b in found if b["complaint_id"] == complaint_id]


async def test_breach_is_announced_once_and_escalates_to_the_supervisor(api: Api, tap: EventTap,
                                                                       infra: Infra) -> None:
    customer = "C" + unique()
    t = await api.open(customer_id=customer, category="delay", waybill_no="WB" + unique())
    assert (t["first_response_minutes"], t["resolution_minutes"]) == (5, 24 * 60)
    cid = t["id"]
    first_due = datetime.fromisoformat(t["first_response_due"])
    resolution_due = datetime.fromisoformat(t["resolution_due"])

    assert mine(await scan(api, first_due - timedelta(minutes=1)), cid) == []
    assert mine(await scan(api, first_due + timedelta(minutes=1)), cid) == [("first_response", True)]
    assert mine(await scan(api, first_due + timedelta(minutes=2)), cid) == []  # once per breach kind

    r = await api.get(f"/v1/complaints/{cid}")
    ticket = r.json()
    assert ticket["status"] == "escalated" and ticket["assigned_role"] == "supervisor"
    assert ticket["breaches"] == ["first_response"] and ticket["breached"] is True
    breach, escalation = ticket["history"][-2:]
    assert breach["action"] == "sla_breached" and breach["actor"] == "system:sla-monitor"
    assert breach["details"]["kind"] == "first_response"
    assert escalation["action"] == "escalate" and escalation["actor"] == "system:sla-monitor"
    assert escalation["from_status"] == "open" and escalation["to_status"] == "escalated"
    assert escalation["details"]["assigned_role"] == "supervisor"

    listed = (await api.get("/v1/complaints", params={"customer_id": customer, "breached": "true"})).json()
    assert [i["id"] for i in listed["items"]] == [cid]

    (event,) = await tap.wait(BREACHED, cid)
    assert event.data["kind"] == "first_response" and event.data["category"] == "delay"
    (escalated,) = await tap.wait("complaints.complaint.escalated.v1", cid)
    assert escalated.data["reason"] == "sla_breached" and escalated.data["escalated_by"] == "system:sla-monitor"
    assert datetime.fromisoformat(event.data["due_at"]) == first_due
    assert event.data["customer_id"] == customer and event.data["waybill_no"] == t["waybill_no"]

    # The resolution deadline passes too: announced once more, the ticket is already with the supervisor.
    assert mine(await scan(api, resolution_due + timedelta(minutes=1)), cid) == [("resolution", False)]
    assert mine(await scan(api, resolution_due + timedelta(days=3)), cid) == []
    events = await tap.wait(BREACHED, cid, 2)
    # Nothing more may come. The marker: an event the service emits after the scans (a new
    # complaint's `opened`) has reached the tap; the relay publishes the outbox in order and the
    # tap's queue keeps it, so anything the scans emitted would be on the tap by then.
    sentinel = await api.open()
    await tap.wait("complaints.complaint.opened.v1", sentinel["id"])
    assert sorted(e.data["kind"] for e in tap.of(BREACHED, cid)) == ["first_response", "resolution"]
    assert len(events) == 2

    conn = await asyncpg.connect(infra.database_url)
    try:
        n = await conn.fetchval("SELECT count(*) FROM complaints.outbox WHERE type = $1 "
                                "AND (body::jsonb -> 'data' ->> 'complaint_id') = $2", BREACHED, cid)
        assert n == 2
        assert await conn.fetchval("SELECT count(*) FROM complaints.sla_breaches WHERE complaint_id = $1",
                                   uuid.UUID(cid)) == 2
    finally:
        await conn.close()


async def test_clock_pauses_while_waiting_on_the_customer(api: Api) -> None:
    t = await api.open(category="quote")
    cid = t["id"]
    first_due = datetime.fromisoformat(t["first_response_due"])
    original_resolution_due = datetime.fromisoformat(t["resolution_due"])
    r = await api.post(f"/v1/complaints/{cid}/responses",
                       {"by": "小李", "channel": "phone", "message": "请发一下货物尺寸。", "asks_customer": True})
    t = r.json()
    assert t["status"] == "waiting_customer" and t["resolution_due"] is None
    assert datetime.fromisoformat(t["first_response_due"]) == first_due  # answered in time
    # Weeks later the customer still has not answered: no breach while the clock stands still.
    assert mine(await scan(api, original_resolution_due + timedelta(days=30)), cid) == []
    r = await api.get(f"/v1/complaints/{cid}")
    assert r.json()["status"] == "waiting_customer" and r.json()["breaches"] == []
    # The reply restarts the clock; the deadline moves back by the pause.
    r = await api.post(f"/v1/complaints/{cid}/customer-reply", {"message": "长宽高 1.2 x 0.8 x 1 米"})
    t = r.json()
    assert t["status"] == "responded" and t["paused"] is False
    assert datetime.fromisoformat(t["resolution_due"]) >= original_resolution_due


async def test_sla_policies_are_seeded_and_changed_by_admins_only(api: Api) -> None:
    r = await api.get("/v1/admin/sla-policies")
    assert r.status_code == 200
    body = r.json()
    got = {(p["category"], p["priority"]): (p["first_response_minutes"], p["resolution_minutes"])
           for p in body["policies"]}
    assert got == DEFAULTS
    assert body["business_hours"]["tz"] == "Asia/Shanghai"
    assert (body["business_hours"]["start"], body["business_hours"]["end"]) == ("08:00", "18:00")

    original = [{"category": c, "priority": p, "first_response_minutes": f, "resolution_minutes": res}
                for (c, p), (f, res) in DEFAULTS.items()]
    changed = [*original, {"category": "quote", "priority": "urgent", "first_response_minutes": 2,
                           "resolution_minutes": 60}]
    try:
        assert (await api.put("/v1/admin/sla-policies", {"policies": changed}, role="staff")).status_code == 403
        r = await api.put("/v1/admin/sla-policies", {"policies": changed}, role="admin")
        assert r.status_code == 200, r.text
        updated = [p for p in r.json()["policies"] if p["priority"] == "urgent"]
        assert updated[0]["updated_by"] == "admin:test-admin"
        t = await api.open(category="quote", priority="urgent")
        assert (t["first_response_minutes"], t["resolution_minutes"]) == (2, 60)
        assert "在1小时内回复您报价" in t["suggested_reply"]  # the reply promises the ticket's own target
        t = await api.open(category="quote")
        assert t["priority"] == "low" and (t["first_response_minutes"], t["resolution_minutes"]) == (5, 480)
        assert "在8小时内回复您报价" in t["suggested_reply"]

        bad_sets = [
            [{"category": "delay", "priority": None, "first_response_minutes": 90, "resolution_minutes": 60}],
            [original[0], original[0]],
            [{"category": "speed", "priority": None, "first_response_minutes": 5, "resolution_minutes": 60}],
            [{"category": None, "priority": None, "first_response_minutes": 0, "resolution_minutes": 60}],
            [],
        ]
        for policies in bad_sets:
            r = await api.put("/v1/admin/sla-policies", {"policies": policies}, role="admin")
            assert r.status_code == 422, (policies, r.text)
        after = (await api.get("/v1/admin/sla-policies")).json()["policies"]
        assert len(after) == len(changed)  # refused sets changed nothing
    finally:
        r = await api.put("/v1/admin/sla-policies", {"policies": original}, role="admin")
        assert r.status_code == 200


async def test_scan_needs_an_offset_and_an_admin(api: Api) -> None:
    r = await api.post("/v1/admin/sla-scan", role="admin", params={"now": "2026-11-28T10:00:00"})
    assert r.status_code == 422
    r = await api.post("/v1/admin/sla-scan", role="admin")
    assert r.status_code == 200 and "breaches" in r.json()
