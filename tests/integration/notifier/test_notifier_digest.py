"""The key customers' daily arrival report: one e-mail per customer per day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.events import ShipmentArrived
from tests.conftest import unique
from tests.integration.notifier.conftest import Kit, Party, email, wait_until


def test_a_key_customer_gets_one_daily_arrival_report(kit: Kit) -> None:
    shipper = kit.party()
    report_to = email("key")
    r = kit.api.put(f"/v1/recipients/{shipper.customer_id}", headers=kit.admin, json={
        "name": "无锡精工", "phone": None, "email": report_to, "language": "zh-CN",
        "channels": {"sms": True, "email": True}, "quiet_hours": {"start": "22:00", "end": "08:00"},
        "key_customer": True})
    assert r.status_code == 201, r.text
    now = datetime.now(UTC)
    arrived_wb, due_wb = unique("WB"), unique("WB")
    kit.publish(kit.envelope(kit.registered(arrived_wb, shipper, Party("", "杨民敬", None, None))),
                kit.envelope(kit.registered(due_wb, shipper, Party("", "程发凯", None, None),
                                            promised_at=now - timedelta(minutes=30))))
    kit.publish(kit.envelope(ShipmentArrived(waybill_no=arrived_wb, station="WX02", arrived_at=now, pieces=10,
                                             pieces_arrived=10, pieces_total=10, final=True)))
    wait_until(lambda: kit.sql("SELECT arrived_at FROM notifier.shipments WHERE waybill_no = $1", arrived_wb),
               lambda rows: bool(rows) and rows[0]["arrived_at"] is not None)
    wait_until(lambda: kit.sql("SELECT 1 FROM notifier.shipments WHERE waybill_no = $1", due_wb), bool)

    day = now.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert kit.api.post("/v1/admin/digest", params={"day": day}, headers=kit.infra.headers("staff")).status_code == 403
    first = kit.api.post("/v1/admin/digest", params={"day": day}, headers=kit.admin)
    assert first.status_code == 200, first.text
    assert first.json()["queued"] >= 1
    again = kit.api.post("/v1/admin/digest", params={"day": day}, headers=kit.admin).json()
    assert again["queued"] == 0 and again["already_done"] >= 1

    def reports() -> list[dict]:  # type: ignore[type-arg]
        # (the arrival notice itself also went to this address: preferences win)
        return [m for m in kit.emails_to(report_to) if "到货情况" in m["text"]]

    [mail] = wait_until(reports, bool)
    assert arrived_wb in mail["text"] and due_wb in mail["text"] and "已到达1票" in mail["text"]
    assert mail["html"] and "<table" in mail["html"]
    # the row is marked sent right after the SMTP server accepted the message: wait for that commit
    [item] = wait_until(lambda: [n for n in kit.notifications(customer_id=shipper.customer_id)
                                 if n["template"] == "daily_arrivals" and n["status"] == "sent"], bool)
    assert item["to"].startswith("k***@")
    assert len(reports()) == 1
