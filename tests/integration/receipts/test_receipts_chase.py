"""Chasing: each overdue stage is announced once per receipt, to the destination station's contact."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from tests.integration.receipts.conftest import Api, Flow, Tracking, outbox_events, station, waybill


async def chase(api: Api, as_of: datetime) -> list[dict]:
    r = await api.post("/v1/admin/chase", role="admin", params={"as_of": as_of.isoformat()})
    assert r.status_code == 200, r.text
    return list(r.json()["emitted"])


def mine(emitted: list[dict], no: str) -> list[str]:
    return [e["stage"] for e in emitted if e["waybill_no"] == no]


async def test_direct_receipt_is_chased_once_when_due(flow: Flow, api: Api, db: asyncpg.Connection) -> None:
    no, rec = await flow.signed()
    due = datetime.fromisoformat(rec["due_at"])
    assert mine(await chase(api, due - timedelta(seconds=1)), no) == []
    assert (await api.get(no, as_of=due - timedelta(seconds=1))).json()["overdue"] is False
    emitted = await chase(api, due)
    assert mine(emitted, no) == ["due"]
    [e] = [e for e in emitted if e["waybill_no"] == no]
    assert e["days_overdue"] == 1 and e["destination"] == rec["destination"]
    # again, and later: nothing more (a direct route has no final stage)
    assert mine(await chase(api, due), no) == []
    assert mine(await chase(api, due + timedelta(days=40)), no) == []
    [event] = await outbox_events(db, "receipts.receipt.overdue.v1", no)
    assert event["data"]["stage"] == "due" and event["data"]["status"] == "signed"
    assert datetime.fromisoformat(event["data"]["due_at"]) == due
    assert event["data"]["station_contact"] == {"name": f"{rec['destination']} station", "phone": "13700000000",
                                                "email": f"{rec['destination'].lower()}@example.com"}
    assert event["subject"] == no
    got = (await api.get(no, as_of=due)).json()
    assert got["overdue"] is True and got["overdue_stage"] == "due"


async def test_two_transfers_are_chased_at_due_then_at_the_final_limit(flow: Flow, api: Api,
                                                                      db: asyncpg.Connection) -> None:
    no, rec = await flow.signed(via=[station(), station()])
    due, final = datetime.fromisoformat(rec["due_at"]), datetime.fromisoformat(rec["final_due_at"])
    assert final - due == timedelta(days=5)
    assert mine(await chase(api, due + timedelta(hours=1)), no) == ["due"]
    assert mine(await chase(api, final - timedelta(seconds=1)), no) == []
    assert mine(await chase(api, final), no) == ["final"]
    assert mine(await chase(api, final + timedelta(days=3)), no) == []
    events = await outbox_events(db, "receipts.receipt.overdue.v1", no)
    assert [e["data"]["stage"] for e in events] == ["due", "final"]
    assert datetime.fromisoformat(events[1]["data"]["due_at"]) == final


async def test_a_scan_that_first_sees_the_final_limit_announces_both_stages(flow: Flow, api: Api) -> None:
    no, rec = await flow.signed(via=[station(), station(), station()])
    final = datetime.fromisoformat(rec["final_due_at"])
    assert mine(await chase(api, final + timedelta(days=1)), no) == ["due", "final"]
    assert mine(await chase(api, final + timedelta(days=2)), no) == []


async def test_returned_and_cancelled_receipts_are_not_chased(flow: Flow, api: Api) -> None:
    back, rec = await flow.to("received")
    cancelled, _ = await flow.signed(payment="cod")
    assert (await api.act(cancelled, "cancel", {})).status_code == 200
    emitted = await chase(api, datetime.fromisoformat(rec["due_at"]) + timedelta(days=60))
    assert mine(emitted, back) == [] and mine(emitted, cancelled) == []


async def test_a_receipt_still_awaiting_delivery_is_chased_once_the_goods_arrived(
        tracking: Tracking, api: Api) -> None:
    no, dest = waybill(), station()
    await tracking.send(Tracking.registered(no, origin=station(), destination=dest))
    await tracking.send(Tracking.arrived(no, station=dest, at=datetime.fromisoformat("2026-11-28T08:00:00+08:00")))
    rec = await api.wait(no, lambda r: r["due_at"] is not None)
    assert rec["status"] == "awaiting_delivery"
    emitted = await chase(api, datetime.fromisoformat(rec["due_at"]))
    assert mine(emitted, no) == ["due"]


async def test_chase_is_for_admins(api: Api) -> None:
    r = await api.post("/v1/admin/chase", role="staff")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = await api.client.post("/v1/admin/chase")
    assert r.status_code == 401
    r = await api.post("/v1/admin/chase", role="admin", params={"as_of": "2026-12-01T00:00:00"})
    assert r.status_code == 422


async def test_the_chase_scan_uses_the_partial_index(db: asyncpg.Connection, stack) -> None:
    await db.execute("SET search_path TO receipts")
    await db.execute("SET enable_seqscan = off")  # tiny tables would be scanned anyway; is the index usable?
    rows = await db.fetch(
        "EXPLAIN (FORMAT TEXT) SELECT waybill_no FROM receipts "
        "WHERE status IN ('awaiting_delivery', 'signed', 'abnormal', 'qualified', 'mailed', 'lost') "
        "AND NOT chase_done AND due_at IS NOT NULL AND due_at <= now() ORDER BY due_at, waybill_no")
    plan = "\n".join(r[0] for r in rows)
    assert "receipts_chase_idx" in plan, plan
    await db.execute("RESET enable_seqscan")
    await db.execute("RESET search_path")
