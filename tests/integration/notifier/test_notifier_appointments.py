"""A delivery booked with the consignee (tracking.delivery.appointed.v1) is confirmed to them by
SMS and e-mail: once per appointment (the same booking published twice is one booking), again for
a superseding booking, never for a stale one; before the registration, it waits for it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

from shared.events import DeliveryAppointed
from tests.conftest import unique
from tests.integration.notifier.conftest import Kit, Party, email, phone, wait_until
from tests.integration.notifier.test_notifier_preferences import next_local

# Judge the events at 10:00 Shanghai time (the events' own time), so the consignee's default quiet
# hours (22:00-08:00) never hold the SMS back, whatever the hour the test runs.
MORNING = time(10, 0)


def appointed(waybill: str, appointment_id: str, *, start: datetime, note: str | None = "请提前电话联系") -> \
        DeliveryAppointed:
    return DeliveryAppointed(appointment_id=appointment_id, waybill_no=waybill, station="WX02", window_start=start,
                             window_end=start + timedelta(hours=2), channel="phone", note=note,
                             booked_by="staff:li")


def confirmations(kit: Kit, waybill: str) -> list[dict[str, Any]]:
    return [n for n in kit.notifications(waybill_no=waybill) if n["template"] == "delivery_appointed"]


def test_an_appointment_is_confirmed_once_and_a_new_one_again(kit: Kit) -> None:
    waybill = unique("WB")
    consignee = Party(customer_id="", name="杨民敬", phone=phone(), email=email("cons"))
    kit.publish(kit.envelope(kit.registered(waybill, kit.party(with_phone=False, with_email=False), consignee)))
    at = next_local(MORNING, after=datetime.now(UTC))
    first_id = unique("AP")
    window = at + timedelta(days=1, hours=4)  # 14:00-16:00 the next day
    kit.publish(kit.envelope(appointed(waybill, first_id, start=window), at=at))
    rows = kit.wait_notifications(lambda ns: [n["status"] for n in ns].count("sent") == 2, waybill_no=waybill)
    assert {(n["channel"], n["template"]) for n in rows} == {("sms", "delivery_appointed"),
                                                            ("email", "delivery_appointed")}
    [sms] = kit.sms_to(consignee.phone)  # type: ignore[arg-type]
    assert waybill in sms["text"] and "14:00–16:00" in sms["text"] and sms["text"].endswith("【LCS物流】")
    [mail] = kit.emails_to(consignee.email)  # type: ignore[arg-type]
    assert "预约" in mail["subject"] and "请提前电话联系" in mail["text"] and "WX02" in mail["text"]

    # the same booking published again (a new event id, a later time): no second confirmation
    kit.publish(kit.envelope(appointed(waybill, first_id, start=window), at=at + timedelta(minutes=5)))
    kit.handled_so_far()
    assert len(confirmations(kit, waybill)) == 2 and len(kit.sms_to(consignee.phone)) == 1  # type: ignore[arg-type]

    # a superseding booking (a new appointment): confirmed again, with its own window
    later = window + timedelta(days=1)
    kit.publish(kit.envelope(appointed(waybill, unique("AP"), start=later, note=None), at=at + timedelta(hours=1)))
    wait_until(lambda: kit.sms_to(consignee.phone), lambda ms: len(ms) == 2)  # type: ignore[arg-type]
    stored = kit.sql("SELECT appointment ->> 'window_start' AS start FROM notifier.shipments WHERE waybill_no = $1",
                     waybill)[0]["start"]
    assert datetime.fromisoformat(stored) == later

    # a stale booking (older than the one we know) arriving late tells the consignee nothing
    kit.publish(kit.envelope(appointed(waybill, unique("AP"), start=window), at=at + timedelta(minutes=30)))
    kit.handled_so_far()
    assert len(kit.sms_to(consignee.phone)) == 2 and len(confirmations(kit, waybill)) == 4  # type: ignore[arg-type]


def test_an_appointment_before_its_registration_waits_for_it(kit: Kit) -> None:
    waybill = unique("WB")
    consignee = Party(customer_id="", name="程发凯", phone=phone(), email=None)
    at = next_local(MORNING, after=datetime.now(UTC))
    kit.publish(kit.envelope(appointed(waybill, str(uuid.uuid4()), start=at + timedelta(hours=5)), at=at))
    wait_until(lambda: kit.sql("SELECT 1 FROM notifier.parked_events WHERE waybill_no = $1", waybill), bool)
    kit.publish(kit.envelope(kit.registered(waybill, kit.party(with_phone=False, with_email=False), consignee)))
    [row] = kit.wait_notifications(lambda ns: len(ns) == 1 and ns[0]["status"] == "sent", waybill_no=waybill)
    assert row["channel"] == "sms" and row["template"] == "delivery_appointed"
    assert len(kit.sms_to(consignee.phone)) == 1  # type: ignore[arg-type]
