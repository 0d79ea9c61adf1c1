"""A routed notice with nowhere to go leaves a trace (issue 23): one audit row, `failed` with
reason `no_recipient` (or `suppressed`/`opted_out` when the recipient switched everything off),
a `notifier.notification.failed.v1`, and `lcs_notifier_no_recipient_total`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families

from shared.events import ComplaintSlaBreached, ReceiptOverdue
from tests.conftest import unique
from tests.integration.notifier.conftest import Kit, Party, wait_until


def counter(base_url: str, family_name: str, **labels: str) -> float:
    """The sum of a counter's samples on the service's /metrics whose labels include `labels`."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        if family.name == family_name:
            return sum(s.value for s in family.samples
                       if s.name.endswith("_total") and labels.items() <= s.labels.items())
    return 0.0


def no_recipient_count(base_url: str, event_type: str) -> float:
    return counter(base_url, "lcs_notifier_no_recipient", event_type=event_type)


def duplicates_seen(base_url: str, event_type: str) -> float:
    """Deliveries of `event_type` the notifier's inbox recognised as already handled."""
    return counter(base_url, "lcs_events_consumed", service="notifier", type=event_type, outcome="duplicate")


def failed_events(kit: Kit, notification_id: str) -> list[dict]:  # type: ignore[type-arg]
    rows = kit.sql("SELECT body::jsonb -> 'data' AS data FROM notifier.outbox "
                   "WHERE type = 'notifier.notification.failed.v1' "
                   "AND body::jsonb -> 'data' ->> 'notification_id' = $1", notification_id)
    return [json.loads(r["data"]) for r in rows]


def test_a_receipt_chase_to_a_station_without_a_contact_is_stored_failed_and_counted(kit: Kit) -> None:
    before = no_recipient_count(kit.stack.url("notifier"), ReceiptOverdue.TYPE)
    duplicates = duplicates_seen(kit.stack.url("notifier"), ReceiptOverdue.TYPE)
    waybill = unique("WB")
    overdue = ReceiptOverdue(waybill_no=waybill, stage="due", due_at=datetime.now(UTC) - timedelta(days=1),
                             status="mailed", origin="SH01", destination="WX02", station_contact=None, days_overdue=1)
    envelope = kit.envelope(overdue, source="/lcs/receipts")
    kit.publish(envelope, envelope)  # a redelivery leaves no second row
    [item] = kit.wait_notifications(lambda ns: len(ns) == 1, waybill_no=waybill)
    assert (item["status"], item["reason"], item["attempts"], item["to"]) == ("failed", "no_recipient", 0, "")
    assert item["channel"] == "sms" and item["template"] == "receipt_overdue" and item["event_id"] == str(envelope.id)
    assert "no_recipient" in item["last_error"]
    [event] = wait_until(lambda: failed_events(kit, item["id"]), bool)
    assert event["attempts"] == 0 and event["to"] == "" and event["waybill_no"] == waybill
    wait_until(lambda: no_recipient_count(kit.stack.url("notifier"), ReceiptOverdue.TYPE), lambda n: n >= before + 1)
    # the redelivery was handled (seen as a duplicate) and left no second row
    wait_until(lambda: duplicates_seen(kit.stack.url("notifier"), ReceiptOverdue.TYPE), lambda n: n >= duplicates + 1)
    assert len(kit.notifications(waybill_no=waybill)) == 1
    # Nothing to send: the desk cannot send it again.
    r = kit.api.post(f"/v1/notifications/{item['id']}/retry", headers=kit.infra.headers("staff"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_retryable"


def test_a_customer_who_switched_everything_off_leaves_a_suppressed_opted_out_row(kit: Kit) -> None:
    shipper = kit.party()
    r = kit.api.put(f"/v1/recipients/{shipper.customer_id}", headers=kit.admin, json={
        "name": "无锡精工", "phone": shipper.phone, "email": shipper.email, "language": "zh-CN",
        "channels": {"sms": False, "email": False}, "quiet_hours": {"start": "22:00", "end": "08:00"}})
    assert r.status_code == 201, r.text
    waybill = unique("WB")
    kit.publish(kit.envelope(kit.registered(waybill, shipper, Party("", "杨民敬", None, None))))
    kit.publish(kit.envelope(kit.delayed(waybill)))
    [item] = kit.wait_notifications(lambda ns: len(ns) == 1, waybill_no=waybill)
    assert (item["status"], item["reason"], item["attempts"]) == ("suppressed", "opted_out", 0)
    assert item["customer_id"] == shipper.customer_id and "****" in item["to"]
    assert not kit.sms_to(shipper.phone)  # type: ignore[arg-type]
    assert not kit.emails_to(shipper.email)  # type: ignore[arg-type]


def test_an_sla_breach_with_no_supervisor_mailbox_is_stored_failed_not_dropped(kit: Kit) -> None:
    """LCS_SUPERVISOR_EMAIL unset: the notifier runs without it for this test."""
    main = kit.stack.procs["notifier"]
    main.stop()
    lone = kit.stack.add_service("notifier", instance="notifier-nosup", LCS_SUPERVISOR_EMAIL="")
    try:
        kit.stack.start_proc("notifier-nosup")
        base = kit.stack.url("notifier-nosup")
        before = no_recipient_count(base, ComplaintSlaBreached.TYPE)
        complaint_id = unique("CP")
        now = datetime.now(UTC)
        breached = ComplaintSlaBreached(complaint_id=complaint_id, kind="first_response",
                                        due_at=now - timedelta(minutes=1), breached_at=now, category="delay",
                                        priority="high", waybill_no="SH2026112800001", customer_id="C100")
        envelope = kit.envelope(breached, at=now, source="/lcs/complaints")
        kit.publish(envelope)
        with httpx.Client(base_url=base, timeout=30) as api:
            def rows() -> list[dict]:  # type: ignore[type-arg]
                r = api.get("/v1/notifications", params={"limit": "500"}, headers=kit.admin)
                return [n for n in r.json()["items"] if n["event_id"] == str(envelope.id)]

            [item] = wait_until(rows, bool)
        assert (item["status"], item["reason"], item["channel"], item["template"]) == (
            "failed", "no_recipient", "email", "complaint_sla_breached")
        assert no_recipient_count(base, ComplaintSlaBreached.TYPE) == before + 1
        assert failed_events(kit, item["id"])
    finally:
        lone.stop()
        kit.stack.start_proc("notifier")
