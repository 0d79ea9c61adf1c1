"""Fixtures of the security suite: the running services' OpenAPI documents and one
end-to-end flow full of personal data (used by the access and the log tests)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.devtools.stack import Stack
from tests.conftest import Infra
from tests.security.support import mobile, resident_id, running, wait_for


@pytest.fixture(scope="session")
def openapi(stack: Stack) -> dict[str, dict[str, Any]]:
    docs = {}
    for name in running(stack):
        r = httpx.get(f"{stack.url(name)}/openapi.json", timeout=10)
        assert r.status_code == 200, f"{name} /openapi.json: {r.status_code} {r.text[:200]}"
        docs[name] = r.json()
    return docs


@dataclass
class Flow:
    """What the end-to-end flow created, and every personal value it used."""

    suffix: str
    origin: str
    via: str
    dest: str
    other: str  # a station the shipment never touches
    carrier: str
    other_carrier: str
    vehicle_id: str
    other_vehicle_id: str
    device_id: str
    waybill: str
    customer_id: str
    consignee_name: str
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    id_numbers: list[str] = field(default_factory=list)
    complaint_id: str | None = None
    exception_id: str | None = None
    steps: dict[str, httpx.Response] = field(default_factory=dict)

    def problems(self) -> list[str]:
        return [f"{name}: {r.request.method} {r.request.url.path} -> {r.status_code} {r.text[:300]}"
                for name, r in self.steps.items() if r.status_code >= 400]

    def ok(self, step: str) -> bool:
        r = self.steps.get(step)
        return r is not None and r.status_code < 300


def _flow(stack: Stack, infra: Infra) -> Flow:
    rng = random.Random()
    sfx = uuid.uuid4().hex[:6].upper()
    f = Flow(suffix=sfx, origin=f"SA{sfx}", via=f"SB{sfx}", dest=f"SC{sfx}", other=f"SX{sfx}",
             carrier=f"CA{sfx}", other_carrier=f"CB{sfx}", vehicle_id=f"VA{sfx}", other_vehicle_id=f"VB{sfx}",
             device_id=f"DEV{sfx}", waybill=f"WB{sfx}0001", customer_id=f"C{sfx}", consignee_name="杨民敬")
    admin = infra.headers("admin")
    up = running(stack)
    now = datetime.now(UTC)
    phone = lambda: f.phones.append(mobile(rng)) or f.phones[-1]  # noqa: E731
    email = lambda who: f.emails.append(f"{who}.{sfx.lower()}@example.com") or f.emails[-1]  # noqa: E731
    if "tracking" in up:
        t = httpx.Client(base_url=stack.url("tracking"), timeout=15)
        for code, (city, lat, lon) in {f.origin: ("上海", 31.23, 121.47), f.via: ("南京", 32.06, 118.80),
                                       f.dest: ("无锡", 31.49, 120.31), f.other: ("杭州", 30.27, 120.15)}.items():
            f.steps[f"station {code}"] = t.put(f"/v1/stations/{code}", headers=admin, json={
                "name": f"{city}站", "city": city, "region": "华东", "lat": lat, "lon": lon,
                "contact_phone": phone(), "contact_email": email(f"st{code.lower()}")})
        for vid, carrier, dev in ((f.vehicle_id, f.carrier, f.device_id),
                                  (f.other_vehicle_id, f.other_carrier, f"DEVB{sfx}")):
            f.steps[f"vehicle {vid}"] = t.put(f"/v1/vehicles/{vid}", headers=admin, json={
                "plate": "沪A12345", "carrier": carrier, "driver_name": "王师傅", "driver_phone": phone(),
                "device_id": dev})
        f.steps["register"] = t.post("/v1/shipments", headers=infra.headers("branch", branch=f.origin), json={
            "waybill_no": f.waybill, "origin": f.origin, "destination": f.dest, "via": [f.via],
            "shipper": {"customer_id": f.customer_id, "name": "无锡精工", "phone": phone(), "email": email("ship")},
            "consignee": {"name": f.consignee_name, "phone": phone(), "email": email("cons"), "company": None},
            "cargo": {"description": "轴承", "pieces": 10, "weight_kg": 120.5, "volume_m3": 1.2,
                      "dangerous": False, "fragile": True, "keep_upright": True, "moisture_sensitive": False},
            "promised_at": (now + timedelta(days=2)).isoformat(), "payment": "prepaid",
            "receipt": {"required": True, "signature": True, "stamp": False, "id_number": True, "copies": 1}})
        at = lambda minutes: (now - timedelta(minutes=minutes)).isoformat()  # noqa: E731
        f.steps["scan departed"] = t.post(f"/v1/shipments/{f.waybill}/scans", headers=admin, json={
            "type": "departed", "station": f.origin, "at": at(300), "vehicle_id": f.vehicle_id, "pieces": 10})
        f.steps["positions"] = t.post("/v1/positions", headers=infra.headers("carrier", carrier=f.carrier), json={
            "positions": [{"vehicle_id": f.vehicle_id, "at": at(290), "lat": 31.5, "lon": 120.9,
                           "speed_kmh": 70.0, "heading": 280.0}]})
        f.steps["osmand"] = t.get("/osmand", params={"id": f.device_id, "lat": 31.6, "lon": 120.5,
                                                     "timestamp": int((now - timedelta(minutes=280)).timestamp()),
                                                     "speed": 30, "bearing": 270})
        f.steps["note"] = t.post(f"/v1/shipments/{f.waybill}/notes", headers=admin, json={
            "at": at(270), "contact": f.consignee_name, "channel": "phone", "delayed": False,
            "note": f"客户改约，回电 {phone()}，邮件 {email('note')}"})
        f.steps["exception"] = t.post(f"/v1/shipments/{f.waybill}/exceptions", headers=admin, json={
            "kind": "damage", "pieces": 1, "station": f.via, "description": "外箱破损"})
        if f.ok("exception"):
            body = f.steps["exception"].json()
            f.exception_id = str(body.get("id") or body.get("exception_id") or "") or None
        for name, typ, station, minutes in (("scan arrived_transfer", "arrived_transfer", f.via, 200),
                                            ("scan departed_transfer", "departed_transfer", f.via, 180),
                                            ("scan arrived", "arrived", f.dest, 60),
                                            ("scan out_for_delivery", "out_for_delivery", f.dest, 30)):
            f.steps[name] = t.post(f"/v1/shipments/{f.waybill}/scans", headers=admin, json={
                "type": typ, "station": station, "at": at(minutes), "vehicle_id": f.vehicle_id, "pieces": 10})
        f.id_numbers.append(resident_id(rng))
        f.steps["delivery"] = t.post(f"/v1/shipments/{f.waybill}/delivery", headers=admin, json={
            "signed_at": at(5), "signer_name": f.consignee_name, "signer_id_type": "id_card",
            "signer_id_number": f.id_numbers[-1], "delegate": None, "company_stamp": False, "pieces": 10})
    if "complaints" in up:
        c = httpx.Client(base_url=stack.url("complaints"), timeout=15)
        f.steps["complaint"] = c.post("/v1/complaints", headers=admin, json={
            "customer_id": f.customer_id, "caller_name": "李女士", "phone": phone(), "email": email("caller"),
            "waybill_no": f.waybill, "channel": "phone", "category": "delay",
            "description": f"货物未按时到达，请回电 {f.phones[-1]}"})
        if f.ok("complaint"):
            f.complaint_id = str(f.steps["complaint"].json().get("id"))
            f.steps["complaint get"] = c.get(f"/v1/complaints/{f.complaint_id}", headers=admin)
    if "notifier" in up:
        n = httpx.Client(base_url=stack.url("notifier"), timeout=15)
        f.steps["recipient"] = n.put(f"/v1/recipients/{f.customer_id}", headers=admin, json={
            "name": "无锡精工", "phone": phone(), "email": email("recip"), "language": "zh-CN",
            "channels": {"sms": True, "email": True},
            "quiet_hours": {"start": "22:00", "end": "07:00", "tz": "Asia/Shanghai"}})
    if "receipts" in up and f.ok("register"):
        r = httpx.Client(base_url=stack.url("receipts"), timeout=15)
        f.steps["receipt"] = wait_for(lambda: r.get(f"/v1/receipts/{f.waybill}", headers=admin),
                                      lambda resp: resp.status_code == 200, timeout=20)
    if "notifier" in up and f.ok("register"):
        n = httpx.Client(base_url=stack.url("notifier"), timeout=15)
        f.steps["notifications"] = wait_for(
            lambda: n.get("/v1/notifications", params={"waybill_no": f.waybill}, headers=admin),
            lambda resp: resp.status_code == 200 and bool(resp.json().get("items")), timeout=15)
    return f


@pytest.fixture(scope="session")
def flow(stack: Stack, infra: Infra) -> Flow:
    return _flow(stack, infra)
