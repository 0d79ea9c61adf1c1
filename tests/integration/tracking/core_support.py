"""Helpers of the tracking core's integration tests: a small world (stations, a vehicle),
waybill bodies, and reading the events tracking wrote to its outbox."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from tests.conftest import Infra, run_sync, unique

# name, city, region, lat, lon
STATIONS = {
    "SH": ("上海站", "上海", "华东", 31.2304, 121.4737),
    "NJ": ("南京站", "南京", "华东", 32.0603, 118.7969),
    "WX": ("无锡站", "无锡", "华东", 31.4912, 120.3119),
}


@dataclass
class World:
    sh: str
    nj: str
    wx: str
    vehicle_id: str
    device_id: str
    carrier: str


def now() -> datetime:
    return datetime.now(UTC)


def iso(t: datetime) -> str:
    return t.isoformat()


def client(stack_url: str) -> httpx.Client:
    return httpx.Client(base_url=stack_url, timeout=30)


def make_world(api: httpx.Client, infra: Infra, *, carrier: str = "CARR1") -> World:
    suffix = unique()[:8]
    admin = infra.headers("admin")
    codes = {}
    for key, (name, city, region, lat, lon) in STATIONS.items():
        code = f"{key}{suffix}"
        r = api.put(f"/v1/stations/{code}", headers=admin, json={
            "name": name, "city": city, "region": region, "lat": lat, "lon": lon,
            "contact_phone": "02100000000", "contact_email": f"{key.lower()}@station.example.com"})
        assert r.status_code == 201, r.text
        codes[key] = code
    world = World(codes["SH"], codes["NJ"], codes["WX"], f"V{suffix}", f"DEV{suffix}", carrier)
    add_vehicle(api, infra, world.vehicle_id, world.device_id, carrier)
    return world


def add_vehicle(api: httpx.Client, infra: Infra, vehicle_id: str, device_id: str, carrier: str = "CARR1") -> None:
    r = api.put(f"/v1/vehicles/{vehicle_id}", headers=infra.headers("admin"), json={
        "plate": "沪A12345", "carrier": carrier, "driver_name": "王师傅", "driver_phone": "13700000000",
        "device_id": device_id})
    assert r.status_code == 201, r.text


def new_vehicle(api: httpx.Client, infra: Infra, carrier: str = "CARR1") -> tuple[str, str]:
    """A vehicle of its own (of `carrier`) for one test: (vehicle id, device id)."""
    vid, dev = f"V{unique()}", f"D{unique()}"
    add_vehicle(api, infra, vid, dev, carrier)
    return vid, dev


def shipment_body(waybill: str, world: World, *, promised_at: datetime, pieces: int = 10,
                  via: list[str] | None = None) -> dict[str, Any]:
    return {
        "waybill_no": waybill, "origin": world.sh, "destination": world.wx,
        "via": [world.nj] if via is None else via,
        "shipper": {"customer_id": "C100", "name": "无锡精工", "phone": "13800000000", "email": "ops@example.com"},
        "consignee": {"name": "杨民敬", "phone": "13900000000", "email": None, "company": None},
        "cargo": {"description": "轴承", "pieces": pieces, "weight_kg": 120.5, "volume_m3": 1.2,
                  "dangerous": False, "fragile": True, "keep_upright": True, "moisture_sensitive": False},
        "promised_at": iso(promised_at), "payment": "prepaid",
        "receipt": {"required": True, "signature": True, "stamp": False, "id_number": True, "copies": 1},
    }


def register(api: httpx.Client, infra: Infra, world: World, *, promised_at: datetime, pieces: int = 10,
             via: list[str] | None = None) -> str:
    waybill = f"T{unique()}"
    r = api.post("/v1/shipments", headers=infra.headers("admin"),
                 json=shipment_body(waybill, world, promised_at=promised_at, pieces=pieces, via=via))
    assert r.status_code == 201, r.text
    return waybill


def scan(api: httpx.Client, infra: Infra, waybill: str, type_: str, station: str, at: datetime,
         vehicle_id: str | None = None, pieces: int | None = None) -> httpx.Response:
    body: dict[str, Any] = {"type": type_, "station": station, "at": iso(at)}
    if vehicle_id is not None:
        body["vehicle_id"] = vehicle_id
    if pieces is not None:
        body["pieces"] = pieces
    return api.post(f"/v1/shipments/{waybill}/scans", headers=infra.headers("admin"), json=body)


def fix(vehicle_id: str, at: datetime, lat: float, lon: float, speed: float | None = 60.0,
        heading: float | None = 280.0) -> dict[str, Any]:
    return {"vehicle_id": vehicle_id, "at": iso(at), "lat": lat, "lon": lon, "speed_kmh": speed, "heading": heading}


def post_positions(api: httpx.Client, infra: Infra, positions: list[dict[str, Any]],
                   carrier: str = "CARR1") -> httpx.Response:
    return api.post("/v1/positions", headers=infra.headers("carrier", carrier=carrier),
                    json={"positions": positions})


async def _events(infra: Infra, subject: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(infra.database_url)
    try:
        rows = await conn.fetch("SELECT body FROM tracking.outbox WHERE (body::jsonb)->>'subject' = $1 ORDER BY seq",
                                subject)
    finally:
        await conn.close()
    return [json.loads(r["body"]) for r in rows]


def events(infra: Infra, subject: str, *types: str) -> list[dict[str, Any]]:
    """Envelopes tracking wrote to its outbox about `subject`, oldest first (optionally of `types`,
    given as the short happening, e.g. "delayed")."""
    found = run_sync(_events(infra, subject))
    if types:
        wanted = {f"tracking.shipment.{t}.v1" for t in types} | {f"tracking.vehicle.{t}.v1" for t in types}
        found = [e for e in found if e["type"] in wanted]
    return found


def short(envelope: dict[str, Any]) -> str:
    return envelope["type"].split(".")[2]


async def _sql(infra: Infra, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(infra.database_url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


def sql(infra: Infra, query: str, *args: Any) -> list[asyncpg.Record]:
    return run_sync(_sql(infra, query, *args))


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def stored(infra: Infra, vid: str) -> list[datetime]:
    """The times of the positions stored for a vehicle, oldest first."""
    return [r["at"] for r in sql(infra, "SELECT at FROM tracking.positions WHERE vehicle_id = $1 ORDER BY at", vid)]


def last_position(api: httpx.Client, infra: Infra, vid: str) -> dict[str, Any]:
    """The vehicle's last position as tracking's API shows it."""
    position: dict[str, Any] = api.get(f"/v1/vehicles/{vid}", headers=infra.headers("admin")).json()["last_position"]
    return position
