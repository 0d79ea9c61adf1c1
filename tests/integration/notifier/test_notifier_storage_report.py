"""The key accounts' storage report (货物暂存报表): goods at their destination station and not
delivered, by e-mail, once per account per day (the admin's run on demand; the job at the
account's hour is the same use case, `storage_report_due` decides the hour)."""

from __future__ import annotations

import base64
import io
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from services.notifier.domain.storage import storage_report_key
from services.notifier.storage.service import _STORAGE_NAMESPACE
from shared.events import DeliveryAppointed, ShipmentArrived, ShipmentDelivered
from tests.conftest import unique
from tests.integration.notifier.conftest import Kit, Party, email, wait_until


def test_a_key_account_gets_its_storage_report_once_a_day(kit: Kit) -> None:
    shipper = kit.party(with_phone=False, with_email=False)
    report_to = email("store")
    account = {"name": "联想华东", "email": report_to, "key_customer": True, "channels": {"sms": False, "email": True},
               "quiet_hours": {"start": "00:00", "end": "00:00"}, "storage_report": {"enabled": False, "hour": 9}}
    r = kit.api.put(f"/v1/recipients/{shipper.customer_id}", headers=kit.admin, json=account)
    assert r.status_code == 201, r.text
    now = datetime.now(UTC)
    stored, partial, delivered, on_road = (unique("WB") for _ in range(4))
    for waybill in (stored, partial, delivered, on_road):
        kit.publish(kit.envelope(kit.registered(waybill, shipper, Party("", "杨民敬", None, None))))
    arrived_at = now - timedelta(days=2)
    kit.publish(
        kit.envelope(ShipmentArrived(waybill_no=stored, station="WX02", arrived_at=arrived_at, pieces=10,
                                     pieces_arrived=10, pieces_total=10, final=True)),
        kit.envelope(ShipmentArrived(waybill_no=partial, station="WX02", arrived_at=now - timedelta(hours=1),
                                     pieces=4, pieces_arrived=4, pieces_total=10, final=False)),
        kit.envelope(ShipmentArrived(waybill_no=delivered, station="WX02", arrived_at=arrived_at, pieces=10,
                                     pieces_arrived=10, pieces_total=10, final=True)),
        kit.envelope(ShipmentDelivered(waybill_no=delivered, delivered_at=now - timedelta(hours=2),
                                       signer_name="杨民敬", pieces=10)),
        kit.envelope(DeliveryAppointed(appointment_id=unique("AP"), waybill_no=stored, station="WX02",
                                       window_start=now + timedelta(days=1),
                                       window_end=now + timedelta(days=1, hours=2), channel="phone",
                                       booked_by="staff:li")),
    )
    kit.handled_so_far()
    # The report is switched on only now: the service's own job (every few minutes, wall clock)
    # may queue today's report as soon as the account's hour has passed, and it must find every
    # event above handled. Whichever comes first, the job or the admin run, queues it, once.
    r = kit.api.put(f"/v1/recipients/{shipper.customer_id}", headers=kit.admin,
                    json={**account, "storage_report": {"enabled": True, "hour": 9}})
    assert r.status_code == 200 and r.json()["storage_report"] == {"enabled": True, "hour": 9}, r.text
    day = now.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()

    assert kit.api.post("/v1/admin/storage-report", params={"day": day},
                        headers=kit.infra.headers("staff")).status_code == 403
    first = kit.api.post("/v1/admin/storage-report", params={"day": day}, headers=kit.admin)
    assert first.status_code == 200, first.text
    assert first.json()["queued"] + first.json()["already_done"] >= 1
    again = kit.api.post("/v1/admin/storage-report", params={"day": day, "customer_id": shipper.customer_id},
                         headers=kit.admin).json()
    assert again == {"day": day, "accounts": 1, "queued": 0, "already_done": 1, "skipped_no_email": 0}

    [mail] = wait_until(lambda: [m for m in kit.emails_to(report_to) if "暂存" in m["subject"]], bool)
    text = mail["text"]
    assert stored in text and partial in text and delivered not in text and on_road not in text
    assert "2票" in mail["subject"] and "已暂存2天" in text and "4/10件（部分到达）" in text
    assert "120.5公斤" in text and "未预约" in text and "预约" in text.split(stored)[1].split("\n")[0]
    assert mail["html"] and "<table" in mail["html"]
    # the same rows as a spreadsheet: numbers as numbers, times as Beijing date-times
    [attachment] = mail["attachments"]
    assert attachment["filename"] == f"货物暂存报表-{day}.xlsx"
    assert attachment["content_type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(base64.b64decode(attachment["content_b64"]))).active
    header, *cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert header[:4] == ["运单号", "站点", "件数", "运单件数"] and "暂存天数" in header
    by_waybill = {r[0]: dict(zip(header, r, strict=True)) for r in cells}
    assert set(by_waybill) == {stored, partial}
    assert by_waybill[stored]["件数"] == 10 and by_waybill[stored]["重量（公斤）"] == 120.5
    assert by_waybill[stored]["暂存天数"] == 2 and by_waybill[partial]["件数"] == 4
    beijing = arrived_at.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)  # Excel has no zones
    assert abs((by_waybill[stored]["到达时间"] - beijing).total_seconds()) < 1
    assert by_waybill[stored]["预约送货开始"] is not None and by_waybill[partial]["预约送货开始"] is None
    [row] = wait_until(lambda: [n for n in kit.notifications(customer_id=shipper.customer_id)
                                if n["template"] == "storage_report" and n["status"] == "sent"], bool)
    assert row["channel"] == "email" and row["to"].startswith("s***@")


