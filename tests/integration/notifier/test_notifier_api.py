"""The HTTP surface: templates and previews, the audit list (filters, pagination, masking) and
branch scoping."""

from __future__ import annotations

import uuid

from tests.conftest import unique
from tests.integration.notifier.conftest import Kit, Party, phone


def test_templates_are_listed_and_previewed_with_sample_or_given_data(kit: Kit) -> None:
    staff = kit.infra.headers("staff")
    r = kit.api.get("/v1/templates", headers=staff)
    assert r.status_code == 200
    listed = {(t["name"], t["channel"]) for t in r.json()}
    assert ("delayed", "sms") in listed and ("daily_arrivals", "email") in listed

    r = kit.api.post("/v1/templates/delayed/preview", headers=staff, json={"channel": "email", "language": "en"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["subject"] and "SH2026112800001" in body["text"] and body["html"].startswith("<!DOCTYPE html>")

    r = kit.api.post("/v1/templates/delivered/preview", headers=staff, json={
        "channel": "sms", "language": "zh-CN",
        "data": {"waybill_no": "W1", "signer_name": "杨民敬", "signed_at": "2026-12-01T10:42:00+08:00"}})
    assert r.status_code == 200 and "杨民敬" in r.json()["text"] and r.json()["sms_segments"] == 1

    r = kit.api.post("/v1/templates/delivered/preview", headers=staff,
                     json={"channel": "sms", "language": "zh-CN", "data": {"waybill_no": "W1"}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "template_data_invalid"
    r = kit.api.post("/v1/templates/nope/preview", headers=staff, json={"channel": "sms"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = kit.api.post("/v1/templates/complaint_sla_breached/preview", headers=staff, json={"channel": "sms"})
    assert r.status_code == 404
    r = kit.api.post("/v1/templates/delayed/preview", headers=staff, json={"channel": "fax"})
    assert r.status_code == 422
    assert kit.api.get("/v1/templates", headers=kit.infra.headers("carrier", carrier="C1")).status_code == 403


def test_audit_list_pages_filters_masks_and_respects_branches(kit: Kit) -> None:
    waybill = unique("WB")
    shipper = kit.party()
    consignee_phone = phone()[:7] + "0000"  # a unique number (the hourly throttle is per number) ending 0000
    consignee = Party("", "杨民敬", consignee_phone, "yang@example.com")
    kit.publish(kit.envelope(kit.registered(waybill, shipper, consignee, origin="SHX1", destination="WXX2",
                                            via=["NJX3"])))
    kit.publish(kit.envelope(kit.delayed(waybill)))
    items = kit.wait_notifications(lambda ns: len(ns) == 4 and all(n["status"] == "sent" for n in ns),
                                   waybill_no=waybill)
    assert {n["to"] for n in items} >= {"139****0000", "y***@example.com"}
    assert all(shipper.phone not in str(n) and shipper.email not in str(n) for n in items)  # type: ignore[operator]

    seen, cursor = [], None
    while True:
        params = {"waybill_no": waybill, "limit": "3", **({"cursor": cursor} if cursor else {})}
        page = kit.api.get("/v1/notifications", params=params, headers=kit.admin).json()
        seen += [n["id"] for n in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(n["id"] for n in items) and len(seen) == 4
    only_sms = kit.notifications(waybill_no=waybill, channel="sms")
    assert len(only_sms) == 2 and all(n["channel"] == "sms" for n in only_sms)

    for station in ("SHX1", "WXX2", "NJX3"):
        branch = kit.infra.headers("branch", branch=station)
        r = kit.api.get("/v1/notifications", params={"waybill_no": waybill}, headers=branch)
        assert r.status_code == 200 and len(r.json()["items"]) == 4, station
    other = kit.infra.headers("branch", branch="GZ01")
    r = kit.api.get("/v1/notifications", params={"waybill_no": waybill}, headers=other)
    assert r.status_code == 200 and r.json()["items"] == []
    assert kit.api.get(f"/v1/notifications/{items[0]['id']}", headers=other).status_code == 404
    assert kit.api.get(f"/v1/notifications/{items[0]['id']}",
                       headers=kit.infra.headers("branch", branch="WXX2")).status_code == 200
    assert kit.api.get(f"/v1/notifications/{uuid.uuid4()}", headers=kit.admin).status_code == 404

    for params in ({"status": "bogus"}, {"limit": "501"}, {"cursor": "!!!"}, {"waybill_no": "x" * 40}):
        r = kit.api.get("/v1/notifications", params=params, headers=kit.admin)
        assert r.status_code == 422, params
        assert "error" in r.json()
    assert kit.api.get("/v1/notifications").status_code == 401
