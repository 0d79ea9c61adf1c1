"""A small world for the desk's tests, made through the backends' public APIs: three
stations, a vehicle on the road, waybills (one made late by a GPS fix), desk accounts."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from shared.auth import issue_token
from shared.clock import business_day
from tests.support.clock import earlier_today
from tests.support.wait import eventually_sync

STATIONS = {
    "SH": ("上海", "华东", 31.2304, 121.4737),
    "NJ": ("南京", "华东", 32.0603, 118.7969),
    "WX": ("无锡", "华东", 31.4912, 120.3119),
    "GZ": ("广州", "华南", 23.1291, 113.2644),
}


def wait_for(fetch: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 20.0) -> Any:
    """`fetch()` once `ok` holds of it (tests.support.wait polls; a falsy value may be the one)."""
    def probe() -> tuple[Any] | None:
        value = fetch()
        return (value,) if ok(value) else None
    return eventually_sync(probe, timeout=timeout, what="the web world's condition")[0]


@dataclass
class World:
    tracking_url: str
    secret: str
    suffix: str
    codes: dict[str, str] = field(default_factory=dict)
    vehicle: str = ""
    waybills: list[str] = field(default_factory=list)
    destinations: dict[str, str] = field(default_factory=dict)  # waybill -> destination key (SH, WX, GZ ...)

    @property
    def customer(self) -> str:
        """The customer id of the world's shipments (unless one names another)."""
        return f"C{self.suffix}"

    def headers(self, role: str, **kw: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + issue_token(self.secret, sub=f"world-{role}", role=role,  # type: ignore[arg-type]
                                                         ttl_seconds=3600, **kw)}

    @property
    def tracking(self) -> httpx.Client:
        return httpx.Client(base_url=self.tracking_url, timeout=15)

    def build(self) -> World:
        admin = self.headers("admin")
        with self.tracking as t:
            for key, (city, region, lat, lon) in STATIONS.items():
                code = f"{key}{self.suffix}"
                self.codes[key] = code
                r = t.put(f"/v1/stations/{code}", headers=admin, json={
                    "name": f"{city}站", "city": city, "region": region, "lat": lat, "lon": lon,
                    "contact_phone": "02100000000", "contact_email": f"{key.lower()}@station.example.com"})
                assert r.status_code in (200, 201), r.text
            self.vehicle = f"V{self.suffix}"
            r = t.put(f"/v1/vehicles/{self.vehicle}", headers=admin, json={
                "plate": "沪A12345", "carrier": "CARR1", "driver_name": "王师傅", "driver_phone": "13700000000",
                "device_id": f"DEV{self.suffix}"})
            assert r.status_code in (200, 201), r.text
        return self

    def shipment(self, n: int, *, origin: str = "SH", destination: str = "WX", promised_hours: float = 30,
                 phone: str = "13900001234", depart: bool = True, payment: str = "prepaid",
                 departed_minutes_ago: float = 10, customer: str | None = None) -> str:
        # `n` is a wish: test files share one world, so a number already taken moves on to a free one
        while f"SH{self.suffix}{n:03d}" in self.destinations:
            n = (n + 1) % 1000
        waybill = f"SH{self.suffix}{n:03d}"
        self.destinations[waybill] = destination
        now = datetime.now(UTC)
        with self.tracking as t:
            r = t.post("/v1/shipments", headers=self.headers("admin"), json={
                "waybill_no": waybill, "origin": self.codes[origin], "destination": self.codes[destination],
                "via": [self.codes["NJ"]] if destination == "WX" else [],
                "shipper": {"customer_id": customer or self.customer, "name": "无锡精工", "phone": "13800000000",
                            "email": f"ops.{self.suffix.lower()}@example.com"},
                "consignee": {"name": "杨民敬", "phone": phone, "email": None, "company": None},
                "cargo": {"description": "轴承", "pieces": 10, "weight_kg": 120.5, "volume_m3": 1.2,
                          "dangerous": False, "fragile": True, "keep_upright": True, "moisture_sensitive": False},
                "promised_at": (now + timedelta(hours=promised_hours)).isoformat(), "payment": payment,
                "receipt": {"required": True, "signature": True, "stamp": False, "id_number": True, "copies": 1}})
            assert r.status_code == 201, r.text
            if depart:
                r = t.post(f"/v1/shipments/{waybill}/scans", headers=self.headers("admin"), json={
                    "type": "departed", "station": self.codes[origin],
                    "at": (now - timedelta(minutes=departed_minutes_ago)).isoformat(), "vehicle_id": self.vehicle,
                    "pieces": 10})
                assert r.status_code in (200, 201), r.text
        self.waybills.append(waybill)
        return waybill

    def deliver(self, waybill: str, *, at: str = "GZ") -> None:
        """The waybill arrives at station `at` (every piece) and the consignee signs for it."""
        now = datetime.now(UTC)
        with self.tracking as t:
            r = t.post(f"/v1/shipments/{waybill}/scans", headers=self.headers("admin"), json={
                "type": "arrived", "station": self.codes[at], "at": (now - timedelta(minutes=5)).isoformat(),
                "pieces": 10})
            assert r.status_code in (200, 201), r.text
            r = t.post(f"/v1/shipments/{waybill}/delivery", headers=self.headers("admin"), json={
                "signed_at": now.isoformat(), "signer_name": "杨民敬", "signer_id_type": "id_card",
                "signer_id_number": resident_id(), "delegate": None, "company_stamp": False, "pieces": 10})
            assert r.status_code == 201, r.text

    def arrive(self, waybill: str, *, at: str = "WX", minutes_ago: int = 5) -> None:
        """Every piece of the waybill arrives at station `at` (its destination): in storage there.
        `minutes_ago`, but never on yesterday's business day (Beijing): goods that "just arrived"
        are 0 days in storage and on today's arrival list, even a few minutes after midnight."""
        when = earlier_today(minutes_ago)
        with self.tracking as t:
            r = t.post(f"/v1/shipments/{waybill}/scans", headers=self.headers("admin"), json={
                "type": "arrived", "station": self.codes[at], "at": when.isoformat(), "pieces": 10})
            assert r.status_code in (200, 201), r.text

    def fix(self, *, lat: float = 31.25, lon: float = 121.40, speed: float = 60.0) -> None:
        """A GPS fix of the world's vehicle (still in Shanghai: late for anything due within hours)."""
        with self.tracking as t:
            r = t.post("/v1/positions", headers=self.headers("carrier", carrier="CARR1"), json={"positions": [{
                "vehicle_id": self.vehicle, "at": datetime.now(UTC).isoformat(), "lat": lat, "lon": lon,
                "speed_kmh": speed, "heading": 280.0}]})
            assert r.status_code in (200, 201, 202), r.text

    def drive(self, *, start: tuple[float, float] = (31.02, 121.86), to: tuple[float, float] = (31.25, 121.40),
              minutes: int = 60) -> list[tuple[float, float]]:
        """The world's vehicle drives in from the coast across Shanghai for `minutes` (about 50 km/h),
        a fix every 2 minutes, bending north on the way, its newest fix now at `to` (still in
        Shanghai: late for anything due within hours). The fixes' (lat, lon), oldest first: the
        track the waybill's map draws."""
        now = datetime.now(UTC)
        steps = minutes // 2
        points = [(start[0] + (to[0] - start[0]) * i / steps + 0.05 * math.sin(math.pi * i / steps),
                   start[1] + (to[1] - start[1]) * i / steps) for i in range(steps + 1)]
        with self.tracking as t:
            r = t.post("/v1/positions", headers=self.headers("carrier", carrier="CARR1"), json={"positions": [{
                "vehicle_id": self.vehicle, "at": (now - timedelta(minutes=minutes - 2 * i)).isoformat(),
                "lat": lat, "lon": lon, "speed_kmh": 50.0, "heading": 300.0} for i, (lat, lon) in enumerate(points)]})
            assert r.status_code in (200, 201, 202), r.text
        return points

    def get(self, waybill: str) -> dict[str, Any]:
        with self.tracking as t:
            return t.get(f"/v1/shipments/{waybill}", headers=self.headers("admin")).json()  # type: ignore[no-any-return]

    def arrival_day(self, waybill: str) -> date:
        """The business day (Beijing) the waybill arrived at its destination: a test reading it
        later may run past Beijing's midnight."""
        return business_day(datetime.fromisoformat(self.get(waybill)["final_arrived_at"]))


def resident_id(first17: str = "32010219900307123") -> str:
    """An 18-character resident ID number with its GB 11643 check character."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights, strict=True)) % 11]


def add_user(env: dict[str, str], username: str, role: str, *extra: str) -> str:
    out = subprocess.run([sys.executable, "-m", "services.web", "users", "add", "--username", username,
                          "--role", role, *extra], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return next(line.removeprefix("password: ") for line in out.stdout.splitlines() if line.startswith("password: "))
