"""Receipts learn from tracking's events only; duplicates and any order give the same record."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from tests.integration.receipts.conftest import (
    NOW,
    Api,
    Tracking,
    eventually,
    handled,
    handled_so_far,
    station,
    waybill,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _stable(record: dict) -> dict:
    """The record without what legitimately differs between two waybills / two recordings."""
    out = {k: v for k, v in record.items() if k not in ("waybill_no", "as_of")}
    out["custody"] = [{k: v for k, v in c.items() if k != "recorded_at"} for c in record["custody"]]
    return out


async def test_registration_creates_the_receipt_with_requirements_route_and_contact(
        tracking: Tracking, api: Api) -> None:
    no, origin, dest, hub1, hub2 = waybill(), station(), station(), station(), station()
    await tracking.send(Tracking.registered(no, origin=origin, destination=dest, via=[hub1, hub2], payment="cod",
                                            region="East China"))
    rec = await api.wait(no)
    assert rec["status"] == "awaiting_delivery"
    assert rec["required"] is True
    assert rec["requirements"] == {"signature": True, "stamp": False, "id_number": True, "copies": 1}
    assert rec["transfers"] == 2 and rec["via"] == [hub1, hub2]
    assert (rec["origin"], rec["destination"], rec["payment"]) == (origin, dest, "cod")
    assert rec["region"] == "East China" and rec["origin_region"] == "North"
    assert rec["station_contact"]["phone"] == "13700000000"
    assert rec["arrived_at"] is None and rec["due_at"] is None and rec["overdue"] is False
    assert rec["custody"] == []


async def test_a_waybill_without_a_receipt_requirement_has_no_receipt(tracking: Tracking, api: Api) -> None:
    no, dest = waybill(), station()
    await tracking.send(Tracking.registered(no, origin=station(), destination=dest, required=False))
    await tracking.send(Tracking.arrived(no, station=dest, at=NOW - timedelta(hours=3)))
    marker, mdest = waybill(), station()  # a later event on the same queue: once it is in, ours was handled
    await tracking.send(Tracking.registered(marker, origin=station(), destination=mdest))
    await api.wait(marker)
    assert (await api.get(no)).status_code == 404


async def test_final_arrival_fixes_the_deadline_partial_batches_do_not(tracking: Tracking, api: Api,
                                                                       db: asyncpg.Connection) -> None:
    no, dest = waybill(), station()
    await tracking.send(Tracking.registered(no, origin=station(), destination=dest, via=[station()]))
    await api.wait(no)
    first = datetime(2026, 11, 27, 10, 0, tzinfo=SHANGHAI)
    partial = await tracking.send(Tracking.arrived(no, station=dest, at=first, final=False, pieces=4))
    await handled(db, partial)  # handled, and committed: the clock must still stand
    assert (await api.get(no)).json()["due_at"] is None
    last = datetime(2026, 11, 27, 23, 30, tzinfo=SHANGHAI)  # the last batch, still on the 27th locally
    await tracking.send(Tracking.arrived(no, station=dest, at=last))
    rec = await api.wait(no, lambda r: r["arrived_at"] is not None)
    # one transfer: 15 days from the local arrival date, due by the end of 12 December (local)
    assert datetime.fromisoformat(rec["arrived_at"]) == last
    assert datetime.fromisoformat(rec["due_at"]) == datetime(2026, 12, 13, tzinfo=SHANGHAI)
    assert rec["final_due_at"] is None


async def test_the_latest_final_arrival_counts_whatever_the_order(tracking: Tracking, api: Api,
                                                                  db: asyncpg.Connection) -> None:
    no, dest = waybill(), station()
    await tracking.send(Tracking.registered(no, origin=station(), destination=dest, via=[station(), station()]))
    later = datetime(2026, 11, 26, 0, 30, tzinfo=SHANGHAI)
    earlier = datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI)
    await tracking.send(Tracking.arrived(no, station=dest, at=later))
    await api.wait(no, lambda r: r["arrived_at"] is not None)
    stale = await tracking.send(Tracking.arrived(no, station=dest, at=earlier))  # must not move the clock back
    await handled(db, stale)
    rec = (await api.get(no)).json()
    assert datetime.fromisoformat(rec["arrived_at"]) == later
    assert datetime.fromisoformat(rec["due_at"]) == datetime(2026, 12, 17, tzinfo=SHANGHAI)  # 26th + 20 days
    assert datetime.fromisoformat(rec["final_due_at"]) == datetime(2026, 12, 22, tzinfo=SHANGHAI)  # + 25


async def test_delivered_signs_the_receipt_with_a_custody_entry(tracking: Tracking, api: Api) -> None:
    no, origin, dest = waybill(), station(), station()
    arrived, delivered = NOW - timedelta(hours=5), NOW - timedelta(hours=1)
    await tracking.send(Tracking.registered(no, origin=origin, destination=dest))
    await tracking.send(Tracking.arrived(no, station=dest, at=arrived))
    await tracking.send(Tracking.delivered(no, station=dest, at=delivered))
    rec = await api.wait(no, lambda r: r["status"] == "signed")
    assert datetime.fromisoformat(rec["delivered_at"]) == delivered
    [entry] = rec["custody"]
    assert entry["action"] == "deliver" and entry["actor"] == "system:tracking"
    assert entry["from_party"] == entry["to_party"] == f"station:{dest}"
    assert datetime.fromisoformat(entry["at"]) == delivered
    assert "inspect_qualified" in rec["allowed_actions"]


async def test_delivery_without_a_known_final_arrival_still_starts_the_clock(tracking: Tracking, api: Api) -> None:
    no, dest = waybill(), station()
    delivered = datetime(2026, 11, 28, 9, 0, tzinfo=SHANGHAI)
    await tracking.send(Tracking.registered(no, origin=station(), destination=dest))
    await tracking.send(Tracking.delivered(no, station=dest, at=delivered))
    rec = await api.wait(no, lambda r: r["status"] == "signed")
    assert rec["arrived_at"] is None
    assert datetime.fromisoformat(rec["clock_started_at"]) == delivered
    assert datetime.fromisoformat(rec["due_at"]) == datetime(2026, 12, 9, tzinfo=SHANGHAI)


async def test_duplicates_and_any_order_give_the_same_record(tracking: Tracking, api: Api,
                                                             db: asyncpg.Connection) -> None:
    origin, dest, hub = station(), station(), station()
    arrived, delivered = NOW - timedelta(hours=30), NOW - timedelta(hours=26)
    in_order, reversed_, doubled = waybill(), waybill(), waybill()

    def events(no: str) -> tuple:
        return (Tracking.registered(no, origin=origin, destination=dest, via=[hub], payment="monthly"),
                Tracking.arrived(no, station=dest, at=arrived),
                Tracking.delivered(no, station=dest, at=delivered))

    reg, arr, dlv = events(in_order)
    for e in (reg, arr, dlv):
        await tracking.send(e)
    # delivered before arrived before registered
    reg, arr, dlv = events(reversed_)
    for e in (dlv, arr, reg):
        await tracking.send(e)
    # everything twice: the same envelope redelivered, and the same fact re-published with a new id
    reg, arr, dlv = events(doubled)
    for e in (arr, dlv, reg):
        env = await tracking.send(e)
        await tracking.send_envelope(env)
        await tracking.send(e)

    expected = _stable(await api.wait(in_order, lambda r: r["status"] == "signed" and r["due_at"]))
    await handled_so_far(tracking, db)  # every copy above, the redelivered ones too, has been handled
    for no in (reversed_, doubled):
        rec = await api.wait(no, lambda r: r["status"] == "signed" and r["arrived_at"] is not None)
        rec = (await api.get(no, as_of=datetime.fromisoformat(expected["due_at"]) - timedelta(days=1))).json()
        ref = (await api.get(in_order, as_of=datetime.fromisoformat(expected["due_at"]) - timedelta(days=1))).json()
        assert _stable(rec) == _stable(ref)
        assert len(rec["custody"]) == 1


async def test_a_repeated_registration_changes_nothing(tracking: Tracking, api: Api) -> None:
    no, origin, dest = waybill(), station(), station()
    await tracking.send(Tracking.registered(no, origin=origin, destination=dest, payment="cod"))
    first = await api.wait(no)
    # tracking re-publishes (a replay) with different details: the first registration stands
    await tracking.send(Tracking.registered(no, origin=origin, destination=dest, payment="prepaid", via=[station()]))
    await tracking.send(Tracking.delivered(no, station=dest, at=NOW - timedelta(hours=1)))
    rec = await api.wait(no, lambda r: r["status"] == "signed")
    assert rec["payment"] == "cod" and rec["transfers"] == first["transfers"] == 0


async def test_an_unknown_payment_type_is_dead_lettered_not_guessed(tracking: Tracking, api: Api, infra) -> None:
    import aio_pika

    no = waybill()
    await tracking.send(Tracking.registered(no, origin=station(), destination=station(), payment="barter"))

    async def dead_lettered() -> bool:
        conn = await aio_pika.connect(infra.amqp_url)
        async with conn:
            ch = await conn.channel()
            q = await ch.declare_queue("receipts.dlq", durable=True, arguments={"x-queue-type": "quorum"})
            return (q.declaration_result.message_count or 0) > 0
    await eventually(dead_lettered, timeout=30)
    assert (await api.get(no)).status_code == 404
