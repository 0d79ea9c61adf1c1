"""The hourly throttle never drops a notice: over `LCS_THROTTLE_PER_HOUR` (10) messages to one
recipient and channel, the rest are held and rolled up into one summary, sent by the real
dispatcher through the SMTP sink and the SMS gateway stand-in once the hour has room. Time is
the service's own: events stamped ahead of the wall clock are judged as of their time, and
`POST /v1/admin/dispatch?now=` sends what is due as of a chosen time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.notifier.domain.sms import sms_info
from tests.conftest import unique
from tests.integration.notifier.conftest import Kit, Party, wait_until

LIMIT = 10  # the default of LCS_THROTTLE_PER_HOUR


def _detail(kit: Kit, notification_id: str) -> dict[str, Any]:
    r = kit.api.get(f"/v1/notifications/{notification_id}", headers=kit.admin)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _retry(kit: Kit, notification_id: str) -> Any:
    return kit.api.post(f"/v1/notifications/{notification_id}/retry", headers=kit.infra.headers("staff"))


def _settled(ns: list[dict[str, Any]], *, channels: int, events: int) -> bool:
    """Every message is stored, the ones within the limit are sent, one summary per channel holds the rest."""
    summaries = [n for n in ns if n["template"] == "summary"]
    individual = [n for n in ns if n["template"] == "delayed" and n["rolled_into"] is None]
    return (len(ns) == channels * (events + 1) and len(summaries) == channels
            and len(individual) == channels * LIMIT and all(n["status"] == "sent" for n in individual))


def test_a_key_account_with_30_delays_hears_about_every_one(kit: Kit) -> None:
    shipper = kit.party()
    r = kit.api.put(f"/v1/recipients/{shipper.customer_id}", headers=kit.admin, json={
        "name": "无锡精工", "phone": shipper.phone, "email": shipper.email, "language": "zh-CN",
        "channels": {"sms": True, "email": True},
        "quiet_hours": {"start": "22:00", "end": "08:00", "tz": "Asia/Shanghai"}, "key_customer": True})
    assert r.status_code == 201, r.text
    waybills = [unique("WB") for _ in range(30)]
    kit.publish(*(kit.envelope(kit.registered(w, shipper, Party("", "杨民敬", None, None))) for w in waybills))
    # All judged as of one moment a little ahead (the decision time is the event's own then).
    t0 = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    kit.publish(*(kit.envelope(kit.delayed(w, minutes=60 + i), at=t0) for i, w in enumerate(waybills)))

    items = kit.wait_notifications(lambda ns: _settled(ns, channels=2, events=30), timeout=60,
                                   customer_id=shipper.customer_id)
    assert not [n for n in items if n["status"] == "suppressed"]
    summaries = {n["channel"]: n for n in items if n["template"] == "summary"}
    held = [n for n in items if n["rolled_into"] is not None]
    assert len(held) == 2 * 20
    for channel, summary in summaries.items():
        # Waiting for the hour to have room: the 10th message of the hour leaves it at t0 + 1 h.
        assert (summary["status"], summary["reason"], summary["waybill_no"]) == ("deferred", "throttled", None)
        assert datetime.fromisoformat(summary["next_attempt_at"]) == t0 + timedelta(hours=1)
        mine = [n for n in held if n["channel"] == channel]
        assert {n["rolled_into"] for n in mine} == {summary["id"]}
        assert all((n["status"], n["reason"]) == ("deferred", "rolled_up") for n in mine)

    # Not before the window has room; then the dispatcher sends both summaries.
    some_held = held[0]["waybill_no"]
    assert kit.dispatch(t0 + timedelta(hours=1) - timedelta(seconds=1), some_held) == 0
    for summary in summaries.values():
        members = _detail(kit, summary["id"])["members"]
        kit.dispatch(t0 + timedelta(hours=1), members[0]["waybill_no"])

    items = kit.notifications(customer_id=shipper.customer_id)
    assert all(n["status"] == "sent" for n in items), [(n["template"], n["status"]) for n in items]
    for channel, summary in summaries.items():
        detail = _detail(kit, summary["id"])
        assert detail["status"] == "sent" and len(detail["members"]) == 20
        assert all(m["status"] == "sent" for m in detail["members"])
        assert {m["waybill_no"] for m in detail["members"]} == {
            n["waybill_no"] for n in held if n["channel"] == channel}
    held = [n for n in items if n["rolled_into"] is not None]
    assert len(held) == 2 * 20 and all((n["status"], n["reason"]) == ("sent", "rolled_up") for n in held)

    # E-mail: 10 on their own and one summary naming all 20 others, with their new ETA and reason.
    mails = kit.emails_to(shipper.email)  # type: ignore[arg-type]
    assert len(mails) == LIMIT + 1
    [summary_mail] = [m for m in mails if "20票货物延误" in m["subject"]]
    held_mail = {n["waybill_no"] for n in held if n["channel"] == "email"}
    assert all(w in summary_mail["text"] and w in summary_mail["html"] for w in held_mail)
    assert summary_mail["text"].count("道路拥堵") == 20
    individually = {w for w in waybills for m in mails if m is not summary_mail and w in m["subject"]}
    assert individually | held_mail == set(waybills) and not individually & held_mail

    # SMS: 10 on their own and one summary within one SMS: the count, and the public tracking
    # page's form (the stack's LCS_PUBLIC_BASE_URL: 20 waybills have no one page of their own).
    texts = [m["text"] for m in kit.sms_to(shipper.phone)]  # type: ignore[arg-type]
    assert len(texts) == LIMIT + 1
    [summary_sms] = [t for t in texts if "20票货物延误" in t]
    assert f"详见{kit.stack.url('web')}/track " in summary_sms and "/t/" not in summary_sms
    assert sms_info(summary_sms).segments == 1


def test_a_held_message_fails_and_is_sent_again_with_its_summary(kit: Kit) -> None:
    shipper = kit.party(with_email=False)
    waybills = [unique("WB") for _ in range(LIMIT + 1)]
    kit.publish(*(kit.envelope(kit.registered(w, shipper, Party("", "杨民敬", None, None))) for w in waybills))
    t0 = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    # One at a time, so that the last one is the one held.
    for w in waybills:
        kit.publish(kit.envelope(kit.delayed(w), at=t0))
        kit.wait_notifications(lambda ns: len(ns) >= 1, waybill_no=w)
    items = kit.wait_notifications(lambda ns: _settled(ns, channels=1, events=LIMIT + 1),
                                   customer_id=shipper.customer_id)
    [summary] = [n for n in items if n["template"] == "summary"]
    [member] = [n for n in items if n["rolled_into"] is not None]
    assert member["waybill_no"] == waybills[-1]
    r = _retry(kit, member["id"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_transition"  # on its way

    kit.control(sms="reject")
    assert kit.dispatch(datetime.fromisoformat(summary["next_attempt_at"]), waybills[-1]) == 1
    kit.control(sms="ok")
    [member] = kit.notifications(waybill_no=waybills[-1])
    assert (member["status"], member["rolled_into"]) == ("failed", summary["id"]) and "400" in member["last_error"]
    r = _retry(kit, member["id"])
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "not_retryable"
    assert r.json()["error"]["details"] == {"reason": "rolled_up", "summary_id": summary["id"]}

    r = _retry(kit, summary["id"])
    assert r.status_code == 200, r.text
    wait_until(lambda: _detail(kit, summary["id"]), lambda d: d["status"] == "sent")
    [member] = kit.notifications(waybill_no=waybills[-1])
    assert (member["status"], member["reason"]) == ("sent", "rolled_up")
    texts = [m["text"] for m in kit.sms_to(shipper.phone)]  # type: ignore[arg-type]
    assert len(texts) == LIMIT + 1
    # One delay fits one SMS in full: the waybill, its new ETA and the reason in plain words.
    assert waybills[-1] in texts[-1] and "道路拥堵" in texts[-1] and sms_info(texts[-1]).segments == 1
