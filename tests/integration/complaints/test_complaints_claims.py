"""Claiming a ticket and the day's work report, over HTTP against the running service."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import httpx

from shared.clock import business_day
from tests.conftest import unique
from tests.integration.complaints.support import Api


async def _as(api: Api, sub: str, role: str, path: str, json: Any = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {api.infra.token(role, sub=sub)}"}  # type: ignore[arg-type]
    return await api.client.post(path, json=json, headers=headers)


async def test_a_claim_is_recorded_idempotent_for_its_holder_and_refused_to_someone_else(api: Api) -> None:
    ticket = await api.open()
    path = f"/v1/complaints/{ticket['id']}/claim"
    alice, bob, sue = (f"{n}{unique()[:6]}".lower() for n in ("alice", "bob", "sue"))
    assert ticket["assigned_to"] is None and ticket["claimed_at"] is None

    r = await _as(api, alice, "staff", path)
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["assigned_to"] == alice and first["claimed_at"] is not None
    assert [h["action"] for h in first["history"]] == ["open", "claim"]
    assert first["history"][-1]["actor"] == f"staff:{alice}"

    again = (await _as(api, alice, "staff", path)).json()  # a double click: nothing changes
    assert again["claimed_at"] == first["claimed_at"] and len(again["history"]) == 2

    r = await _as(api, bob, "staff", path)
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_claimed"
    assert r.json()["error"]["details"] == {"assigned_to": alice}
    r = await _as(api, bob, "staff", path, {"to": sue})
    assert r.status_code == 403 and r.json()["error"]["code"] == "reassign_not_allowed"

    r = await _as(api, sue, "supervisor", path, {"to": bob})  # the supervisor hands it to bob
    assert r.status_code == 200 and r.json()["assigned_to"] == bob
    assert r.json()["history"][-1]["details"] == {"assigned_to": bob, "previous": alice}
    got = await api.get(f"/v1/complaints/{ticket['id']}")
    assert got.json()["assigned_to"] == bob
    listed = await api.get("/v1/complaints", params={"assigned_to": bob})
    assert [c["id"] for c in listed.json()["items"]] == [ticket["id"]]

    assert (await api.post(path, role="branch", branch="SH01")).status_code == 403
    assert (await api.client.post(path)).status_code == 401
    r = await _as(api, alice, "staff", f"/v1/complaints/{'0' * 8}-0000-4000-8000-{'0' * 12}/claim")
    assert r.status_code == 404


async def test_a_closed_ticket_cannot_be_claimed(api: Api) -> None:
    ticket = await api.open()
    for route, body in (("resolve", {"resolution": "已解决"}), ("close", None)):
        assert (await api.post(f"/v1/complaints/{ticket['id']}/{route}", body)).status_code == 200
    r = await api.post(f"/v1/complaints/{ticket['id']}/claim", role="admin")
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_transition"


async def test_the_days_work_counts_calls_answers_in_time_and_resolutions_per_person(api: Api) -> None:
    alice = f"alice{unique()[:6]}".lower()
    ticket = await api.open(category="delay")
    tid = ticket["id"]
    assert (await _as(api, alice, "staff", f"/v1/complaints/{tid}/claim")).status_code == 200
    r = await _as(api, alice, "staff", f"/v1/complaints/{tid}/responses",
                  {"by": "小李", "channel": "phone", "message": "您好，正在核实。"})
    assert r.status_code == 200, r.text
    r = await _as(api, alice, "staff", f"/v1/complaints/{tid}/resolve", {"resolution": "已告知新的到货时间"})
    assert r.status_code == 200, r.text
    # What alice did, each on the business day (Beijing) the service stamped it with: the steps
    # from the ticket's history, the calls from their called_at. A Beijing midnight may fall
    # between any two of them, so each day's row is worked out from these times.
    steps = [(h["action"], business_day(datetime.fromisoformat(h["at"]))) for h in r.json()["history"]
             if h["action"] in ("claim", "respond", "resolve")]
    assert [a for a, _ in steps] == ["claim", "respond", "resolve"]
    calls: list[tuple[str, date]] = []
    for topic in ("receipt", "tracking"):
        r = await _as(api, alice, "staff", "/v1/calls", {"caller_name": "无锡站", "phone": "13800001234",
                                                         "direction": "outbound", "topic": topic,
                                                         "outcome": "answered"})
        assert r.status_code == 201, r.text
        calls.append((topic, business_day(datetime.fromisoformat(r.json()["called_at"]))))

    def did(action: str, day: date) -> int:
        return sum(1 for a, d in steps if a == action and d == day)

    days = sorted({d for _, d in steps} | {d for _, d in calls})
    for today in days:
        r = await api.get("/v1/reports/complaints/daily-work", params={"date": today.isoformat()})
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["date"] == today.isoformat() and report["from"] < report["to"]
        [row] = [p for p in report["people"] if p["person"] == alice]
        logged = sum(1 for _, d in calls if d == today)
        # answered in time and resolved in time: the ticket's deadlines are hours away
        assert row == {"person": alice, "calls_logged": logged,
                       "receipts_chased": sum(1 for t, d in calls if t == "receipt" and d == today),
                       "callbacks_returned": 0, "complaints_opened": 0, "complaints_claimed": did("claim", today),
                       "complaints_answered": did("respond", today), "first_answers": did("respond", today),
                       "first_answers_within_sla": did("respond", today),
                       "complaints_resolved": did("resolve", today), "resolved_within_sla": did("resolve", today)}
        assert report["totals"]["calls_logged"] >= logged

    today = days[-1]
    csv = await api.get("/v1/reports/complaints/daily-work", params={"date": today.isoformat()},
                        headers={"Accept": "text/csv"})
    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
    assert csv.text.lstrip("\ufeff").splitlines()[0].startswith("person,calls_logged,receipts_chased")
    assert alice in csv.text

    long_ago = (await api.get("/v1/reports/complaints/daily-work",
                               params={"date": (today - timedelta(days=400)).isoformat()})).json()
    assert long_ago["people"] == [] and long_ago["totals"]["calls_logged"] == 0
    assert (await api.get("/v1/reports/complaints/daily-work", params={"date": "2026-13-01"})).status_code == 422
    assert (await api.get("/v1/reports/complaints/daily-work")).status_code == 422
    assert (await api.get("/v1/reports/complaints/daily-work", role="branch", branch="SH01",
                          params={"date": today.isoformat()})).status_code == 403
