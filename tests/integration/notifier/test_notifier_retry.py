"""`POST /v1/notifications/{id}/retry`: the desk sends a notification that ended unsent again,
through the real dispatcher and the gateway stand-in; audited; a second retry, or a retry of
one still on its way, is 409 `invalid_transition`."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import unique
from tests.integration.notifier.conftest import Kit, Party, wait_until

MAX_ATTEMPTS = 5  # the default of LCS_MAX_ATTEMPTS


def _shipment(kit: Kit) -> tuple[str, Party]:
    """A registered waybill whose shipper has only a phone and whose consignee has nothing: one SMS."""
    waybill = unique("WB")
    shipper = kit.party(with_email=False)
    kit.publish(kit.envelope(kit.registered(waybill, shipper, Party("", "杨民敬", None, None))))
    return waybill, shipper


def _only(kit: Kit, waybill: str) -> dict[str, Any]:
    [item] = kit.notifications(waybill_no=waybill)
    return item


def _retry(kit: Kit, notification_id: str, role: str = "staff", **kw: str) -> Any:
    return kit.api.post(f"/v1/notifications/{notification_id}/retry", headers=kit.infra.headers(role, **kw))  # type: ignore[arg-type]


def test_a_failed_sms_sent_again_by_the_desk_is_delivered_once_and_audited(kit: Kit) -> None:
    kit.control(sms="reject")
    waybill, shipper = _shipment(kit)
    kit.publish(kit.envelope(kit.delayed(waybill)))
    [item] = kit.wait_notifications(lambda ns: len(ns) == 1 and ns[0]["status"] == "failed", waybill_no=waybill)
    assert (item["attempts"], item["provider"]) == (1, "sms-primary") and "400" in item["last_error"]
    kit.control(sms="ok")

    assert _retry(kit, item["id"], "branch", branch="SH01").status_code == 403
    assert _retry(kit, item["id"], "carrier", carrier="C1").status_code == 403
    assert kit.api.post(f"/v1/notifications/{item['id']}/retry").status_code == 401
    r = _retry(kit, str(uuid.uuid4()))
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"

    r = _retry(kit, item["id"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] in ("queued", "sent")  # the dispatcher may have sent it already
    [retry] = body["retries"]
    assert (retry["by"], retry["from_status"], retry["attempts"]) == ("staff:test-staff", "failed", 1)
    assert "400" in retry["last_error"]

    sent = wait_until(lambda: _only(kit, waybill), lambda n: n["status"] == "sent")
    assert sent["attempts"] == 2 and sent["provider"] == "sms-primary"
    detail = kit.api.get(f"/v1/notifications/{item['id']}", headers=kit.admin).json()
    assert [(a["attempt"], a["outcome"]) for a in detail["delivery_attempts"]] == [(1, "permanent"), (2, "ok")]
    [message] = kit.sms_to(shipper.phone)  # type: ignore[arg-type]
    assert waybill in message["text"]

    # Sent: a second retry has no second effect.
    r = _retry(kit, item["id"], "supervisor")
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_transition"
    assert r.json()["error"]["details"]["current"] == "sent"
    assert len(kit.sms_to(shipper.phone)) == 1  # type: ignore[arg-type]
    assert len(kit.api.get(f"/v1/notifications/{item['id']}", headers=kit.admin).json()["retries"]) == 1


def test_one_on_its_way_is_refused_and_a_retry_after_the_limit_gets_a_fresh_one(kit: Kit) -> None:
    kit.control(sms="fail", fallback="fail")
    waybill, shipper = _shipment(kit)
    kit.publish(kit.envelope(kit.delayed(waybill)))
    first = wait_until(lambda: _only(kit, waybill) if kit.notifications(waybill_no=waybill) else {},
                       lambda n: n.get("attempts", 0) >= 1)
    r = _retry(kit, first["id"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_transition"
    assert r.json()["error"]["details"]["current"] in ("queued", "deferred")

    pass_later = kit.later_passes(waybill, lambda: _only(kit, waybill))
    failed = wait_until(pass_later, lambda n: n["status"] == "failed")
    assert failed["attempts"] == MAX_ATTEMPTS

    assert _retry(kit, first["id"], "admin").status_code == 200
    # The gateways still fail: the first try after the retry leaves it queued, not failed,
    # because the limit counts again from the retry; `attempts` goes on counting.
    again = wait_until(lambda: _only(kit, waybill), lambda n: n["attempts"] >= MAX_ATTEMPTS + 1)
    assert again["status"] == "queued", again
    kit.control(sms="ok", fallback="ok")
    sent = wait_until(pass_later, lambda n: n["status"] == "sent")
    assert sent["attempts"] >= MAX_ATTEMPTS + 2
    assert len(kit.sms_to(shipper.phone)) == 1  # type: ignore[arg-type]
