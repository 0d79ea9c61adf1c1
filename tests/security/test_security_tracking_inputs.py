"""Tracking's own hostile inputs (issue 22, points 2-3): NUL characters inside a CSV import, which
the guard cannot see in a CSV body, are refused by row and column before anything is stored; and
text a person typed that a spreadsheet would run as a formula is neutralised in every CSV
tracking writes (here: a vehicle plate in the 08:00 in-transit sheet)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from shared.devtools.stack import Stack
from tests.conftest import Infra, run_sync
from tests.security.support import error_shape_problem, need

HEADER = ("waybill_no,origin,destination,shipper_name,shipper_phone,consignee_name,consignee_phone,"
          "cargo_description,pieces,weight_kg,promised_at,payment")


@pytest.fixture(scope="module")
def tracking(stack: Stack, infra: Infra) -> httpx.Client:
    need(stack, "tracking")
    with httpx.Client(base_url=stack.url("tracking"), headers=infra.headers("admin"), timeout=30) as client:
        yield client


def _stations(client: httpx.Client) -> tuple[str, str]:
    codes = []
    for city, lat, lon in (("上海", 31.23, 121.47), ("无锡", 31.49, 120.31)):
        code = "SN" + uuid.uuid4().hex[:8].upper()
        r = client.put(f"/v1/stations/{code}", json={"name": f"{city}站", "city": city, "region": "华东",
                                                     "lat": lat, "lon": lon})
        assert r.status_code == 201, r.text
        codes.append(code)
    return codes[0], codes[1]


def _row(waybill: str, origin: str, dest: str, *, shipper: str = "无锡精工", cargo: str = "轴承") -> str:
    promised = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    return f"{waybill},{origin},{dest},{shipper},13800000000,杨民敬,13900000000,{cargo},1,5,{promised},prepaid"


async def _stored(database_url: str, waybills: list[str]) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM tracking.shipments WHERE waybill_no = ANY($1::text[])",
                                       waybills))
    finally:
        await conn.close()


@pytest.mark.parametrize("form", ["text/csv", "multipart"])
def test_nul_in_a_csv_import_is_refused_by_row_and_column_and_nothing_is_stored(
        tracking: httpx.Client, infra: Infra, form: str) -> None:
    origin, dest = _stations(tracking)
    waybills = [f"NUL{uuid.uuid4().hex[:10].upper()}" for _ in range(3)]
    text = "\n".join([HEADER,
                      _row(waybills[0], origin, dest),
                      _row(waybills[1], origin, dest, shipper="无锡\x00精工"),  # a name
                      _row(waybills[2], origin, dest, cargo="轴\x00承")])  # a description
    data = text.encode("utf-8")
    if form == "text/csv":
        r = tracking.post("/v1/shipments/import", content=data, headers={"Content-Type": "text/csv"})
    else:
        r = tracking.post("/v1/shipments/import", files={"file": ("orders.csv", data, "text/csv")})
    assert r.status_code == 422, r.text
    assert error_shape_problem(r) is None
    error = r.json()["error"]
    assert error["code"] == "invalid_characters"
    assert [(p["row"], p["column"]) for p in error["details"]] == [(2, "shipper_name"), (3, "cargo_description")]
    assert "row 2" in error["message"] and "shipper_name" in error["message"]
    assert run_sync(_stored(infra.database_url, waybills)) == 0


def test_a_formula_in_a_vehicle_plate_is_neutralised_in_the_in_transit_csv(tracking: httpx.Client) -> None:
    origin, dest = _stations(tracking)
    vehicle = "VF" + uuid.uuid4().hex[:8].upper()
    plate = "\t=1+1"
    r = tracking.put(f"/v1/vehicles/{vehicle}",
                     json={"plate": plate, "carrier": "CARR1", "driver_name": "=HYPERLINK()"})
    assert r.status_code == 201, r.text
    waybill = f"FX{uuid.uuid4().hex[:10].upper()}"
    r = tracking.post("/v1/shipments", json={
        "waybill_no": waybill, "origin": origin, "destination": dest, "via": [],
        "shipper": {"name": "无锡精工", "phone": "13800000000"},
        "consignee": {"name": "杨民敬", "phone": "13900000000"}, "cargo": {"description": "轴承", "pieces": 1},
        "promised_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(), "payment": "prepaid"})
    assert r.status_code == 201, r.text
    r = tracking.post(f"/v1/shipments/{waybill}/scans", json={
        "type": "departed", "station": origin, "at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "vehicle_id": vehicle})
    assert r.status_code == 201, r.text

    r = tracking.get("/v1/reports/in-transit", headers={"Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = {row["waybill_no"]: row for row in csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")))}
    line = rows[waybill]
    assert line["plate"] == "'" + plate  # shown as text, never run as a formula
    assert line["driver_name"] == "'=HYPERLINK()"
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in line.values() if cell)
