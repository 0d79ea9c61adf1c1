"""Tracking notes: recorded, listed with a cursor, on the timeline; a delayed note's reason
overrides the inferred delay reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from shared.devtools.stack import Stack
from tests.conftest import Infra
from tests.integration.tracking.test_tracking_desk_support import CITIES, Desk, desk, outbox


def note(at: datetime, **kw: object) -> dict[str, object]:
    body: dict[str, object] = {"at": at.isoformat(), "contact": "张经理", "channel": "phone", "delayed": False,
                               "reason": None, "note": "已告知客户预计到达时间"}
    body.update(kw)
    return body


async def test_notes_recorded_listed_and_reason_kept(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        no = await d.shipment(origin, dest)
        now = datetime.now(UTC)
        first = await d.ok("POST", f"/v1/shipments/{no}/notes", 201,
                           json=note(now - timedelta(minutes=30), delayed=True, reason="traffic_jam"))
        assert first["reason"] == "traffic_jam" and first["actor"] == "admin:test-admin"
        assert await db.fetchval("SELECT note_reason FROM tracking.shipments WHERE waybill_no = $1", no) \
            == "traffic_jam"

        # An older note arriving late does not replace the newer one's reason.
        await d.ok("POST", f"/v1/shipments/{no}/notes", 201,
                   json=note(now - timedelta(hours=2), delayed=True, reason="weather"))
        assert await db.fetchval("SELECT note_reason FROM tracking.shipments WHERE waybill_no = $1", no) \
            == "traffic_jam"
        await d.ok("POST", f"/v1/shipments/{no}/notes", 201,
                   json=note(now - timedelta(minutes=5), delayed=True, reason="breakdown"))
        assert await db.fetchval("SELECT note_reason FROM tracking.shipments WHERE waybill_no = $1", no) \
            == "breakdown"
        # A note without delay leaves the reason alone.
        await d.ok("POST", f"/v1/shipments/{no}/notes", 201, json=note(now, channel="sms"))
        assert await db.fetchval("SELECT note_reason FROM tracking.shipments WHERE waybill_no = $1", no) \
            == "breakdown"

        assert await db.fetchval(
            "SELECT count(*) FROM tracking.timeline WHERE waybill_no = $1 AND kind = 'note'", no) == 4

        page = await d.ok("GET", f"/v1/shipments/{no}/notes", params={"limit": 3})
        assert [n["reason"] for n in page["items"]] == ["weather", "traffic_jam", "breakdown"]
        assert page["next_cursor"]
        rest = await d.ok("GET", f"/v1/shipments/{no}/notes", params={"limit": 3, "cursor": page["next_cursor"]})
        assert [n["channel"] for n in rest["items"]] == ["sms"] and rest["next_cursor"] is None

        # A branch on the route sees them; another branch gets 404.
        assert (await d.ok("GET", f"/v1/shipments/{no}/notes", headers=d.branch(dest)))["items"]
        other = await d.station("NJ")
        r = await d.c.get(f"/v1/shipments/{no}/notes", headers=d.branch(other))
        assert r.status_code == 404
        r = await d.c.post(f"/v1/shipments/{no}/notes", headers=d.branch(other), json=note(now))
        assert r.status_code == 404


async def test_bad_notes_are_refused(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        no = await d.shipment(origin, dest)
        now = datetime.now(UTC)
        bad = [
            note(now, delayed=True, reason="aliens"),
            note(now, delayed=False, reason="weather"),  # a reason only with delayed=true
            note(now, contact=""),
            {**note(now), "at": "2026-01-01T10:00:00"},  # no offset
            {**note(now), "extra": 1},
            note(now, note="x" * 2001),
        ]
        for body in bad:
            r = await d.c.post(f"/v1/shipments/{no}/notes", headers=d.admin, json=body)
            assert r.status_code == 422, (body, r.text)
            assert r.json()["error"]["code"] == "validation_error"
        r = await d.c.post(f"/v1/shipments/{no}/notes", headers=d.admin,
                           json=note(now + timedelta(hours=1)))
        assert r.status_code == 422 and r.json()["error"]["code"] == "time_in_future"
        r = await d.c.get(f"/v1/shipments/{no}/notes", headers=d.admin, params={"cursor": "garbage!"})
        assert r.status_code == 422
        assert await db.fetchval("SELECT count(*) FROM tracking.notes WHERE waybill_no = $1", no) == 0
        r = await d.c.post("/v1/shipments/NOPE0000/notes", headers=d.admin, json=note(now))
        assert r.status_code == 404
        r = await d.c.post(f"/v1/shipments/{no}/notes", json=note(now))
        assert r.status_code == 401
        r = await d.c.post(f"/v1/shipments/{no}/notes", headers=infra.headers("carrier", carrier="C1"),
                           json=note(now))
        assert r.status_code == 403


async def test_note_reason_overrides_inferred_delay_reason(stack: Stack, infra: Infra) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        vehicle = await d.vehicle()
        no = await d.shipment(origin, dest, promised_in=timedelta(minutes=40))
        now = datetime.now(UTC)
        _, _, lat, lon = CITIES["SH"]
        await d.ok("POST", "/v1/positions", json={"positions": [
            {"vehicle_id": vehicle, "at": (now - timedelta(minutes=m)).isoformat(), "lat": lat, "lon": lon + m * 0.002,
             "speed_kmh": 35.0, "heading": 270.0} for m in (20, 15, 10)]})
        await d.scan(no, "departed", origin, now - timedelta(minutes=9), vehicle_id=vehicle)
        await d.ok("POST", "/v1/positions", json={"positions": [
            {"vehicle_id": vehicle, "at": (now - timedelta(minutes=5)).isoformat(), "lat": lat, "lon": lon - 0.01,
             "speed_kmh": 35.0, "heading": 270.0}]})
        shipment = await d.ok("GET", f"/v1/shipments/{no}")
        assert shipment["delayed"] is True
        assert shipment["delay_reason"] == "slow_progress"

        await d.ok("POST", f"/v1/shipments/{no}/notes", 201,
                   json=note(now - timedelta(minutes=2), delayed=True, reason="breakdown"))
        await d.ok("POST", "/v1/positions", json={"positions": [
            {"vehicle_id": vehicle, "at": (now - timedelta(minutes=1)).isoformat(), "lat": lat, "lon": lon - 0.015,
             "speed_kmh": 35.0, "heading": 270.0}]})
        shipment = await d.ok("GET", f"/v1/shipments/{no}")
        assert shipment["delay_reason"] == "breakdown"
        kinds = [e["kind"] for e in shipment["timeline"]]
        assert "note" in kinds


async def on_the_road(d: Desk, *, promised_in: timedelta, departed_at: datetime) -> tuple[str, str]:
    """A shipment from Shanghai that departed at `departed_at` on a vehicle of its own: (waybill, vehicle)."""
    origin, dest = await d.route()
    vehicle = await d.vehicle()
    no = await d.shipment(origin, dest, promised_in=promised_in)
    await d.scan(no, "departed", origin, departed_at, vehicle_id=vehicle)
    return no, vehicle


async def fix_in_shanghai(d: Desk, vehicle: str, at: datetime, speed: float) -> None:
    _, _, lat, lon = CITIES["SH"]
    await d.ok("POST", "/v1/positions", json={"positions": [
        {"vehicle_id": vehicle, "at": at.isoformat(), "lat": lat, "lon": lon, "speed_kmh": speed, "heading": 270.0}]})


async def test_a_traffic_jam_note_on_a_late_shipment_is_its_reason_now_and_in_the_next_notice(
        stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    """Staff found out the real situation: a delayed note's reason is the shipment's delay reason
    at once (GET), and the delay notice that follows carries it (the outbox)."""
    async with desk(stack, infra) as d:
        now = datetime.now(UTC)
        departed = now - timedelta(minutes=100)
        no, vehicle = await on_the_road(d, promised_in=timedelta(minutes=40), departed_at=departed)

        # Late at once: 4 hours of road left, promised in 40 minutes; the feed says slow progress.
        await fix_in_shanghai(d, vehicle, departed + timedelta(minutes=1), 35.0)
        shipment = await d.ok("GET", f"/v1/shipments/{no}")
        assert shipment["delayed"] is True and shipment["delay_reason"] == "slow_progress"

        await d.ok("POST", f"/v1/shipments/{no}/notes", 201,
                   json=note(now - timedelta(minutes=2), delayed=True, reason="traffic_jam"))
        shipment = await d.ok("GET", f"/v1/shipments/{no}")
        assert shipment["delay_reason"] == "traffic_jam"

        # An hour later the ETA is much worse: the next notice goes out, with the note's reason.
        await fix_in_shanghai(d, vehicle, departed + timedelta(minutes=70), 5.0)
        notices = await outbox(db, "tracking.shipment.delayed.v1", no)
        assert [n["reason"] for n in notices] == ["slow_progress", "traffic_jam"]
        assert (await d.ok("GET", f"/v1/shipments/{no}"))["delay_reason"] == "traffic_jam"


async def test_a_note_on_a_shipment_on_time_changes_nothing_until_it_is_late(
        stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        now = datetime.now(UTC)
        no, vehicle = await on_the_road(d, promised_in=timedelta(hours=30), departed_at=now - timedelta(minutes=30))
        await fix_in_shanghai(d, vehicle, now - timedelta(minutes=20), 60.0)
        await d.ok("POST", f"/v1/shipments/{no}/notes", 201,
                   json=note(now - timedelta(minutes=10), delayed=True, reason="weather"))
        shipment = await d.ok("GET", f"/v1/shipments/{no}")
        assert shipment["delayed"] is False and shipment["delay_reason"] is None
        assert await outbox(db, "tracking.shipment.delayed.v1", no) == []
