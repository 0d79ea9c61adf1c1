"""Preferences win over event contacts; opt-out; language; quiet hours (with the decision time
taken from the event's time, and the dispatch pass run "as of" a chosen time); throttling (what
is over the hourly limit is rolled up into a summary: `test_notifier_rollup.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.events import ShipmentDeparted
from tests.conftest import unique
from tests.integration.notifier.conftest import Kit, Party, email, phone, wait_until

SHANGHAI = ZoneInfo("Asia/Shanghai")


def next_local(at: time, *, after: datetime) -> datetime:
    """The next Shanghai wall-clock time `at` after `after`."""
    local = after.astimezone(SHANGHAI)
    candidate = datetime.combine(local.date(), at, tzinfo=SHANGHAI)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate


def test_preferences_win_over_the_event_and_a_channel_can_be_switched_off(kit: Kit) -> None:
    shipper = kit.party()
    preferred = email("pref")
    r = kit.api.put(f"/v1/recipients/{shipper.customer_id}", headers=kit.admin, json={
        "name": "Wuxi Precision", "phone": None, "email": preferred, "language": "en",
        "channels": {"sms": False, "email": True}, "quiet_hours": {"start": "22:00", "end": "08:00",
                                                                   "tz": "Asia/Shanghai"}})
    assert r.status_code == 201, r.text
    waybill = unique("WB")
    kit.publish(kit.envelope(kit.registered(waybill, shipper, Party("", "杨民敬", None, None))))
    kit.publish(kit.envelope(kit.delayed(waybill)))
    [item] = kit.wait_notifications(lambda ns: len(ns) == 1 and ns[0]["status"] == "sent", waybill_no=waybill)
    assert item["channel"] == "email" and item["language"] == "en" and item["customer_id"] == shipper.customer_id
    [mail] = kit.emails_to(preferred)
    assert mail["text"].startswith("Wuxi Precision") or "Wuxi Precision" in mail["text"]
    assert not kit.emails_to(shipper.email)  # type: ignore[arg-type]
    assert not kit.sms_to(shipper.phone)  # type: ignore[arg-type]

    r = kit.api.get(f"/v1/recipients/{shipper.customer_id}", headers=kit.infra.headers("staff"))
    assert r.status_code == 200 and r.json()["channels"] == {"sms": False, "email": True, "wecom": True}


def test_recipient_input_is_checked_and_nothing_half_stored(kit: Kit) -> None:
    customer = unique("C")
    good = {"name": "A", "phone": phone(), "email": email(), "language": "zh-CN",
            "channels": {"sms": True, "email": True}, "quiet_hours": {"start": "22:00", "end": "08:00",
                                                                      "tz": "Asia/Shanghai"}}
    for bad in ({"phone": "12"}, {"email": "not-an-address"}, {"language": "fr"},
                {"quiet_hours": {"start": "22:00", "end": "08:00", "tz": "Mars/Base"}},
                {"quiet_hours": {"start": "25:00", "end": "08:00"}}, {"name": "x" * 101}, {"unknown": 1}):
        r = kit.api.put(f"/v1/recipients/{customer}", headers=kit.admin, json={**good, **bad})
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["code"] == "validation_error"
    assert kit.api.get(f"/v1/recipients/{customer}", headers=kit.admin).status_code == 404
    r = kit.api.put("/v1/recipients/bad id!", headers=kit.admin, json=good)
    assert r.status_code in (404, 422)
    assert kit.api.put(f"/v1/recipients/{customer}", headers=kit.infra.headers("branch", branch="SH01"),
                       json=good).status_code == 403
    assert kit.api.put(f"/v1/recipients/{customer}", json=good).status_code == 401
    assert kit.api.put(f"/v1/recipients/{customer}", headers=kit.infra.headers("staff"), json=good).status_code == 201
    assert kit.api.put(f"/v1/recipients/{customer}", headers=kit.admin, json=good).status_code == 200


def test_a_non_urgent_sms_at_night_waits_for_the_morning_and_email_does_not(kit: Kit) -> None:
    waybill = unique("WB")
    shipper = kit.party()
    kit.publish(kit.envelope(kit.registered(waybill, shipper, Party("", "杨民敬", None, None))))
    night = next_local(time(23, 0), after=datetime.now(UTC) + timedelta(minutes=5))
    departed = ShipmentDeparted(waybill_no=waybill, station="SH01", at=night, eta=night + timedelta(hours=20))
    kit.publish(kit.envelope(departed, at=night))  # judged as of 23:00 Shanghai

    items = kit.wait_notifications(lambda ns: {(n["channel"], n["status"]) for n in ns} == {
        ("email", "sent"), ("sms", "deferred")}, waybill_no=waybill)
    [sms] = [n for n in items if n["channel"] == "sms"]
    morning = next_local(time(8, 0), after=night)
    assert sms["reason"] == "quiet_hours"
    assert datetime.fromisoformat(sms["next_attempt_at"]) == morning

    assert kit.dispatch(morning - timedelta(minutes=1), waybill) == 0
    assert not kit.sms_to(shipper.phone)  # type: ignore[arg-type]
    assert kit.dispatch(morning, waybill) == 1
    [sms] = [n for n in kit.notifications(waybill_no=waybill) if n["channel"] == "sms"]
    assert sms["status"] == "sent"
    assert len(kit.sms_to(shipper.phone)) == 1  # type: ignore[arg-type]


def test_own_quiet_hours_from_preferences_and_urgent_messages_go_out_at_night(kit: Kit) -> None:
    shipper = kit.party(with_email=False)
    r = kit.api.put(f"/v1/recipients/{shipper.customer_id}", headers=kit.admin, json={
        "name": "午休客户", "phone": shipper.phone, "email": None, "language": "zh-CN",
        "channels": {"sms": True, "email": True}, "quiet_hours": {"start": "12:00", "end": "14:00",
                                                                  "tz": "Asia/Shanghai"}})
    assert r.status_code == 201, r.text
    waybill = unique("WB")
    kit.publish(kit.envelope(kit.registered(waybill, shipper, Party("", "杨民敬", None, None))))
    lunch = next_local(time(13, 0), after=datetime.now(UTC) + timedelta(minutes=5))
    departed = ShipmentDeparted(waybill_no=waybill, station="SH01", at=lunch, eta=lunch + timedelta(hours=5))
    kit.publish(kit.envelope(departed, at=lunch))
    [item] = kit.wait_notifications(lambda ns: len(ns) == 1, waybill_no=waybill)
    assert item["status"] == "deferred"
    assert datetime.fromisoformat(item["next_attempt_at"]) == lunch.replace(hour=14)

    # A delay is urgent: the customer needs the revised time, night or not.
    night = next_local(time(23, 30), after=datetime.now(UTC) + timedelta(minutes=5))
    kit.publish(kit.envelope(kit.delayed(waybill), at=night))
    kit.wait_notifications(lambda ns: any(n["template"] == "delayed" and n["status"] == "sent" for n in ns),
                           waybill_no=waybill)


def test_more_than_the_hourly_limit_is_rolled_up_into_a_summary_not_suppressed(kit: Kit) -> None:
    waybill = unique("WB")
    shipper = kit.party(with_email=False)
    kit.publish(kit.envelope(kit.registered(waybill, shipper, Party("", "杨民敬", None, None))))
    kit.publish(*(kit.envelope(kit.delayed(waybill, minutes=60 + i)) for i in range(11)))
    items = kit.wait_notifications(lambda ns: len(ns) == 11 and all(n["status"] in ("sent", "deferred")
                                                                     for n in ns), waybill_no=waybill)
    held = [n for n in items if n["status"] == "deferred"]
    assert len(held) == 1 and held[0]["reason"] == "rolled_up" and held[0]["attempts"] == 0
    wait_until(lambda: kit.sms_to(shipper.phone), lambda ms: len(ms) == 10)  # type: ignore[arg-type]
    r = kit.api.get("/v1/notifications", params={"waybill_no": waybill, "status": "suppressed"}, headers=kit.admin)
    assert r.json()["items"] == []
    summary = kit.api.get(f"/v1/notifications/{held[0]['rolled_into']}", headers=kit.admin).json()
    assert (summary["template"], summary["status"], summary["reason"]) == ("summary", "deferred", "throttled")
    assert [m["id"] for m in summary["members"]] == [held[0]["id"]]
    # When the hour has room, the summary goes and the held message with it.
    assert kit.dispatch(datetime.fromisoformat(summary["next_attempt_at"]), waybill) == 1
    [after] = [n for n in kit.notifications(waybill_no=waybill) if n["id"] == held[0]["id"]]
    assert (after["status"], after["reason"], after["rolled_into"]) == ("sent", "rolled_up", summary["id"])
    assert len(kit.sms_to(shipper.phone)) == 11  # type: ignore[arg-type]
