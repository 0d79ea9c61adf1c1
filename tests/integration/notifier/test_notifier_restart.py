"""A restart loses nothing, and two replicas never send a message twice."""

from __future__ import annotations

from tests.conftest import unique
from tests.integration.notifier.conftest import Kit, Party, wait_until


def test_messages_queued_when_the_notifier_stops_are_sent_after_it_starts_again(kit: Kit) -> None:
    kit.control(sms="fail", fallback="fail")
    waybill = unique("WB")
    shipper = kit.party(with_email=False)
    kit.publish(kit.envelope(kit.registered(waybill, shipper, Party("", "杨民敬", None, None))))
    kit.publish(kit.envelope(kit.delayed(waybill)))
    kit.wait_notifications(lambda ns: len(ns) == 1 and ns[0]["attempts"] >= 1, waybill_no=waybill)
    proc = kit.stack.procs["notifier"]
    proc.stop()
    try:
        kit.control(sms="ok", fallback="ok")
        rows = kit.sql("SELECT status FROM notifier.notifications WHERE waybill_no = $1", waybill)
        assert [r["status"] for r in rows] == ["queued"]
    finally:
        kit.stack.start_proc("notifier")
    kit.wait_notifications(lambda ns: ns[0]["status"] == "sent", waybill_no=waybill)
    assert len(kit.sms_to(shipper.phone)) == 1  # type: ignore[arg-type]


def test_two_replicas_share_the_work_and_send_each_message_once(kit: Kit) -> None:
    second = kit.stack.add_service("notifier", instance="notifier2")
    kit.stack.start_proc("notifier2")
    try:
        shippers, waybills = [], []
        for _ in range(12):
            waybill, shipper = unique("WB"), kit.party()
            kit.publish(kit.envelope(kit.registered(waybill, shipper, Party("", "杨民敬", None, None))))
            shippers.append(shipper)
            waybills.append(waybill)
        delays = [kit.envelope(kit.delayed(w)) for w in waybills]
        kit.publish(*delays, *delays)  # every event delivered twice, to whichever replica
        for waybill in waybills:
            kit.wait_notifications(lambda ns: len(ns) == 2 and all(n["status"] == "sent" for n in ns),
                                   waybill_no=waybill)
        for shipper in shippers:
            assert len(kit.sms_to(shipper.phone)) == 1  # type: ignore[arg-type]
            assert len(kit.emails_to(shipper.email)) == 1  # type: ignore[arg-type]
        rows = kit.sql("SELECT count(DISTINCT application_name) AS n FROM pg_stat_activity "
                       "WHERE application_name = 'lcs-notifier' AND datname = current_database()")
        assert rows[0]["n"] == 1
        wait_until(lambda: second.running, bool)
    finally:
        second.stop()
