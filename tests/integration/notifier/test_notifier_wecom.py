"""A key account's WeChat Work group: its robot webhook in the preferences (a secret, shown
masked, only under the configured base URL), delays, exceptions and the daily report posted as
markdown to the robot stand-in on loopback, errcode 45009 retried after the robot's minute, a
removed robot (errcode 93000) failed at once and the notice sent by e-mail instead — once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.events import ExceptionReported, ShipmentArrived
from tests.conftest import unique
from tests.integration.notifier.conftest import Kit, Party, email, wait_until

ANY_TIME = {"start": "00:00", "end": "00:00"}  # no quiet hours: the test does not depend on the hour it runs


def key_account(kit: Kit, *, email_on: bool = True) -> tuple[Party, str, str]:
    """A key account with a group robot: (the shipper, the robot key, the account's e-mail)."""
    shipper = kit.party(with_phone=False, with_email=False)
    key = str(uuid.uuid4())
    mailbox = email("group")
    r = kit.api.put(f"/v1/recipients/{shipper.customer_id}", headers=kit.admin, json={
        "name": "联想华东", "email": mailbox, "language": "zh-CN", "key_customer": True,
        "channels": {"sms": True, "email": email_on, "wecom": True}, "quiet_hours": ANY_TIME,
        "wecom_webhook": kit.webhook(key)})
    assert r.status_code == 201, r.text
    return shipper, key, mailbox


def shipment_of(kit: Kit, shipper: Party) -> str:
    waybill = unique("WB")
    kit.publish(kit.envelope(kit.registered(waybill, shipper, Party("", "杨民敬", None, None))))
    return waybill


def group_row(kit: Kit, waybill: str) -> dict[str, Any]:
    rows = [n for n in kit.notifications(waybill_no=waybill) if n["channel"] == "wecom"]
    return rows[0] if rows else {}


def test_the_webhook_is_a_secret_kept_under_the_configured_base_url(kit: Kit) -> None:
    shipper, key, _ = key_account(kit)
    url = f"/v1/recipients/{shipper.customer_id}"
    shown = kit.api.get(url, headers=kit.admin).json()
    assert key not in str(shown)
    assert shown["wecom_webhook"].endswith(f"?key={key[:4]}****") and shown["channels"]["wecom"] is True
    # elsewhere than the robots' base URL: refused, so the notifier cannot be made to post anywhere
    bad = kit.api.put(url, headers=kit.admin, json={
        "email": email(), "wecom_webhook": f"https://evil.example.com/cgi-bin/webhook/send?key={key}"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_webhook"
    assert key not in bad.text
    # left out of a PUT: the stored one stays (nobody can read it back to send it again) ...
    kept = kit.api.put(url, headers=kit.admin, json={"name": "联想华东", "key_customer": True})
    assert kept.status_code == 200 and kept.json()["wecom_webhook"] == shown["wecom_webhook"]
    # ... null removes it
    removed = kit.api.put(url, headers=kit.admin, json={"name": "联想华东", "wecom_webhook": None})
    assert removed.status_code == 200 and removed.json()["wecom_webhook"] is None
    assert kit.sql("SELECT wecom_key FROM notifier.recipients WHERE customer_id = $1",
                   shipper.customer_id)[0]["wecom_key"] is None


def test_delays_and_exceptions_reach_the_group_as_markdown(kit: Kit) -> None:
    shipper, key, mailbox = key_account(kit)
    waybill = shipment_of(kit, shipper)
    kit.publish(kit.envelope(kit.delayed(waybill, reason="breakdown")))
    kit.publish(kit.envelope(ExceptionReported(
        exception_id=unique("EX"), waybill_no=waybill, kind="damage", pieces=1, station="NJ01",
        description="外箱破损 [点此](http://evil.example.com)", reported_at=datetime.now(UTC))))
    delay, exception = wait_until(lambda: kit.group_messages(key), lambda ms: len(ms) == 2)
    assert waybill in delay["content"] and "车辆故障" in delay["content"] and "货物延误" in delay["content"]
    assert "货物异常" in exception["content"] and "破损" in exception["content"]
    assert "[点此](" not in exception["content"]  # the description cannot write a link into the group
    rows = kit.wait_notifications(
        lambda ns: [(n["channel"], n["status"]) for n in ns].count(("wecom", "sent")) == 2, waybill_no=waybill)
    group = [n for n in rows if n["channel"] == "wecom"]
    assert {n["to"] for n in group} == {f"{key[:4]}****"} and {n["provider"] for n in group} == {"wecom"}
    assert {n["template"] for n in group} == {"delayed", "exception_reported"}
    # the account's e-mail still has its own copies: the group is one more channel
    assert len(wait_until(lambda: kit.emails_to(mailbox), lambda ms: len(ms) == 2)) == 2
    # the key is in no event the notifier published
    published = kit.sql("SELECT body FROM notifier.outbox WHERE type LIKE 'notifier.notification.%' "
                        "AND body::text LIKE $1", f"%{waybill}%")
    assert published and not [p for p in published if key in str(p["body"])]


def test_a_rate_limited_robot_is_tried_again_after_its_minute(kit: Kit) -> None:
    shipper, key, _ = key_account(kit)
    waybill = shipment_of(kit, shipper)
    kit.control(wecom="ratelimit")
    kit.publish(kit.envelope(kit.delayed(waybill)))
    first = wait_until(lambda: group_row(kit, waybill), lambda n: n.get("attempts", 0) >= 1)
    assert first["status"] == "queued" and first["last_error"].startswith("errcode 45009")
    detail = kit.api.get(f"/v1/notifications/{first['id']}", headers=kit.admin).json()
    [attempt] = detail["delivery_attempts"]
    assert (attempt["provider"], attempt["outcome"]) == ("wecom", "transient")
    # not before the robot's one-minute window has room again (the first back-off alone is at most
    # LCS_RETRY_BASE_SECONDS, 2 s; the attempt's row is stamped a moment after the pass's clock read)
    assert datetime.fromisoformat(first["next_attempt_at"]) >= datetime.fromisoformat(attempt["at"]) + \
        timedelta(seconds=59)
    assert not kit.group_messages(key)
    kit.control(wecom="ok")
    sent = wait_until(kit.later_passes(waybill, lambda: group_row(kit, waybill)), lambda n: n["status"] == "sent")
    assert sent["attempts"] == 2
    [message] = kit.group_messages(key)
    assert waybill in message["content"]


def test_a_removed_robot_fails_at_once_and_the_notice_goes_by_email_instead(kit: Kit) -> None:
    shipper, key, mailbox = key_account(kit, email_on=False)  # the account takes its news in the group only
    waybill = shipment_of(kit, shipper)
    kit.control(wecom="invalid")
    kit.publish(kit.envelope(kit.delayed(waybill)))
    rows = kit.wait_notifications(
        lambda ns: {(n["channel"], n["status"]) for n in ns} == {("wecom", "failed"), ("email", "sent")},
        waybill_no=waybill)
    [group] = [n for n in rows if n["channel"] == "wecom"]
    [mail_row] = [n for n in rows if n["channel"] == "email"]
    assert group["attempts"] == 1 and group["last_error"].startswith("errcode 93000")  # permanent: not retried
    assert mail_row["fallback_of"] == group["id"] and mail_row["template"] == "delayed"
    assert mail_row["to"].startswith("g***@")
    [mail] = kit.emails_to(mailbox)
    assert waybill in mail["text"] and mail["html"]
    assert key not in group["last_error"]


def test_a_notice_that_went_by_email_anyway_is_not_mailed_twice_by_the_fallback(kit: Kit) -> None:
    shipper, _, mailbox = key_account(kit, email_on=True)
    waybill = shipment_of(kit, shipper)
    kit.control(wecom="invalid")
    kit.publish(kit.envelope(kit.delayed(waybill)))
    kit.wait_notifications(lambda ns: {(n["channel"], n["status"]) for n in ns} == {
        ("wecom", "failed"), ("email", "sent")}, waybill_no=waybill)
    kit.handled_so_far()
    rows = kit.notifications(waybill_no=waybill)
    assert [n["channel"] for n in rows].count("email") == 1
    assert [n for n in rows if n["channel"] == "email"][0]["fallback_of"] is None  # the route's own e-mail
    assert len(kit.emails_to(mailbox)) == 1


def test_the_daily_arrival_report_reaches_the_group_once(kit: Kit) -> None:
    shipper, key, _ = key_account(kit)
    waybill = shipment_of(kit, shipper)
    now = datetime.now(UTC)
    kit.publish(kit.envelope(ShipmentArrived(waybill_no=waybill, station="WX02", arrived_at=now, pieces=10,
                                             pieces_arrived=10, pieces_total=10, final=True)))
    wait_until(lambda: kit.sql("SELECT arrived_at FROM notifier.shipments WHERE waybill_no = $1", waybill),
               lambda rows: bool(rows) and rows[0]["arrived_at"] is not None)
    day = now.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    first = kit.api.post("/v1/admin/digest", params={"day": day}, headers=kit.admin)
    assert first.status_code == 200, first.text
    again = kit.api.post("/v1/admin/digest", params={"day": day}, headers=kit.admin).json()
    assert again["queued"] == 0
    reports = wait_until(lambda: [m for m in kit.group_messages(key) if "每日到货" in m["content"]], bool)
    assert len(reports) == 1 and waybill in reports[0]["content"]
    [row] = wait_until(lambda: [n for n in kit.notifications(customer_id=shipper.customer_id)
                                if n["template"] == "daily_arrivals" and n["channel"] == "wecom"
                                and n["status"] == "sent"], bool)
    assert row["to"] == f"{key[:4]}****"


def test_over_the_hourly_limit_the_group_gets_one_summary_and_by_email_if_the_robot_is_gone(kit: Kit) -> None:
    limit = 10  # the default of LCS_THROTTLE_PER_HOUR
    shipper, key, mailbox = key_account(kit, email_on=False)
    waybills = [shipment_of(kit, shipper) for _ in range(limit + 3)]
    t0 = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    kit.publish(*(kit.envelope(kit.delayed(w, minutes=60 + i), at=t0) for i, w in enumerate(waybills)))

    def settled(ns: list[dict[str, Any]]) -> bool:
        alone = [n for n in ns if n["template"] == "delayed" and n["rolled_into"] is None]
        return (len(ns) == len(waybills) + 1 and len(alone) == limit
                and all(n["status"] == "sent" for n in alone))

    items = kit.wait_notifications(settled, timeout=60, customer_id=shipper.customer_id)
    [summary] = [n for n in items if n["template"] == "summary"]
    held = [n for n in items if n["rolled_into"] == summary["id"]]
    assert summary["channel"] == "wecom" and len(held) == 3
    assert (summary["status"], summary["reason"]) == ("deferred", "throttled")
    assert len(kit.group_messages(key)) == limit
    [stored] = kit.sql("SELECT body_text FROM notifier.notifications WHERE id = $1::uuid", summary["id"])
    assert "货运动态汇总" in stored["body_text"] and all(n["waybill_no"] in stored["body_text"] for n in held)

    # The robot was removed meanwhile: the summary fails, and its e-mail twin carries the three delays.
    kit.control(wecom="invalid")
    kit.dispatch(t0 + timedelta(hours=1), held[0]["waybill_no"])
    [mail] = wait_until(lambda: kit.emails_to(mailbox), bool)
    assert all(n["waybill_no"] in mail["text"] for n in held) and "3" in mail["subject"]
    items = kit.notifications(customer_id=shipper.customer_id)
    [failed] = [n for n in items if n["id"] == summary["id"]]
    assert failed["status"] == "failed" and failed["last_error"].startswith("errcode 93000")
    assert all(n["status"] == "failed" for n in items if n["rolled_into"] == summary["id"])
    [twin] = [n for n in items if n["fallback_of"] == summary["id"]]
    assert (twin["channel"], twin["template"]) == ("email", "summary")
