"""Hostile input is refused cleanly (issue 7, point 3): NUL bytes, invalid UTF-8, oversized
bodies, overlong strings, unknown enum values, numbers out of range and times without an
offset all get a 4xx in the contract's error shape — never a 500 — and nothing is stored.

"Nothing stored" is checked in the database: no row of any table in the service's
schema (outbox included) contains the request's unique marker."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from shared.devtools.stack import Stack
from shared.settings import Settings
from tests.conftest import Infra, run_sync
from tests.security.conftest import Flow
from tests.security.support import describe, error_shape_problem, need, service_spec

NOW = datetime.now(UTC).replace(microsecond=0).isoformat()
NAIVE = "2026-11-30T18:00:00"


def marker() -> str:
    return "SEC" + uuid.uuid4().hex[:10].upper()


async def _rows_with(database_url: str, schema: str, text: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        tables = [r["table_name"] for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
            schema)]
        hits = []
        for table in tables:
            n = await conn.fetchval(f'SELECT count(*) FROM "{schema}"."{table}" t WHERE t::text LIKE $1',
                                    f"%{text}%")
            if n:
                hits.append(f"{schema}.{table}: {n} row(s)")
        return hits
    finally:
        await conn.close()


def stored_rows(infra: Infra, schema: str, text: str) -> list[str]:
    return run_sync(_rows_with(infra.database_url, schema, text))


@dataclass
class Case:
    id: str
    service: str
    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    params: dict[str, str] | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    files: Any = None
    expect: tuple[int, ...] = (400, 413, 415, 422)
    marker: str | None = None
    may_succeed: bool = False  # e.g. null read as "leave unchanged": a 2xx is fine, a 5xx never


def _station(code: str, **over: Any) -> dict[str, Any]:
    return {"name": "安全测试站", "city": "上海", "region": "华东", "lat": 31.2, "lon": 121.4,
            "contact_phone": "02100000000", "contact_email": "st@example.com", **over}


def _shipment(wb: str, origin: str = "ZZ01", dest: str = "ZZ02", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "waybill_no": wb, "origin": origin, "destination": dest, "via": [],
        "shipper": {"customer_id": "C1", "name": "无锡精工", "phone": "13800000000", "email": "ops@example.com"},
        "consignee": {"name": "杨民敬", "phone": "13900000000", "email": None, "company": None},
        "cargo": {"description": "轴承", "pieces": 10, "weight_kg": 120.5, "volume_m3": 1.2, "dangerous": False,
                  "fragile": True, "keep_upright": True, "moisture_sensitive": False},
        "promised_at": "2026-11-30T18:00:00+08:00", "payment": "prepaid",
        "receipt": {"required": True, "signature": True, "stamp": False, "id_number": True, "copies": 1}}
    for key, value in over.items():
        target = body
        *parents, last = key.split(".")
        for p in parents:
            target = target[p]
        target[last] = value
    return body


def _complaint(m: str, **over: Any) -> dict[str, Any]:
    return {"customer_id": f"C{m}", "caller_name": f"李{m}", "phone": "13800000000", "email": None,
            "waybill_no": None, "channel": "phone", "category": "delay", "description": f"迟到 {m}", **over}


def _recipient(**over: Any) -> dict[str, Any]:
    return {"name": "无锡精工", "phone": "13800000000", "email": "ops@example.com", "language": "zh-CN",
            "channels": {"sms": True, "email": True},
            "quiet_hours": {"start": "22:00", "end": "07:00", "tz": "Asia/Shanghai"}, **over}


def cases() -> list[Case]:
    out: list[Case] = []

    def add(**kw: Any) -> None:
        out.append(Case(**kw))

    # --- tracking: stations, shipments, scans, notes, query strings -----------------
    m = marker()
    add(id="station-name-escaped-nul", service="tracking", method="PUT", path=f"/v1/stations/{m}",
        json=_station(m, name="站\u0000点"), expect=(422,), marker=m)
    m = marker()
    raw = json.dumps(_station(m, name="站XX点"), ensure_ascii=False).encode().replace(b"XX", b"\x00")
    add(id="station-name-raw-nul", service="tracking", method="PUT", path=f"/v1/stations/{m}", content=raw,
        headers={"Content-Type": "application/json"}, expect=(422,), marker=m)
    m = marker()
    raw = json.dumps(_station(m, name="站XX点"), ensure_ascii=False).encode().replace(b"XX", b"\xff\xfe\xc3")
    add(id="station-invalid-utf8", service="tracking", method="PUT", path=f"/v1/stations/{m}", content=raw,
        headers={"Content-Type": "application/json"}, expect=(422,), marker=m)
    m = marker()
    add(id="station-invalid-utf8-no-content-type", service="tracking", method="PUT", path=f"/v1/stations/{m}",
        content=json.dumps(_station(m)).encode().replace(b"st@", b"\xc0\xaf@"), expect=(400, 415, 422), marker=m)
    m = marker()
    add(id="station-overlong-name", service="tracking", method="PUT", path=f"/v1/stations/{m}",
        json=_station(m, name="长" * 5000), marker=m)
    m = marker()
    add(id="station-latitude-out-of-range", service="tracking", method="PUT", path=f"/v1/stations/{m}",
        json=_station(m, lat=91.0), marker=m)
    m = marker()
    add(id="station-longitude-nan", service="tracking", method="PUT", path=f"/v1/stations/{m}",
        content=json.dumps(_station(m)).replace('"lon": 121.4', '"lon": NaN').encode(),
        headers={"Content-Type": "application/json"}, marker=m)
    m = marker()
    add(id="shipment-unknown-payment", service="tracking", method="POST", path="/v1/shipments",
        json=_shipment(m, payment="barter"), marker=m)
    m = marker()
    add(id="shipment-pieces-zero", service="tracking", method="POST", path="/v1/shipments",
        json=_shipment(m, **{"cargo.pieces": 0}), marker=m)
    m = marker()
    add(id="shipment-pieces-huge", service="tracking", method="POST", path="/v1/shipments",
        json=_shipment(m, **{"cargo.pieces": 10**15}), marker=m)
    m = marker()
    add(id="shipment-weight-negative", service="tracking", method="POST", path="/v1/shipments",
        json=_shipment(m, **{"cargo.weight_kg": -5}), marker=m)
    m = marker()
    add(id="shipment-copies-huge", service="tracking", method="POST", path="/v1/shipments",
        json=_shipment(m, **{"receipt.copies": 10**9}), marker=m)
    m = marker()
    add(id="shipment-promised-at-without-offset", service="tracking", method="POST", path="/v1/shipments",
        json=_shipment(m, promised_at=NAIVE), marker=m)
    m = marker()
    add(id="shipment-promised-at-date-only", service="tracking", method="POST", path="/v1/shipments",
        json=_shipment(m, promised_at="2026-11-30"), marker=m)
    m = marker()
    add(id="shipment-escaped-nul-in-consignee", service="tracking", method="POST", path="/v1/shipments",
        json=_shipment(m, **{"consignee.name": "杨\u0000民敬"}), expect=(422,), marker=m)
    m = marker()
    add(id="shipment-overlong-description", service="tracking", method="POST", path="/v1/shipments",
        json=_shipment(m, **{"cargo.description": "x" * 100_000}), marker=m)
    m = marker()
    add(id="shipment-bad-phone", service="tracking", method="POST", path="/v1/shipments",
        json=_shipment(m, **{"consignee.phone": "1" * 64}), marker=m)
    m = marker()
    add(id="shipment-unknown-field", service="tracking", method="POST", path="/v1/shipments",
        json={**_shipment(m), "is_admin": True}, expect=(400, 422), marker=m)
    m = marker()
    add(id="shipment-json-array-body", service="tracking", method="POST", path="/v1/shipments",
        json=[_shipment(m)], marker=m)
    m = marker()
    add(id="shipment-deeply-nested-json", service="tracking", method="POST", path="/v1/shipments",
        content=(b'{"waybill_no": "' + m.encode() + b'", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"),
        headers={"Content-Type": "application/json"}, marker=m)
    add(id="scan-unknown-type", service="tracking", method="POST", path="/v1/shipments/SECNOSUCH0001/scans",
        json={"type": "teleported", "station": "ZZ01", "at": NOW, "vehicle_id": None, "pieces": 1})
    add(id="scan-time-without-offset", service="tracking", method="POST", path="/v1/shipments/SECNOSUCH0001/scans",
        json={"type": "arrived", "station": "ZZ01", "at": NAIVE, "vehicle_id": None, "pieces": 1})
    add(id="note-unknown-reason", service="tracking", method="POST", path="/v1/shipments/SECNOSUCH0001/notes",
        json={"at": NOW, "contact": "张三", "channel": "phone", "delayed": True, "reason": "aliens"})
    add(id="query-nul-percent-encoded", service="tracking", method="GET", path="/v1/reports/exceptions",
        params="from=2026-11-01T00:00:00%2B08:00&to=2026-11-30T00:00:00%2B08:00&x=%00", expect=(422,))
    add(id="query-invalid-utf8", service="tracking", method="GET", path="/v1/reports/exceptions",
        params="from=%FF%FE", expect=(422,))
    add(id="query-time-without-offset", service="tracking", method="GET", path="/v1/reports/exceptions",
        params={"from": "2026-11-01T00:00:00", "to": "2026-11-30T00:00:00"}, expect=(400, 422))
    m = marker()
    csv_nul = ("waybill_no,origin,destination,via,shipper_customer_id,shipper_name,shipper_phone,shipper_email,"
               "consignee_name,consignee_phone,consignee_company,cargo_description,pieces,weight_kg,volume_m3,"
               "dangerous,fragile,keep_upright,moisture_sensitive,promised_at,payment,receipt_required,"
               "receipt_signature,receipt_stamp,receipt_id_number,receipt_copies\n"
               f"{m},ZZ01,ZZ02,,C1,精工\x00,13800000000,,杨民敬,13900000000,,轴承,1,1,1,false,false,false,false,"
               "2026-11-30T18:00:00+08:00,prepaid,true,true,false,false,1\n").encode()
    add(id="csv-import-nul", service="tracking", method="POST", path="/v1/shipments/import", content=csv_nul,
        headers={"Content-Type": "text/csv"}, expect=(400, 415, 422), marker=m)
    add(id="csv-import-invalid-bytes", service="tracking", method="POST", path="/v1/shipments/import",
        content=csv_nul.replace(b"\x00", b"\xff\xff\xff").replace(b"ZZ01", b"\xc3("),
        headers={"Content-Type": "text/csv; charset=utf-8"}, expect=(400, 415, 422), marker=m)
    add(id="csv-import-two-files", service="tracking", method="POST", path="/v1/shipments/import",
        files=[("file", ("a.csv", csv_nul, "text/csv")), ("file", ("b.csv", csv_nul, "text/csv"))],
        expect=(400, 413, 415, 422), marker=m)
    bad_multipart = b"--XYZ\r\nNone--XYZ--\r\n"
    add(id="csv-import-malformed-multipart", service="tracking", method="POST", path="/v1/shipments/import",
        content=bad_multipart, headers={"Content-Type": "multipart/form-data; boundary=XYZ"})
    add(id="photo-malformed-multipart", service="tracking", method="POST", path="/v1/exceptions/987654321/photos",
        content=bad_multipart, headers={"Content-Type": "multipart/form-data; boundary=XYZ"},
        expect=(400, 404, 415, 422))
    add(id="osmand-nul-in-id", service="tracking", method="GET", path="/osmand",
        params="id=DEV%00X&lat=31&lon=121&timestamp=1764300000", expect=(400, 422))
    add(id="osmand-latitude-out-of-range", service="tracking", method="GET", path="/osmand",
        params={"id": "DEVNOSUCH", "lat": "123", "lon": "121", "timestamp": "1764300000"}, expect=(400, 422))

    # --- receipts -------------------------------------------------------------------
    m = marker()
    add(id="envelope-time-without-offset", service="receipts", method="POST", path="/v1/envelopes",
        json={"from_station": "ZZ01", "to_station": "ZZ02", "waybills": [m], "sent_at": NAIVE, "courier_no": m},
        marker=m)
    m = marker()
    add(id="envelope-escaped-nul", service="receipts", method="POST", path="/v1/envelopes",
        json={"from_station": "ZZ01", "to_station": "ZZ02", "waybills": [m], "sent_at": NOW,
              "courier_no": f"{m}\u0000"}, expect=(422,), marker=m)
    m = marker()
    add(id="envelope-huge-waybill-list", service="receipts", method="POST", path="/v1/envelopes",
        json={"from_station": "ZZ01", "to_station": "ZZ02", "waybills": [m] + [f"W{i:08d}" for i in range(60_000)],
              "sent_at": NOW, "courier_no": m}, marker=m)
    add(id="inspection-unknown-anomaly", service="receipts", method="POST",
        path="/v1/receipts/SECNOSUCH0001/inspection",
        json={"result": "abnormal", "anomalies": ["forged_by_aliens"], "by": "质检"})
    add(id="inspection-unknown-result", service="receipts", method="POST",
        path="/v1/receipts/SECNOSUCH0001/inspection", json={"result": "maybe", "anomalies": [], "by": "质检"})
    add(id="handover-unknown-target", service="receipts", method="POST", path="/v1/receipts/SECNOSUCH0001/handover",
        json={"to": "nobody", "recipient": "x", "at": NOW})
    add(id="receipts-query-as-of-without-offset", service="receipts", method="GET", path="/v1/receipts",
        params={"as_of": NAIVE}, expect=(400, 422))
    add(id="receipts-query-unknown-status", service="receipts", method="GET", path="/v1/receipts",
        params={"status": "vaporised"}, expect=(400, 422))
    add(id="receipts-query-nul", service="receipts", method="GET", path="/v1/receipts", params="station=%00",
        expect=(422,))
    add(id="receipts-query-limit-huge", service="receipts", method="GET", path="/v1/receipts",
        params={"limit": "100000000"}, expect=(400, 422))
    add(id="receipts-month-invalid", service="receipts", method="GET", path="/v1/reports/receipts/monthly",
        params={"month": "2026-13"}, expect=(400, 422))
    add(id="receipts-bad-cursor", service="receipts", method="GET", path="/v1/receipts",
        params={"cursor": "%%%not-a-cursor"}, expect=(400, 422))

    # --- complaints -----------------------------------------------------------------
    m = marker()
    add(id="complaint-escaped-nul", service="complaints", method="POST", path="/v1/complaints",
        json=_complaint(m, description="a\u0000b"), expect=(422,), marker=m)
    m = marker()
    add(id="complaint-raw-nul", service="complaints", method="POST", path="/v1/complaints",
        content=json.dumps(_complaint(m, description="aXXb")).encode().replace(b"XX", b"\x00"),
        headers={"Content-Type": "application/json"}, expect=(422,), marker=m)
    m = marker()
    add(id="complaint-invalid-utf8", service="complaints", method="POST", path="/v1/complaints",
        content=json.dumps(_complaint(m, description="aXXb")).encode().replace(b"XX", b"\xed\xa0\x80"),
        headers={"Content-Type": "application/json"}, expect=(422,), marker=m)
    m = marker()
    add(id="complaint-unknown-category", service="complaints", method="POST", path="/v1/complaints",
        json=_complaint(m, category="alien_abduction"), marker=m)
    m = marker()
    add(id="complaint-unknown-channel", service="complaints", method="POST", path="/v1/complaints",
        json=_complaint(m, channel="pigeon"), marker=m)
    m = marker()
    add(id="complaint-overlong-description", service="complaints", method="POST", path="/v1/complaints",
        json=_complaint(m, description="长" * 50_000), marker=m)
    m = marker()
    add(id="complaint-body-over-limit", service="complaints", method="POST", path="/v1/complaints",
        json=_complaint(m, description="x" * 2_000_000), expect=(413,), marker=m)
    m = marker()
    add(id="complaint-lone-surrogate-escape", service="complaints", method="POST", path="/v1/complaints",
        content=json.dumps(_complaint(m, description="PLACEHOLDER")).replace("PLACEHOLDER", "\\ud800").encode(),
        headers={"Content-Type": "application/json"}, marker=m)
    add(id="survey-score-out-of-range", service="complaints", method="POST",
        path=f"/v1/complaints/{uuid.uuid4()}/survey", json={"score": 6, "comment": None})
    add(id="survey-score-float", service="complaints", method="POST",
        path=f"/v1/complaints/{uuid.uuid4()}/survey", json={"score": 4.5, "comment": None})
    add(id="complaints-query-unknown-status", service="complaints", method="GET", path="/v1/complaints",
        params={"status": "vaporised"}, expect=(400, 422))
    add(id="complaints-bad-id", service="complaints", method="GET", path="/v1/complaints/not-a-uuid",
        expect=(400, 404, 422))
    m = marker()
    add(id="customer-contacts-null", service="complaints", method="PUT", path=f"/v1/customers/C{m}",
        json={"contacts": None}, may_succeed=True)
    add(id="customer-contacts-not-a-list", service="complaints", method="PUT", path=f"/v1/customers/C{m}",
        json={"contacts": {"\u0000": 1}}, may_succeed=True)
    add(id="complaints-report-month-invalid", service="complaints", method="GET", path="/v1/reports/complaints",
        params={"month": "2026-00"}, expect=(400, 422))

    # --- notifier -------------------------------------------------------------------
    m = marker()
    add(id="recipient-unknown-language", service="notifier", method="PUT", path=f"/v1/recipients/{m}",
        json=_recipient(language="klingon"), marker=m)
    m = marker()
    add(id="recipient-unknown-timezone", service="notifier", method="PUT", path=f"/v1/recipients/{m}",
        json=_recipient(quiet_hours={"start": "22:00", "end": "07:00", "tz": "Mars/Olympus_Mons"}), marker=m)
    m = marker()
    add(id="recipient-bad-quiet-hour", service="notifier", method="PUT", path=f"/v1/recipients/{m}",
        json=_recipient(quiet_hours={"start": "25:61", "end": "07:00", "tz": "Asia/Shanghai"}), marker=m)
    m = marker()
    add(id="recipient-escaped-nul", service="notifier", method="PUT", path=f"/v1/recipients/{m}",
        json=_recipient(name="无锡\u0000精工"), expect=(422,), marker=m)
    m = marker()
    add(id="recipient-overlong-email", service="notifier", method="PUT", path=f"/v1/recipients/{m}",
        json=_recipient(email="a" * 300 + "@example.com"), marker=m)
    m = marker()
    add(id="recipient-nul-in-path", service="notifier", method="PUT", path=f"/v1/recipients/{m}%00x",
        json=_recipient(), expect=(400, 404, 422), marker=m)
    add(id="notifications-query-unknown-status", service="notifier", method="GET", path="/v1/notifications",
        params={"status": "vaporised"}, expect=(400, 422))
    add(id="notifications-query-nul", service="notifier", method="GET", path="/v1/notifications",
        params="waybill_no=%00", expect=(422,))
    return out


CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_refused_in_the_error_shape_and_stores_nothing(stack: Stack, infra: Infra,
                                                                         case: Case) -> None:
    need(stack, case.service)
    with httpx.Client(base_url=stack.url(case.service), timeout=30) as client:
        r = client.request(case.method, case.path, json=case.json, content=case.content, params=case.params,
                           headers={**infra.headers("admin"), **case.headers}, files=case.files)
    assert r.status_code < 500, f"server error: {describe(r)}"
    if case.may_succeed and r.status_code < 300:
        return
    assert r.status_code in case.expect, f"expected one of {case.expect}, got {describe(r)}"
    assert error_shape_problem(r) is None, f"{error_shape_problem(r)}: {describe(r)}"
    if case.marker:
        assert not stored_rows(infra, case.service, case.marker), \
            f"refused request left data behind: {stored_rows(infra, case.service, case.marker)}"


# --- the positions batch and photos ------------------------------------------------------


def _limit(service: str, path: str) -> int:
    limits = sorted(service_spec(service).body_limits.items(), key=lambda kv: -len(kv[0]))
    for prefix, limit in limits:
        if path.startswith(prefix):
            return int(limit)
    return Settings(env="dev").max_body_bytes


def _vehicle(client: httpx.Client, infra: Infra, carrier: str) -> str:
    vid = marker()
    r = client.put(f"/v1/vehicles/{vid}", headers=infra.headers("admin"), json={
        "plate": "沪B00000", "carrier": carrier, "driver_name": "测试", "driver_phone": "13700000000",
        "device_id": f"D{vid}"})
    assert r.status_code in (200, 201), describe(r)
    return vid


def _position(vid: str, **over: Any) -> dict[str, Any]:
    return {"vehicle_id": vid, "at": NOW, "lat": 31.2, "lon": 121.4, "speed_kmh": 40.0, "heading": 10.0, **over}


def test_positions_batch_over_the_item_limit_or_the_byte_limit_is_refused(stack: Stack, infra: Infra) -> None:
    need(stack, "tracking")
    client = httpx.Client(base_url=stack.url("tracking"), timeout=60)
    vid = _vehicle(client, infra, "CSECIN")
    headers = infra.headers("carrier", carrier="CSECIN")
    problems = []
    r = client.post("/v1/positions", headers=headers, json={"positions": [_position(vid)] * 5001})
    if r.status_code not in (413, 422) or error_shape_problem(r):
        problems.append(f"5,001 positions: {describe(r)}")
    limit = _limit("tracking", "/v1/positions")
    filler = [_position(vid, heading=float(i % 360)) for i in range(limit // 100 + 10)]
    body = json.dumps({"positions": filler}).encode()
    body = body if len(body) > limit else body + b" " * (limit - len(body) + 1)
    r = client.post("/v1/positions", headers={**headers, "Content-Type": "application/json"}, content=body)
    if r.status_code != 413 or error_shape_problem(r):
        problems.append(f"{len(body)} bytes (limit {limit}): {describe(r)}")
    good = [_position(vid, at=f"2026-11-28T0{h}:00:00+08:00") for h in range(5)]
    bad = [*good[:3], _position(vid, lat=91.0), *good[3:]]
    r = client.post("/v1/positions", headers=headers, json={"positions": bad})
    if r.status_code != 422 or error_shape_problem(r):
        problems.append(f"one position out of range: {describe(r)}")
    elif "3" not in json.dumps(r.json()["error"]):
        problems.append(f"one position out of range: the error does not name index 3: {r.text[:300]}")
    naive = [*good[:1], _position(vid, at=NAIVE)]
    r = client.post("/v1/positions", headers=headers, json={"positions": naive})
    if r.status_code != 422 or error_shape_problem(r):
        problems.append(f"a position without an offset: {describe(r)}")
    last = client.get(f"/v1/vehicles/{vid}", headers=infra.headers("admin")).json().get("last_position")
    if last is not None:
        problems.append(f"a refused batch stored a position: {last}")
    assert not problems, "\n".join(problems)


def test_photos_over_the_limit_or_not_images_are_refused(stack: Stack, infra: Infra, flow: Flow) -> None:
    need(stack, "tracking")
    assert flow.exception_id, f"the flow could not report an exception: {flow.problems()}"
    client = httpx.Client(base_url=stack.url("tracking"), timeout=60)
    path = f"/v1/exceptions/{flow.exception_id}/photos"
    admin = infra.headers("admin")
    before = client.get(path, headers=admin)
    limit = _limit("tracking", path)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * (limit + 1024)
    problems = []
    r = client.post(path, headers=admin, files={"file": ("big.png", png, "image/png")})
    if r.status_code != 413 or error_shape_problem(r):
        problems.append(f"photo of {len(png)} bytes (limit {limit}): {describe(r)}")
    r = client.post(path, headers=admin, files={"file": ("evil.html", b"<script>alert(1)</script>", "text/html")})
    if r.status_code not in (400, 415, 422) or error_shape_problem(r):
        problems.append(f"an HTML file as a photo: {describe(r)}")
    r = client.post(path, headers=admin, files={"file": ("fake.png", b"<svg onload=alert(1)>", "image/png")})
    if r.status_code not in (400, 415, 422) or error_shape_problem(r):
        problems.append(f"non-image bytes declared image/png: {describe(r)}")
    after = client.get(path, headers=admin)
    if before.status_code == 200 and after.status_code == 200 and before.text != after.text:
        problems.append(f"refused photos were stored: {before.text[:200]} -> {after.text[:200]}")
    assert not problems, "\n".join(problems)
