"""Helpers of the tracking desk integration tests (no tests here): a client, and the
setup through the core's routes — stations, vehicles, shipments, scans, positions."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import unicodedata
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from services.tracking.domain.signing import resident_id_check_char
from shared.devtools.stack import Stack
from tests.conftest import Infra, unique

# Shanghai -> Nanjing -> Wuxi, with real coordinates.
CITIES = {
    "SH": ("上海", "华东", 31.2304, 121.4737),
    "NJ": ("南京", "华东", 32.0603, 118.7969),
    "WX": ("无锡", "华东", 31.4912, 120.3119),
}


class Desk:
    """A client of the tracking service with the test infra's tokens."""

    def __init__(self, client: httpx.AsyncClient, infra: Infra) -> None:
        self.c = client
        self.infra = infra
        self.admin = infra.headers("admin")

    def branch(self, code: str) -> dict[str, str]:
        return self.infra.headers("branch", branch=code)

    async def ok(self, method: str, url: str, expect: int | tuple[int, ...] = 200, **kw: Any) -> Any:
        kw.setdefault("headers", self.admin)
        r = await self.c.request(method, url, **kw)
        expected = expect if isinstance(expect, tuple) else (expect,)
        assert r.status_code in expected, f"{method} {url}: {r.status_code} {r.text}"
        return r.json() if r.content and r.headers.get("content-type", "").startswith("application/json") else r

    async def station(self, city: str = "SH") -> str:
        code = unique(city)
        name, region, lat, lon = CITIES[city]
        await self.ok("PUT", f"/v1/stations/{code}", (200, 201), json={
            "name": f"{name}站", "city": name, "region": region, "lat": lat, "lon": lon,
            "contact_phone": "13800000000", "contact_email": "ops@example.com"})
        return code

    async def route(self) -> tuple[str, str]:
        return await self.station("SH"), await self.station("WX")

    async def vehicle(self) -> str:
        vehicle_id = unique("V")
        await self.ok("PUT", f"/v1/vehicles/{vehicle_id}", (200, 201), json={
            "plate": "沪A12345", "carrier": "CARRIER1", "driver_name": "王师傅", "driver_phone": "13700000000",
            "device_id": unique("DEV")})
        return vehicle_id

    async def shipment(self, origin: str, destination: str, *, consignee: str = "杨民敬",
                       company: str | None = None, pieces: int = 10, promised_in: timedelta = timedelta(days=2),
                       **cargo: bool) -> str:
        no = unique("WB")
        await self.ok("POST", "/v1/shipments", 201, json={
            "waybill_no": no, "origin": origin, "destination": destination, "via": [],
            "shipper": {"customer_id": "C100", "name": "无锡精工", "phone": "13800000000", "email": "ops@example.com"},
            "consignee": {"name": consignee, "phone": "13900000000", "email": None, "company": company},
            "cargo": {"description": "轴承", "pieces": pieces, "weight_kg": 120.5, "volume_m3": 1.2, **cargo},
            "promised_at": (datetime.now(UTC) + promised_in).isoformat(), "payment": "prepaid",
            "receipt": {"required": True, "signature": True, "stamp": False, "id_number": True, "copies": 1}})
        return no

    async def scan(self, no: str, type_: str, station: str, at: datetime, *, vehicle_id: str | None = None,
                   pieces: int | None = None) -> None:
        r = await self.c.post(f"/v1/shipments/{no}/scans", headers=self.admin, json={
            "type": type_, "station": station, "at": at.isoformat(), "vehicle_id": vehicle_id, "pieces": pieces})
        assert r.status_code in (200, 201), f"scan {type_}: {r.status_code} {r.text}"

    async def arrived(self, origin: str, destination: str, **kw: Any) -> str:
        """A shipment that departed 3 h ago and arrived (every piece) 1 h ago."""
        no = await self.shipment(origin, destination, **kw)
        now = datetime.now(UTC)
        await self.scan(no, "departed", origin, now - timedelta(hours=3))
        await self.scan(no, "arrived", destination, now - timedelta(hours=1))
        return no


@asynccontextmanager
async def desk(stack: Stack, infra: Infra) -> AsyncIterator[Desk]:
    async with httpx.AsyncClient(base_url=stack.url("tracking"), timeout=60) as client:
        yield Desk(client, infra)


def resident_id(birth: str = "19900307") -> str:
    """A valid 18-character resident ID number (GB 11643 checksum) for tests."""
    first17 = f"3201{random.randint(10, 99)}{birth}{random.randint(100, 999)}"  # noqa: S311
    return first17 + resident_id_check_char(first17)


def id_hash(number: str, key: str) -> str:
    normalised = re.sub(r"\s+", "", unicodedata.normalize("NFKC", number)).upper()
    return hmac.new(key.encode(), normalised.encode(), hashlib.sha256).hexdigest()


async def outbox(db: asyncpg.Connection, type_: str, waybill_no: str) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT body FROM tracking.outbox WHERE type = $1 AND body::jsonb->>'subject' = $2 "
                          "ORDER BY seq",  # publication order
                          type_, waybill_no)
    return [json.loads(r["body"])["data"] for r in rows]
