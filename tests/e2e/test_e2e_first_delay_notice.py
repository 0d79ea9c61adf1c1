"""Point 4 of the platform issue, across real processes: a GPS position that makes a
shipment late → tracking's outbox → RabbitMQ → notifier → a real SMTP server and the
HTTP SMS gateway, audited; the same position again sends nothing more."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import httpx

from shared.devtools.stack import SERVICES, Stack
from tests.conftest import Infra, unique
from tests.support.quiet import quiesce_sync
from tests.support.wait import eventually_sync

STATIONS = {
    "SH": ("上海", "华东", 31.2304, 121.4737),
    "NJ": ("南京", "华东", 32.0603, 118.7969),
    "WX": ("无锡", "华东", 31.4912, 120.3119),
}


def wait_until(fetch, predicate, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    last = []

    def probe() -> bool:
        last[:] = [fetch()]
        return bool(predicate(last[0]))
    eventually_sync(probe, timeout=timeout)
    return last[0]


def test_a_position_that_makes_a_shipment_late_is_told_once_by_email_and_sms(stack: Stack, infra: Infra) -> None:
    suffix = unique()[:6]
    codes = {k: f"{k}{suffix}" for k in STATIONS}
    admin = infra.headers("admin")
    tracking = httpx.Client(base_url=stack.url("tracking"), timeout=10)
    for key, (city, region, lat, lon) in STATIONS.items():
        r = tracking.put(f"/v1/stations/{codes[key]}", headers=admin, json={
            "name": f"{city}站", "city": city, "region": region, "lat": lat, "lon": lon,
            "contact_phone": "02100000000", "contact_email": f"{key.lower()}@station.example.com"})
        assert r.status_code in (200, 201), r.text
    vehicle_id, device = f"V{suffix}", f"DEV{suffix}"
    r = tracking.put(f"/v1/vehicles/{vehicle_id}", headers=admin, json={
        "plate": "沪A12345", "carrier": "CARR1", "driver_name": "王师傅", "driver_phone": "13700000000",
        "device_id": device})
    assert r.status_code in (200, 201), r.text

    now = datetime.now(UTC)
    waybill = f"SH{suffix}001"
    # Unique addresses (the notifier throttles per address and the session shares one notifier),
    # shaped so that they mask as 138****0000 and o***@example.com.
    shipper_phone = f"138{random.randint(1000, 9999)}0000"
    shipper_email = f"ops.{suffix.lower()}@example.com"
    r = tracking.post("/v1/shipments", headers=infra.headers("branch", branch=codes["SH"]), json={
        "waybill_no": waybill, "origin": codes["SH"], "destination": codes["WX"], "via": [codes["NJ"]],
        "shipper": {"customer_id": f"C{suffix}", "name": "无锡精工", "phone": shipper_phone,
                    "email": shipper_email},
        "consignee": {"name": "杨民敬", "phone": "13900000000", "email": None, "company": None},
        "cargo": {"description": "轴承", "pieces": 10, "weight_kg": 120.5, "volume_m3": 1.2, "dangerous": False,
                  "fragile": True, "keep_upright": True, "moisture_sensitive": False},
        "promised_at": (now + timedelta(hours=3)).isoformat(), "payment": "prepaid",
        "receipt": {"required": True, "signature": True, "stamp": False, "id_number": True, "copies": 1}})
    assert r.status_code == 201, r.text
    r = tracking.post(f"/v1/shipments/{waybill}/scans", headers=admin, json={
        "type": "departed", "station": codes["SH"], "at": (now - timedelta(minutes=10)).isoformat(),
        "vehicle_id": vehicle_id, "pieces": 10})
    assert r.status_code in (200, 201), r.text

    # Still in Shanghai, 60 km/h: ~450 km of road to Wuxi via Nanjing cannot be done in 3 hours.
    position = {"vehicle_id": vehicle_id, "at": now.isoformat(), "lat": 31.25, "lon": 121.40,
                "speed_kmh": 60.0, "heading": 280.0}
    carrier = infra.headers("carrier", carrier="CARR1")
    r = tracking.post("/v1/positions", headers=carrier, json={"positions": [position]})
    assert r.status_code in (200, 201, 202), r.text

    shipment = tracking.get(f"/v1/shipments/{waybill}", headers=admin).json()
    assert shipment["delayed"] is True and shipment["delay_minutes"] > 0, shipment

    notifier = httpx.Client(base_url=stack.url("notifier"), timeout=10)
    sinks = httpx.Client(base_url=stack.url("sinks"), timeout=10)

    def delay_notices() -> list[dict]:  # type: ignore[type-arg]
        r = notifier.get("/v1/notifications", params={"waybill_no": waybill}, headers=admin)
        assert r.status_code == 200, r.text
        return [n for n in r.json()["items"] if n["template"].startswith("delayed")]

    notices = wait_until(delay_notices, lambda ns: {(n["channel"], n["status"]) for n in ns} >= {
        ("email", "sent"), ("sms", "sent")})
    shipper_notices = [n for n in notices if n["to"] in ("138****0000", "o***@example.com")]
    assert {n["channel"] for n in shipper_notices} == {"email", "sms"}
    assert all("****" in n["to"] or "***@" in n["to"] for n in notices)  # masked in the audit

    def delay_emails() -> list[dict]:  # type: ignore[type-arg]
        return [e for e in sinks.get("/emails").json()
                if shipper_email in e["to"] and waybill in e["subject"] and "延误" in e["subject"]]

    def delay_sms() -> list[dict]:  # type: ignore[type-arg]
        return [m for m in sinks.get("/sms").json()
                if m["to"] == shipper_phone and waybill in m["text"] and "延误" in m["text"]]

    emails = delay_emails()
    assert len(emails) == 1
    assert "您好" in emails[0]["text"] and "预计" in emails[0]["text"]
    assert len(delay_sms()) == 1

    # The same position again: no second notice.
    r = tracking.post("/v1/positions", headers=carrier, json={"positions": [position]})
    assert r.status_code in (200, 201, 202), r.text
    # The marker: whatever that position caused has gone all the way through (tracking's outbox
    # sent, every consumer past a later event, nothing waiting for a retry or to be sent).
    quiesce_sync(infra, (n for n in SERVICES if n in stack.procs))
    assert len(delay_notices()) == len(notices)
    assert len(delay_emails()) == 1
    assert len(delay_sms()) == 1