def test_the_report_on_demand_is_for_key_accounts_only(kit: Kit) -> None:
    plain = kit.party()
    kit.api.put(f"/v1/recipients/{plain.customer_id}", headers=kit.admin, json={"email": plain.email})
    r = kit.api.post("/v1/admin/storage-report", params={"customer_id": plain.customer_id}, headers=kit.admin)
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_key_customer"
    missing = kit.api.post("/v1/admin/storage-report", params={"customer_id": unique("C")}, headers=kit.admin)
    assert missing.status_code == 404
    bad = kit.api.put(f"/v1/recipients/{plain.customer_id}", headers=kit.admin,
                      json={"storage_report": {"enabled": True, "hour": 24}})
    assert bad.status_code == 422


def test_the_job_sends_each_account_its_report_once_its_own_hour_has_come(kit: Kit) -> None:
    early, late = kit.party(with_phone=False), kit.party(with_phone=False)
    for party, hour in ((early, 9), (late, 23)):
        r = kit.api.put(f"/v1/recipients/{party.customer_id}", headers=kit.admin, json={
            "email": party.email, "key_customer": True, "storage_report": {"enabled": True, "hour": hour}})
        assert r.status_code == 201, r.text
    shanghai = ZoneInfo("Asia/Shanghai")
    # A day ahead, so that no real run of the job (the wall clock) has done that day already.
    day = (datetime.now(UTC) + timedelta(days=1)).astimezone(shanghai).date()
    ten = datetime(day.year, day.month, day.day, 10, 0, tzinfo=shanghai)

    def reports_of(party: Party) -> list[dict]:  # type: ignore[type-arg]
        """`day`'s reports of the account (its identity is the report's key, customer and day): the
        real job, on the wall clock, may meanwhile send both accounts today's, once their hour has come."""
        event_id = str(uuid.uuid5(_STORAGE_NAMESPACE, storage_report_key(party.customer_id, day)))
        return [n for n in kit.notifications(customer_id=party.customer_id)
                if n["template"] == "storage_report" and n["event_id"] == event_id]

    run = kit.api.post("/v1/admin/storage-report", params={"as_of": ten.isoformat()}, headers=kit.admin)
    assert run.status_code == 200 and run.json()["day"] == day.isoformat(), run.text
    assert len(reports_of(early)) == 1 and not reports_of(late)  # 10:00: the 09:00 account's hour only
    kit.api.post("/v1/admin/storage-report", params={"as_of": (ten + timedelta(hours=13)).isoformat()},
                 headers=kit.admin)
    assert len(reports_of(early)) == 1 and len(reports_of(late)) == 1  # 23:00: the other one, the first not again
    both = kit.api.post("/v1/admin/storage-report", params={"as_of": ten.isoformat(), "day": day.isoformat()},
                        headers=kit.admin)
    assert both.status_code == 422 and both.json()["error"]["code"] == "conflicting_parameters"
