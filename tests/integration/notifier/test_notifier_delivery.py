"""Delivery over the real SMTP sink and SMS gateway: routing, rendering, audit, events, and
at most one message per event, channel and address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events import Complainant, ComplaintOpened, ComplaintSlaBreached, ShipmentArrived
from tests.conftest import SUPERVISOR_EMAIL, unique
from tests.integration.notifier.conftest import Kit, phone, wait_until


def test_a_delay_reaches_shipper_by_email_and_sms_and_consignee_by_sms(kit: Kit) -> None:
    waybill = unique("WB")
    shipper = kit.party()
    registered = kit.registered(waybill, shipper)
    consignee_phone = registered.consignee.phone
    assert consignee_phone is not None
    kit.publish(kit.envelope(registered))
    delay = kit.envelope(kit.delayed(waybill))
    kit.publish(delay)

    items = kit.wait_notifications(lambda ns: len(ns) == 3 and all(n["status"] == "sent" for n in ns),
                                   waybill_no=waybill)
    assert {(n["channel"], n["template"], n["language"]) for n in items} == {
        ("email", "delayed", "zh-CN"), ("sms", "delayed", "zh-CN")}
    assert all(n["event_id"] == str(delay.id) and n["attempts"] == 1 and n["sent_at"] for n in items)
    masked = {n["to"] for n in items}
    assert f"{shipper.phone[:3]}****{shipper.phone[-4:]}" in masked  # type: ignore[index]
    assert f"{shipper.email[0]}***@example.com" in masked  # type: ignore[index]
    assert {n["provider"] for n in items} == {"smtp", "sms-primary"}

    [mail] = kit.emails_to(shipper.email)  # type: ignore[arg-type]
    assert waybill in mail["text"] and "您好" in mail["text"] and "道路拥堵" in mail["text"]
    assert mail["html"] and waybill in mail["html"]
    key = mail["idempotency_key"].strip()  # a long header is folded onto the next line
    assert len(key) == 64 and mail["message_id"].strip().startswith(f"<{key}@")
    [sms] = kit.sms_to(shipper.phone)  # type: ignore[arg-type]
    assert waybill in sms["text"] and sms["idempotency_key"]
    assert len(kit.sms_to(consignee_phone)) == 1

    # Every send is audited, and the outcome is published through the outbox.
    detail = kit.api.get(f"/v1/notifications/{items[0]['id']}", headers=kit.admin).json()
    assert detail["delivery_attempts"][0]["outcome"] == "ok"
    assert "****" in detail["to"] or "***@" in detail["to"]
    sent_events = kit.sql("SELECT body FROM notifier.outbox WHERE type = 'notifier.notification.sent.v1' "
                          "AND body::jsonb -> 'data' ->> 'waybill_no' = $1", waybill)
    assert len(sent_events) == 3
    assert all(shipper.phone not in r["body"] and shipper.email not in r["body"] for r in sent_events)  # type: ignore[operator]


def test_the_same_event_twice_sends_once_even_past_the_inbox(kit: Kit) -> None:
    waybill = unique("WB")
    shipper = kit.party()
    kit.publish(kit.envelope(kit.registered(waybill, shipper)))
    delay = kit.envelope(kit.delayed(waybill))
    kit.publish(delay, delay)
    kit.wait_notifications(lambda ns: len(ns) == 3 and all(n["status"] == "sent" for n in ns), waybill_no=waybill)

    # A second replica racing the first would not find the event in the inbox yet: forget it
    # there, redeliver, and let the idempotency key alone hold the line.
    kit.sql("DELETE FROM notifier.inbox WHERE event_id = $1", delay.id)
    kit.publish(delay)
    # The marker: the redelivery was handled (its inbox row is back, committed with whatever it
    # did); a second send would need a notification row to send, so none may be waiting.
    wait_until(lambda: kit.sql("SELECT 1 FROM notifier.inbox WHERE event_id = $1", delay.id), bool)
    items = kit.notifications(waybill_no=waybill)
    assert len(items) == 3 and all(n["status"] == "sent" for n in items)
    assert len(kit.emails_to(shipper.email)) == 1  # type: ignore[arg-type]
    assert len(kit.sms_to(shipper.phone)) == 1  # type: ignore[arg-type]


def test_an_event_before_its_registration_waits_for_it(kit: Kit) -> None:
    waybill = unique("WB")
    shipper = kit.party()
    kit.publish(kit.envelope(kit.delayed(waybill)))
    wait_until(lambda: kit.sql("SELECT 1 FROM notifier.parked_events WHERE waybill_no = $1", waybill), bool)
    assert kit.notifications(waybill_no=waybill) == []
    kit.publish(kit.envelope(kit.registered(waybill, shipper)))
    kit.wait_notifications(lambda ns: len(ns) == 3 and all(n["status"] == "sent" for n in ns), waybill_no=waybill)
    assert kit.sql("SELECT 1 FROM notifier.parked_events WHERE waybill_no = $1", waybill) == []


def test_a_split_shipment_is_announced_once_when_every_piece_arrived(kit: Kit) -> None:
    waybill = unique("WB")
    shipper = kit.party()
    kit.publish(kit.envelope(kit.registered(waybill, shipper)))
    # Urgent-free templates: judge the arrival at noon Shanghai time, so no quiet hours apply.
    noon = (datetime.now(UTC) + timedelta(days=1)).replace(hour=4, minute=0, second=0, microsecond=0)
    first = ShipmentArrived(waybill_no=waybill, station="WX02", arrived_at=noon, pieces=4, pieces_arrived=4,
                            pieces_total=10, final=False)
    last = ShipmentArrived(waybill_no=waybill, station="WX02", arrived_at=noon, pieces=6, pieces_arrived=10,
                           pieces_total=10, final=True)
    kit.publish(kit.envelope(first, at=noon))
    kit.publish(kit.envelope(last, at=noon))
    items = kit.wait_notifications(lambda ns: len(ns) == 3 and all(n["status"] == "sent" for n in ns),
                                   waybill_no=waybill)
    assert {n["template"] for n in items} == {"arrived"}
    [mail] = kit.emails_to(shipper.email)  # type: ignore[arg-type]
    assert "10件" in mail["text"]
    assert kit.sql("SELECT arrived_at FROM notifier.shipments WHERE waybill_no = $1", waybill)[0]["arrived_at"]


def test_a_complaint_is_acknowledged_to_the_complainant(kit: Kit) -> None:
    number, complaint_id = phone(), unique("CP")
    now = datetime.now(UTC)
    noon = (now + timedelta(days=1)).replace(hour=4, minute=0, second=0, microsecond=0)
    opened = ComplaintOpened(
        complaint_id=complaint_id, complainant=Complainant(caller_name="陈法开", phone=number, language="en"),
        category="delay", channel="phone", priority="normal", opened_at=now,
        first_response_due=now + timedelta(minutes=5), resolution_due=now + timedelta(hours=8))
    kit.publish(kit.envelope(opened, at=noon, source="/lcs/complaints"))
    wait_until(lambda: kit.sms_to(number), bool)
    [sms] = kit.sms_to(number)
    assert complaint_id in sms["text"] and sms["text"].startswith("Hello")


def test_an_sla_breach_is_mailed_to_the_supervisor_once(kit: Kit) -> None:
    complaint_id = unique("CP")
    now = datetime.now(UTC)
    breached = ComplaintSlaBreached(complaint_id=complaint_id, kind="first_response", due_at=now - timedelta(minutes=1),
                                    breached_at=now, category="delay", priority="high", waybill_no="SH2026112800001",
                                    customer_id="C100")
    envelope = kit.envelope(breached, at=now, source="/lcs/complaints")
    kit.publish(envelope, envelope)  # a redelivery changes nothing

    def mails() -> list[dict[str, Any]]:
        return [e for e in kit.emails_to(SUPERVISOR_EMAIL) if complaint_id in (e["subject"] + (e["text"] or ""))]

    [mail] = wait_until(mails, bool)
    assert mail["html"] and complaint_id in mail["text"]
    kit.handled_so_far()  # both copies handled; then nothing left to send for it
    rows = [n for n in kit.notifications() if n["event_id"] == str(envelope.id)]
    assert [n["status"] for n in rows] == ["sent"]
    assert len(mails()) == 1
    [row] = [n for n in kit.notifications() if n["event_id"] == str(envelope.id)]
    assert row["channel"] == "email" and row["template"] == "complaint_sla_breached" and row["status"] == "sent"


def test_registrations_and_events_handled_side_by_side_lose_nothing(kit: Kit) -> None:
    shipments = [(unique("WB"), kit.party(with_email=False)) for _ in range(10)]
    batch = []
    for waybill, shipper in shipments:
        # the delay first: it may be handled before, during or after its registration
        batch += [kit.envelope(kit.delayed(waybill)), kit.envelope(kit.registered(waybill, shipper))]
    kit.publish(*batch)
    for waybill, shipper in shipments:
        kit.wait_notifications(lambda ns: len(ns) == 2 and all(n["status"] == "sent" for n in ns),
                               waybill_no=waybill)
        assert len(kit.sms_to(shipper.phone)) == 1  # type: ignore[arg-type]


def test_single_events_are_each_sent_once(kit: Kit) -> None:
    """Events one at a time on a quiet queue (the next is published once the previous one's
    notices are sent): each is sent once per recipient and channel. That a send follows the
    commit's wake-up rather than the next poll is test_notifier_dispatch_wakeup's; how fast it
    is, the benchmark's (`make bench`, figure 4): no test asserts a duration."""
    shipments = [(unique("WB"), kit.party()) for _ in range(20)]
    kit.publish(*(kit.envelope(kit.registered(w, s)) for w, s in shipments))
    wait_until(lambda: kit.sql("SELECT count(*) AS n FROM notifier.shipments WHERE waybill_no = ANY($1::text[])",
                               [w for w, _ in shipments])[0]["n"], lambda n: n == 20)
    for waybill, shipper in shipments:
        event = kit.envelope(kit.delayed(waybill))
        kit.publish(event)
        items = kit.wait_notifications(lambda ns: len(ns) == 3 and all(n["status"] == "sent" for n in ns),
                                       waybill_no=waybill)
        assert all(n["event_id"] == str(event.id) and n["attempts"] == 1 for n in items)
        assert len(kit.emails_to(shipper.email)) == 1  # type: ignore[arg-type]
        assert len(kit.sms_to(shipper.phone)) == 1  # type: ignore[arg-type]
