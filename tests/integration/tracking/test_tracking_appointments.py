"""Delivery appointments (预约送货) against the real service: the window's checks, a new
booking superseding the last, the event in the outbox, a signing outside the window flagged,
the station's day with kept / missed / outside-window outcomes, who may book."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from shared.clock import BUSINESS_TZ
from shared.devtools.stack import Stack
from tests.conftest import Infra, unique
from tests.integration.tracking.test_tracking_desk_delivery import signing
from tests.integration.tracking.test_tracking_desk_support import Desk, desk, outbox, resident_id
from tests.integration.tracking.test_tracking_storage import register

H = timedelta(hours=1)


def window(start: datetime, length: timedelta = 2 * H, **kw: Any) -> dict[str, Any]:
    body = {"window_start": start.isoformat(), "window_end": (start + length).isoformat(), "contact": "杨民敬",
            "channel": "phone", "note": "请走后门"}
    body.update(kw)
    return body


def tomorrow_morning() -> datetime:
    day = datetime.now(BUSINESS_TZ).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=BUSINESS_TZ)


async def book(d: Desk, no: str, body: dict[str, Any], expect: int = 201,
               headers: dict[str, str] | None = None) -> Any:
    return await d.ok("POST", f"/v1/shipments/{no}/appointments", expect, json=body, headers=headers or d.admin)


async def test_bad_windows_are_422_and_nothing_is_booked(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        no = await d.arrived(origin, dest)
        start = tomorrow_morning()
        cases = [
            (window(start, -H), "window_end_before_start"),
            (window(start, timedelta(minutes=5)), "window_too_short"),
            (window(start, 30 * H), "window_too_long"),
            (window(datetime.now(UTC) - 5 * H), "window_in_past"),
            (window(start + timedelta(days=90)), "window_too_far_ahead"),
            ({**window(start), "window_start": start.replace(tzinfo=None).isoformat()}, "validation_error"),
            ({**window(start), "channel": "fax"}, "validation_error"),
            ({**window(start), "colour": "red"}, "validation_error"),
        ]
        for body, code in cases:
            r = await d.c.post(f"/v1/shipments/{no}/appointments", headers=d.admin, json=body)
            assert r.status_code == 422, (body, r.text)
            assert r.json()["error"]["code"] == code, (body, r.text)
        assert await db.fetchval("SELECT count(*) FROM tracking.appointments WHERE waybill_no = $1", no) == 0
        assert await outbox(db, "tracking.delivery.appointed.v1", no) == []
        r = await d.c.post(f"/v1/shipments/{unique('WB')}/appointments", headers=d.admin, json=window(start))
        assert r.status_code == 404


async def test_booking_publishes_and_a_new_one_supersedes(stack: Stack, infra: Infra,
                                                          db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        no = await d.arrived(origin, dest)
        start = tomorrow_morning()
        first = await book(d, no, window(start))
        assert first["station"] == dest and first["outcome"] == "pending" and first["booked_by"] == "admin:test-admin"
        assert datetime.fromisoformat(first["window_start"]) == start
        second = await book(d, no, window(start + 4 * H, channel="email", note=None))

        rows = await db.fetch("SELECT id::text, superseded_at, superseded_by::text FROM tracking.appointments "
                              "WHERE waybill_no = $1 ORDER BY booked_at", no)
        assert [r["id"] for r in rows] == [first["appointment_id"], second["appointment_id"]]
        assert rows[0]["superseded_at"] is not None and rows[0]["superseded_by"] == second["appointment_id"]
        assert rows[1]["superseded_at"] is None

        events = await outbox(db, "tracking.delivery.appointed.v1", no)
        assert [e["appointment_id"] for e in events] == [first["appointment_id"], second["appointment_id"]]
        assert datetime.fromisoformat(events[0].pop("window_start")) == start
        assert datetime.fromisoformat(events[0].pop("window_end")) == start + 2 * H
        assert events[0] == {"appointment_id": first["appointment_id"], "waybill_no": no, "station": dest,
                             "channel": "phone", "note": "请走后门", "booked_by": "admin:test-admin"}
        assert events[1]["channel"] == "email" and events[1]["note"] is None

        shipment = await d.ok("GET", f"/v1/shipments/{no}")
        assert shipment["appointment"]["appointment_id"] == second["appointment_id"]
        assert shipment["outside_window"] is False
        assert [e["data"]["appointment_id"] for e in shipment["timeline"] if e["kind"] == "appointment"] == [
            first["appointment_id"], second["appointment_id"]]

        storage = await d.ok("GET", "/v1/reports/storage", params={"station": dest})
        row = next(r for r in storage["rows"] if r["waybill_no"] == no)
        assert row["appointment"]["appointment_id"] == second["appointment_id"]


async def test_signing_outside_the_window_is_flagged(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        start = tomorrow_morning()
        early = await d.arrived(origin, dest)
        await book(d, early, window(start))
        delivery = await d.ok("POST", f"/v1/shipments/{early}/delivery", 201, json=signing("杨民敬", resident_id()))
        assert delivery["outside_window"] is True and delivery["appointment_id"] is not None
        shipment = await d.ok("GET", f"/v1/shipments/{early}")
        assert shipment["outside_window"] is True and shipment["appointment"]["outcome"] == "outside_window"
        assert [e["data"]["outside_window"] for e in shipment["timeline"] if e["kind"] == "delivered"] == [True]

        kept = await d.arrived(origin, dest)
        await book(d, kept, window(datetime.now(UTC) - H))
        delivery = await d.ok("POST", f"/v1/shipments/{kept}/delivery", 201, json=signing("杨民敬", resident_id()))
        assert delivery["outside_window"] is False
        assert (await d.ok("GET", f"/v1/shipments/{kept}"))["appointment"]["outcome"] == "kept"

        plain = await d.arrived(origin, dest)
        delivery = await d.ok("POST", f"/v1/shipments/{plain}/delivery", 201, json=signing("杨民敬", resident_id()))
        assert delivery["outside_window"] is False and delivery["appointment_id"] is None

        # A delivered shipment takes no appointment.
        r = await d.c.post(f"/v1/shipments/{plain}/appointments", headers=d.admin, json=window(start))
        assert r.status_code == 409 and r.json()["error"]["code"] == "already_delivered"
        assert await db.fetchval("SELECT count(*) FROM tracking.appointments WHERE waybill_no = $1", plain) == 0


async def test_station_day_flags_missed_and_outside_window(stack: Stack, infra: Infra) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        start = tomorrow_morning()
        missed = await d.arrived(origin, dest)
        await book(d, missed, window(start))
        outside = await d.arrived(origin, dest)
        await book(d, outside, window(start + 2 * H))
        await d.ok("POST", f"/v1/shipments/{outside}/delivery", 201, json=signing("杨民敬", resident_id()))
        other_day = await d.arrived(origin, dest)
        await book(d, other_day, window(start + 24 * H))

        day = start.date().isoformat()
        plan = await d.ok("GET", "/v1/appointments", params={"station": dest, "date": day})
        assert [i["waybill_no"] for i in plan["items"]] == [missed, outside]
        assert [i["outcome"] for i in plan["items"]] == ["pending", "outside_window"]
        assert plan["items"][0]["consignee_name"] == "杨**" and plan["items"][0]["pieces_arrived"] == 10

        later = (start + 5 * H).isoformat()  # the first window is over, the next day's not begun
        after = await d.ok("GET", "/v1/appointments", params={"station": dest, "date": day, "as_of": later})
        assert [i["outcome"] for i in after["items"]] == ["missed", "outside_window"]
        assert (after["total"], after["missed"], after["outside_window"]) == (2, 1, 1)

        storage = await d.ok("GET", "/v1/reports/storage", params={"station": dest, "as_of": later})
        flags = {r["waybill_no"]: r["appointment_missed"] for r in storage["rows"]}
        assert flags[missed] is True and flags[other_day] is False and outside not in flags


async def test_who_may_book_and_read_the_day(stack: Stack, infra: Infra) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        elsewhere = await d.station("NJ")
        customer = unique("C")
        no = await register(d, origin, dest, customer=customer)
        start = tomorrow_morning()

        await book(d, no, window(start), headers=d.branch(dest))
        await book(d, no, window(start), 404, headers=d.branch(elsewhere))
        booked = await book(d, no, window(start, channel="portal"),
                            headers=infra.headers("customer", customer=customer, sub="lenovo"))
        assert booked["booked_by"] == "customer:lenovo"
        await book(d, no, window(start), 404, headers=infra.headers("customer", customer=unique("C")))
        await book(d, no, window(start), 403, headers=infra.headers("carrier", carrier="CARRIER1"))

        day = start.date().isoformat()
        own = await d.ok("GET", "/v1/appointments", params={"date": day}, headers=d.branch(dest))
        assert own["station"] == dest and [i["waybill_no"] for i in own["items"]] == [no]
        await d.ok("GET", "/v1/appointments", 403, params={"station": dest, "date": day},
                   headers=d.branch(elsewhere))
        mine = await d.ok("GET", "/v1/appointments", params={"date": day},
                          headers=infra.headers("customer", customer=customer))
        assert [i["waybill_no"] for i in mine["items"]] == [no]
        theirs = await d.ok("GET", "/v1/appointments", params={"date": day},
                            headers=infra.headers("customer", customer=unique("C")))
        assert theirs["items"] == []
