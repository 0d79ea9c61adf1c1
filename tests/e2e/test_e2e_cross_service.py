"""Receipts and complaints fed by the real tracking service over the real bus.

- receipts: a waybill that needs a receipt, one transfer, a split arrival and a delivery,
  all through tracking's HTTP API → the receipt record is signed, with the last batch's
  arrival and the 15-day deadline counted from its Shanghai date (computed here by hand);
- complaints: a shipment made late by a GPS position → a delay complaint's suggested reply
  names the revised arrival time and the reason, in Chinese and in English.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from shared.devtools.stack import Stack
from tests.conftest import Infra
from tests.integration.tracking.core_support import fix, make_world, minutes, now, post_positions, register, scan
from tests.integration.tracking.test_tracking_desk_support import resident_id
from tests.support.wait import eventually_sync

SHANGHAI = ZoneInfo("Asia/Shanghai")


def poll(fetch: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 30.0) -> Any:
    last = []

    def probe() -> bool:
        last[:] = [fetch()]
        return ok(last[0])
    eventually_sync(probe, timeout=timeout)
    return last[0]


def test_receipt_follows_tracking_from_registration_to_signature(stack: Stack, infra: Infra) -> None:
    tracking = httpx.Client(base_url=stack.url("tracking"), timeout=30)
    receipts = httpx.Client(base_url=stack.url("receipts"), timeout=30)
    admin = infra.headers("admin")
    world = make_world(tracking, infra)
    t0 = (now() - timedelta(hours=6)).replace(microsecond=0)
    waybill = register(tracking, infra, world, promised_at=now() + timedelta(days=1))
    steps = [("departed", world.sh, t0, world.vehicle_id, 10),
             ("arrived_transfer", world.nj, t0 + minutes(150), None, None),
             ("departed_transfer", world.nj, t0 + minutes(200), world.vehicle_id, None),
             ("arrived", world.wx, t0 + minutes(260), None, 6),
             ("arrived", world.wx, t0 + minutes(300), None, 4)]
    for type_, station, at, vehicle, pieces in steps:
        r = scan(tracking, infra, waybill, type_, station, at, vehicle, pieces)
        assert r.status_code == 201, r.text
    last_batch = t0 + minutes(300)
    r = tracking.post(f"/v1/shipments/{waybill}/delivery", headers=admin, json={
        "signed_at": (t0 + minutes(330)).isoformat(), "signer_name": "杨民敬", "signer_id_type": "id_card",
        "signer_id_number": resident_id(), "delegate": None, "company_stamp": False, "pieces": 10})
    assert r.status_code in (200, 201), r.text

    receipt = poll(lambda: receipts.get(f"/v1/receipts/{waybill}", headers=admin),
                   lambda r: r.status_code == 200 and r.json()["status"] == "signed").json()
    assert receipt["required"] is True and receipt["transfers"] == 1
    assert datetime.fromisoformat(receipt["arrived_at"]) == last_batch
    # One transfer: 15 days, counted from the arrival's date in Shanghai; due at the end of that day.
    arrival_day = last_batch.astimezone(SHANGHAI).date()
    expected_due = datetime.combine(arrival_day + timedelta(days=16), datetime.min.time(), SHANGHAI)
    assert datetime.fromisoformat(receipt["due_at"]) == expected_due
    assert receipt["overdue"] is False
    assert receipt["custody"], receipt


def test_delay_complaint_reply_names_the_revised_eta_and_reason_from_live_tracking(
        stack: Stack, infra: Infra) -> None:
    tracking = httpx.Client(base_url=stack.url("tracking"), timeout=30)
    complaints = httpx.Client(base_url=stack.url("complaints"), timeout=30)
    admin = infra.headers("admin")
    world = make_world(tracking, infra)
    waybill = register(tracking, infra, world, promised_at=now() + timedelta(hours=3))
    assert scan(tracking, infra, waybill, "departed", world.sh, now() - minutes(5), world.vehicle_id).status_code == 201
    r = post_positions(tracking, infra, [fix(world.vehicle_id, now(), 31.25, 121.40, 60.0)])
    assert r.status_code == 200, r.text
    shipment = tracking.get(f"/v1/shipments/{waybill}", headers=admin).json()
    assert shipment["delayed"] is True and shipment["delay_reason"] == "slow_progress"
    eta_local = datetime.fromisoformat(shipment["eta"]).astimezone(SHANGHAI)

    for language, eta_text, reason_text in [
        ("zh-CN", f"{eta_local.month}月{eta_local.day}日 {eta_local:%H:%M}", "车辆行驶速度比预期慢"),
        ("en", f"{eta_local.day} {eta_local:%b} {eta_local:%H:%M}", "slower progress of the vehicle"),
    ]:
        r = complaints.post("/v1/complaints", headers=admin, json={
            "customer_id": "C100", "caller_name": "陈法开", "phone": "13600000000", "language": language,
            "waybill_no": waybill, "channel": "phone", "category": "delay", "description": "货怎么还没到？太慢了"})
        assert r.status_code == 201, r.text
        opened = r.json()
        assert opened["status"] == "open"
        ticket = poll(lambda cid=opened["id"]: complaints.get(f"/v1/complaints/{cid}", headers=admin).json(),
                      lambda t, e=eta_text: e in t["suggested_reply"])
        reply = ticket["suggested_reply"]
        assert eta_text in reply and reason_text in reply, reply
        assert ticket["shipment"]["delayed"] is True
