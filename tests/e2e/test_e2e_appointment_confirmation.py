"""A delivery booked at tracking reaches the consignee through the notifier, over the real bus:
tracking's `POST /v1/shipments/{no}/appointments` publishes `tracking.delivery.appointed.v1`, the
notifier confirms it (template `delivery_appointed`) to the consignee the registration named."""

from __future__ import annotations

from datetime import timedelta

import httpx

from shared.devtools.stack import Stack
from tests.conftest import Infra
from tests.e2e.test_e2e_cross_service import poll
from tests.integration.tracking.core_support import make_world, now, register


def test_an_appointment_booked_at_tracking_is_confirmed_to_the_consignee(stack: Stack, infra: Infra) -> None:
    tracking = httpx.Client(base_url=stack.url("tracking"), timeout=30)
    notifier = httpx.Client(base_url=stack.url("notifier"), timeout=30)
    admin = infra.headers("admin")
    world = make_world(tracking, infra)
    waybill = register(tracking, infra, world, promised_at=now() + timedelta(days=1))
    start = (now() + timedelta(days=1)).replace(microsecond=0)
    r = tracking.post(f"/v1/shipments/{waybill}/appointments", headers=admin, json={
        "window_start": start.isoformat(), "window_end": (start + timedelta(hours=2)).isoformat(),
        "contact": "杨民敬", "channel": "phone", "note": "请提前电话联系"})
    assert r.status_code == 201, r.text

    def confirmations() -> list[dict]:  # type: ignore[type-arg]
        items = notifier.get("/v1/notifications", params={"waybill_no": waybill}, headers=admin).json()["items"]
        return [n for n in items if n["template"] == "delivery_appointed"]

    # The consignee has a phone and no e-mail: one SMS, sent at once or (at night, Beijing time)
    # deferred to the end of the default quiet hours — either way decided, never lost.
    [sms] = poll(confirmations, lambda ns: bool(ns) and ns[0]["status"] in ("sent", "deferred"))
    assert sms["channel"] == "sms" and sms["event_type"] == "tracking.delivery.appointed.v1"
    assert sms["to"].endswith("0000") and "****" in sms["to"]
