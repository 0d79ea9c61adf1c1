"""The world the figures run in, set up through the real API: stations, vehicles with
devices, and shipments that departed on them (so every position batch evaluates delays)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

STATIONS = {
    "BSH": ("上海站", "上海", "华东", 31.2304, 121.4737),
    "BNJ": ("南京站", "南京", "华东", 32.0603, 118.7969),
    "BWX": ("无锡站", "无锡", "华东", 31.4912, 120.3119),
}
CARRIER = "BENCHCAR"


@dataclass
class World:
    batch_groups: list[list[str]] = field(default_factory=list)   # vehicle ids, one group per connection
    osmand_devices: list[str] = field(default_factory=list)
    latency: list[tuple[str, str]] = field(default_factory=list)  # (vehicle id, waybill)


def shipment_body(waybill: str, promised_at: datetime, phone: str, email: str,
                  consignee_phone: str = "13900000000") -> dict[str, Any]:
    return {
        "waybill_no": waybill, "origin": "BSH", "destination": "BWX", "via": ["BNJ"],
        "shipper": {"customer_id": f"C{waybill}", "name": "无锡精工", "phone": phone, "email": email},
        "consignee": {"name": "杨民敬", "phone": consignee_phone, "email": None, "company": None},
        "cargo": {"description": "轴承", "pieces": 10, "weight_kg": 120.5, "volume_m3": 1.2, "dangerous": False,
                  "fragile": True, "keep_upright": True, "moisture_sensitive": False},
        "promised_at": promised_at.isoformat(), "payment": "prepaid",
        "receipt": {"required": True, "signature": True, "stamp": False, "id_number": True, "copies": 1},
    }


class Setup:
    def __init__(self, client: httpx.AsyncClient, admin: dict[str, str], concurrency: int = 6) -> None:
        self.client = client
        self.admin = admin
        self.sem = asyncio.Semaphore(concurrency)

    async def _call(self, method: str, url: str, body: dict[str, Any]) -> None:
        async with self.sem:
            r = await self.client.request(method, url, json=body, headers=self.admin)
        if r.status_code not in (200, 201):
            raise RuntimeError(f"{method} {url}: {r.status_code} {r.text[:300]}")

    async def stations(self) -> None:
        for code, (name, city, region, lat, lon) in STATIONS.items():
            await self._call("PUT", f"/v1/stations/{code}", {
                "name": name, "city": city, "region": region, "lat": lat, "lon": lon,
                "contact_phone": "02100000000", "contact_email": f"{code.lower()}@station.example.com"})

    async def vehicle_with_shipment(self, vehicle_id: str, device_id: str, waybill: str, *, promised_at: datetime,
                                    departed_at: datetime, phone: str, email: str,
                                    consignee_phone: str = "13900000000") -> None:
        await self._call("PUT", f"/v1/vehicles/{vehicle_id}", {
            "plate": "沪A12345", "carrier": CARRIER, "driver_name": "王师傅", "driver_phone": "13700000000",
            "device_id": device_id})
        await self._call("POST", "/v1/shipments", shipment_body(waybill, promised_at, phone, email, consignee_phone))
        await self._call("POST", f"/v1/shipments/{waybill}/scans", {
            "type": "departed", "station": "BSH", "at": departed_at.isoformat(), "vehicle_id": vehicle_id,
            "pieces": 10})


async def build(client: httpx.AsyncClient, admin: dict[str, str], *, batch_conns: int, vehicles_per_conn: int,
                osmand_devices: int, latency_samples: int, history_hours: int) -> World:
    """Vehicles for batch ingest (never late: promised in 3 days), /osmand devices (the same),
    and one vehicle per latency sample whose shipment is promised in 3 hours (a position in
    Shanghai makes it late). Every latency sample's shipper and consignee have their own phone
    and e-mail, so the notifier's per-recipient throttle (10 an hour) never holds one back."""
    setup = Setup(client, admin)
    await setup.stations()
    now = datetime.now(UTC)
    far, departed_long_ago = now + timedelta(days=3), now - timedelta(hours=history_hours)
    world = World()
    jobs = []
    for c in range(batch_conns):
        group = [f"BV{c:02d}{v:03d}" for v in range(vehicles_per_conn)]
        world.batch_groups.append(group)
        for v in group:
            jobs.append(setup.vehicle_with_shipment(v, f"BD{v[2:]}", f"BW{v[2:]}", promised_at=far,
                                                    departed_at=departed_long_ago, phone="13800000000",
                                                    email="ops@example.com"))
    for i in range(osmand_devices):
        world.osmand_devices.append(f"OD{i:04d}")
        jobs.append(setup.vehicle_with_shipment(f"OV{i:04d}", f"OD{i:04d}", f"OW{i:04d}", promised_at=far,
                                                departed_at=departed_long_ago, phone="13800000001",
                                                email="ops1@example.com"))
    for i in range(latency_samples):
        world.latency.append((f"LV{i:04d}", f"LW{i:04d}"))
        jobs.append(setup.vehicle_with_shipment(f"LV{i:04d}", f"LD{i:04d}", f"LW{i:04d}",
                                                promised_at=now + timedelta(hours=3),
                                                departed_at=now - timedelta(minutes=10),
                                                phone=f"139{i:08d}", email=f"lat{i}@example.com",
                                                consignee_phone=f"137{i:08d}"))
    await asyncio.gather(*jobs)
    return world
