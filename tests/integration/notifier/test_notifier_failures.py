"""When providers misbehave: fallback gateway, retries with back-off up to the limit, permanent
failures not retried, and the failed event."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.conftest import unique
from tests.integration.notifier.conftest import Kit, Party, wait_until

MAX_ATTEMPTS = 5  # the default of LCS_MAX_ATTEMPTS


def _shipment(kit: Kit, *, with_email: bool = False) -> tuple[str, Party]:
    """A registered waybill whose consignee has no phone, so the shipper is the only SMS recipient."""
    waybill = unique("WB")
    shipper = kit.party(with_email=with_email)
    registered = kit.registered(waybill, shipper, Party(customer_id="", name="杨民敬", phone=None, email=None))
    kit.publish(kit.envelope(registered))
    return waybill, shipper


def _sms_of(kit: Kit, waybill: str) -> dict:  # type: ignore[type-arg]
    [item] = [n for n in kit.notifications(waybill_no=waybill) if n["channel"] == "sms"]
    return item


def test_primary_gateway_down_the_fallback_delivers(kit: Kit) -> None:
    kit.control(sms="fail")
    waybill, shipper = _shipment(kit)
    kit.publish(kit.envelope(kit.delayed(waybill)))
    [item] = kit.wait_notifications(lambda ns: len(ns) == 1 and ns[0]["status"] == "sent", waybill_no=waybill)
    assert item["provider"] == "sms-fallback" and item["attempts"] == 1
    assert kit.sms_to(shipper.phone, "/fallback/sms") and not kit.sms_to(shipper.phone)  # type: ignore[arg-type]
    detail = kit.api.get(f"/v1/notifications/{item['id']}", headers=kit.admin).json()
    assert [(a["provider"], a["outcome"]) for a in detail["delivery_attempts"]] == [
        ("sms-primary", "transient"), ("sms-fallback", "ok")]


def test_primary_gateway_timing_out_the_fallback_delivers(kit: Kit) -> None:
    kit.control(sms="timeout")
    waybill, shipper = _shipment(kit)
    kit.publish(kit.envelope(kit.delayed(waybill)))
    [item] = kit.wait_notifications(lambda ns: len(ns) == 1 and ns[0]["status"] == "sent", timeout=30,
                                    waybill_no=waybill)
    assert item["provider"] == "sms-fallback"
    detail = kit.api.get(f"/v1/notifications/{item['id']}", headers=kit.admin).json()
    assert "Timeout" in detail["delivery_attempts"][0]["error"]


def test_transient_failures_are_retried_up_to_the_limit_then_failed_with_an_event(kit: Kit) -> None:
    kit.control(sms="fail", fallback="fail")
    waybill, _ = _shipment(kit)
    event = kit.envelope(kit.delayed(waybill))
    kit.publish(event)
    wait_until(lambda: _sms_of(kit, waybill) if kit.notifications(waybill_no=waybill) else {},
               lambda n: n.get("attempts", 0) >= 1)
    first = _sms_of(kit, waybill)
    assert first["status"] == "queued" and "503" in first["last_error"]
    # The back-off is seconds long; an operator's dispatch pass "as of" later times replays it now.
    # (A pass skips a row the background worker holds at that moment; hence "until".)
    item = wait_until(kit.later_passes(waybill, lambda: _sms_of(kit, waybill)), lambda n: n["status"] == "failed")
    assert item["status"] == "failed" and item["attempts"] == MAX_ATTEMPTS
    detail = kit.api.get(f"/v1/notifications/{item['id']}", headers=kit.admin).json()
    assert len(detail["delivery_attempts"]) == 2 * MAX_ATTEMPTS  # primary + fallback each time
    failed = kit.sql("SELECT body::jsonb -> 'data' AS data FROM notifier.outbox "
                     "WHERE type = 'notifier.notification.failed.v1' AND body::jsonb -> 'data' ->> 'waybill_no' = $1",
                     waybill)
    assert len(failed) == 1
    data = json.loads(failed[0]["data"])
    assert data["attempts"] == MAX_ATTEMPTS and data["event_id"] == str(event.id) and "****" in data["to"]


def test_a_rejected_sms_is_not_retried_nor_sent_elsewhere(kit: Kit) -> None:
    kit.control(sms="reject")
    waybill, shipper = _shipment(kit)
    kit.publish(kit.envelope(kit.delayed(waybill)))
    [item] = kit.wait_notifications(lambda ns: len(ns) == 1 and ns[0]["status"] == "failed", waybill_no=waybill)
    assert item["attempts"] == 1 and "400" in item["last_error"]
    assert kit.dispatch(datetime.now(UTC) + timedelta(days=1), waybill) == 0
    assert not kit.sms_to(shipper.phone, "/fallback/sms")  # type: ignore[arg-type]


def test_a_rejected_mailbox_fails_at_once_and_a_temporary_smtp_failure_is_retried(kit: Kit) -> None:
    kit.control(smtp="reject")
    waybill, shipper = _shipment(kit, with_email=True)
    kit.publish(kit.envelope(kit.delayed(waybill)))
    items = kit.wait_notifications(lambda ns: any(n["channel"] == "email" and n["status"] == "failed" for n in ns),
                                   waybill_no=waybill)
    [mail] = [n for n in items if n["channel"] == "email"]
    assert mail["attempts"] == 1 and "550" in mail["last_error"]

    kit.control(smtp="tempfail")
    waybill, shipper = _shipment(kit, with_email=True)
    kit.publish(kit.envelope(kit.delayed(waybill)))
    kit.wait_notifications(lambda ns: any(n["channel"] == "email" and n["attempts"] >= 1 for n in ns),
                           waybill_no=waybill)
    [mail] = [n for n in kit.notifications(waybill_no=waybill) if n["channel"] == "email"]
    assert mail["status"] == "queued" and "451" in mail["last_error"]
    kit.control(smtp="ok")

    def pass_later() -> dict:  # type: ignore[type-arg]
        kit.dispatch(datetime.now(UTC) + timedelta(hours=1), waybill)
        return next(n for n in kit.notifications(waybill_no=waybill) if n["channel"] == "email")

    mail = wait_until(pass_later, lambda n: n["status"] == "sent")
    assert mail["attempts"] >= 2
    assert len(kit.emails_to(shipper.email)) == 1  # type: ignore[arg-type]
