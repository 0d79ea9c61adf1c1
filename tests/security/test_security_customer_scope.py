"""Role `customer` (a key account's own token, claim `customer`), route by route (docs/SECURITY.md):

- deny by default: every /v1 route of every service that does not list `customer` among its roles
  answers a customer token 403 — even one whose customer owns everything the request names;
- every route that does list it is in `SCOPED` below, and proven scoped here with a second
  customer's token: another customer's waybill, exception, photo, receipt or complaint answers
  404 exactly as an unknown id does, lists leave it out, writes naming it are refused with the
  same 404 and store nothing — and the owner's own read (the positive control) succeeds without
  the desk's internals (vehicle, notes, staff names, priority, the reply script).

A route newly opened to customers fails `test_customer_routes_are_the_scoped_ones` until it is
added to `SCOPED` with its proof in this file.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from shared.devtools.stack import Stack
from tests.conftest import Infra
from tests.security.support import (
    SERVICES,
    declared_roles,
    describe,
    error_shape_problem,
    fill_path,
    need,
    operations,
    query_value,
    request_kwargs,
    running,
    wait_for,
)

# (service, METHOD, path template) of every route a customer token may call, each proven below.
SCOPED: frozenset[tuple[str, str, str]] = frozenset({
    ("tracking", "GET", "/v1/shipments"),
    ("tracking", "GET", "/v1/shipments/{waybill_no}"),
    ("tracking", "GET", "/v1/exceptions/{exception_id}"),
    ("tracking", "GET", "/v1/exceptions/{exception_id}/photos"),
    ("tracking", "GET", "/v1/exceptions/{exception_id}/photos/{photo_id}"),
    ("tracking", "POST", "/v1/shipments/{waybill_no}/appointments"),
    ("tracking", "GET", "/v1/appointments"),
    ("tracking", "GET", "/v1/reports/storage"),
    ("receipts", "GET", "/v1/receipts"),
    ("receipts", "GET", "/v1/receipts/{waybill_no}"),
    ("complaints", "POST", "/v1/complaints"),
    ("complaints", "GET", "/v1/complaints"),
    ("complaints", "GET", "/v1/complaints/{complaint_id}"),
    ("complaints", "POST", "/v1/complaints/{complaint_id}/customer-reply"),
    ("complaints", "POST", "/v1/complaints/{complaint_id}/survey"),
})



def _png(seed: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + bytes((seed + x * 7 + y * 13 + c) % 256 for x in range(2) for c in range(3))
                   for y in range(2))
    ihdr = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


class Scene:
    """Customer `mine` with a waybill that departed on a vehicle, carries a desk note, an exception
    with a photo, a receipt and a complaint; customer `theirs` with a waybill of its own."""

    def __init__(self, stack: Stack, infra: Infra) -> None:
        sfx = uuid.uuid4().hex[:6].upper()
        self.infra, self.sfx = infra, sfx
        self.up = running(stack)
        self.mine, self.theirs = f"CM{sfx}", f"CT{sfx}"
        self.origin, self.dest = f"KA{sfx}", f"KB{sfx}"
        self.waybill, self.their_waybill = f"WK{sfx}0001", f"WK{sfx}0002"
        self.vehicle = f"VK{sfx}"
        self.note = f"内部备注{sfx}"
        self.admin = infra.headers("admin")
        self.tracking = httpx.Client(base_url=stack.url("tracking"), timeout=15)
        self.exception_id = ""
        self.photo_id = 0
        self.complaint_id = ""
        now = datetime.now(UTC)
        for code in (self.origin, self.dest):
            self.ok(self.tracking.put(f"/v1/stations/{code}", headers=self.admin, json={
                "name": f"{code}站", "city": "上海", "region": "华东", "lat": 31.2, "lon": 121.4,
                "contact_phone": "13700000000", "contact_email": f"{code.lower()}@example.com"}))
        self.ok(self.tracking.put(f"/v1/vehicles/{self.vehicle}", headers=self.admin, json={
            "plate": "沪A12345", "carrier": "CARRIER1", "driver_name": "王师傅", "driver_phone": "13700000000"}))
        for waybill, customer in ((self.waybill, self.mine), (self.their_waybill, self.theirs)):
            self.ok(self.tracking.post("/v1/shipments", headers=self.admin, json={
                "waybill_no": waybill, "origin": self.origin, "destination": self.dest, "via": [],
                "shipper": {"customer_id": customer, "name": "联想", "phone": "13600000000", "email": None},
                "consignee": {"name": "杨民敬", "phone": "13900000000", "email": None, "company": None},
                "cargo": {"description": "电脑", "pieces": 4}, "payment": "monthly",
                "promised_at": (now + timedelta(days=2)).isoformat(),
                "receipt": {"required": True, "signature": True, "stamp": False, "id_number": True, "copies": 1}}))
        self.ok(self.tracking.post(f"/v1/shipments/{self.waybill}/scans", headers=self.admin, json={
            "type": "departed", "station": self.origin, "at": (now - timedelta(hours=3)).isoformat(),
            "vehicle_id": self.vehicle}))
        self.ok(self.tracking.post(f"/v1/shipments/{self.waybill}/notes", headers=self.admin, json={
            "at": (now - timedelta(hours=2)).isoformat(), "contact": "司机王师傅", "channel": "phone",
            "delayed": False, "note": self.note}))
        self.ok(self.tracking.post(f"/v1/shipments/{self.waybill}/scans", headers=self.admin, json={
            "type": "arrived", "station": self.dest, "at": (now - timedelta(hours=1)).isoformat()}))
        exc = self.ok(self.tracking.post(f"/v1/shipments/{self.waybill}/exceptions", headers=self.admin, json={
            "kind": "damage", "pieces": 1, "station": self.dest, "description": "外箱破损"}))
        self.exception_id = exc.json()["id"]
        photo = self.ok(self.tracking.post(f"/v1/exceptions/{self.exception_id}/photos", headers=self.admin,
                                           files={"file": ("破损.png", _png(int(sfx, 16) % 251), "image/png")}))
        self.photo_id = photo.json()["id"]
        if "receipts" in self.up:
            receipts = httpx.Client(base_url=stack.url("receipts"), timeout=15)
            for waybill in (self.waybill, self.their_waybill):
                got = wait_for(lambda w=waybill: receipts.get(f"/v1/receipts/{w}", headers=self.admin),
                               lambda r: r.status_code == 200)
                assert got.status_code == 200, f"receipts never learned {waybill}: {describe(got)}"
        if "complaints" in self.up:
            for waybill in (self.waybill, self.their_waybill):
                known = wait_for(lambda w=waybill: query_value(
                    infra, "SELECT customer_id FROM complaints.shipments WHERE waybill_no = $1", w), bool)
                assert known, f"complaints never learned {waybill}"
            complaints = httpx.Client(base_url=stack.url("complaints"), timeout=15)
            filed = self.ok(complaints.post("/v1/complaints", headers=infra.headers("staff"), json={
                "customer_id": self.mine, "caller_name": "李女士", "phone": "13512345678",
                "waybill_no": self.waybill, "channel": "phone", "category": "damage",
                "description": "外箱破损，要求赔偿"}))
            self.complaint_id = filed.json()["id"]

    @staticmethod
    def ok(r: httpx.Response) -> httpx.Response:
        assert r.status_code in (200, 201), f"{r.request.method} {r.request.url.path}: {describe(r)}"
        return r

    def customer(self, which: str) -> dict[str, str]:
        return self.infra.headers("customer", customer=which, sub=f"portal-{which.lower()}")


@pytest.fixture(scope="module")
def scene(stack: Stack, infra: Infra) -> Scene:
    need(stack, "tracking")
    return Scene(stack, infra)


class Check:
    """Collects problems, so one run reports every route that leaks."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def status(self, label: str, r: httpx.Response, *expected: int) -> bool:
        if r.status_code not in expected:
            self.problems.append(f"{label}: expected {expected}, got {describe(r)}")
            return False
        return True

    def like_unknown(self, label: str, r: httpx.Response, unknown: httpx.Response, real: str, fake: str) -> None:
        """`r` (another customer's id) answers exactly as `unknown` (an id that does not exist)."""
        if r.status_code != 404 or error_shape_problem(r):
            self.problems.append(f"{label}: expected 404 in the error shape, got {describe(r)}")
        elif unknown.status_code != 404 or r.text.replace(real, fake) != unknown.text:
            self.problems.append(f"{label}: differs from an unknown id's answer: {r.text} vs {unknown.text}")

    def that(self, label: str, ok: bool, detail: Any = "") -> None:
        if not ok:
            self.problems.append(f"{label}: {detail}")

    def done(self) -> None:
        assert not self.problems, f"{len(self.problems)} problem(s):\n" + "\n".join(self.problems)


def _ids(r: httpx.Response, key: str) -> set[str]:
    body = r.json() if r.status_code == 200 else {}
    return {str(item.get(key)) for item in body.get("items", [])}


# --- deny by default, and the registry ------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_customer_routes_are_the_scoped_ones(stack: Stack, infra: Infra, openapi: dict[str, dict[str, Any]],
                                             scene: Scene, service: str) -> None:
    need(stack, service)
    roles = declared_roles(service)
    opened = {(service, m, p) for (m, p), allowed in roles.items()
              if p.startswith("/v1") and allowed and "customer" in allowed}
    listed = {key for key in SCOPED if key[0] == service}
    assert opened == listed, (f"routes open to customers without a scope proof here: {sorted(opened - listed)}; "
                              f"listed but no longer open to customers: {sorted(listed - opened)}")
    # Every other route refuses a customer token, even one whose customer owns what the path names.
    own = {"waybill_no": scene.waybill, "exception_id": scene.exception_id, "photo_id": str(scene.photo_id),
           "complaint_id": scene.complaint_id, "customer_id": scene.mine}
    check = Check()
    with httpx.Client(base_url=stack.url(service), timeout=10) as client:
        for op in operations(service, openapi[service]):
            if not op.path.startswith("/v1") or (service, op.method, op.path) in SCOPED:
                continue
            path = fill_path(op, openapi[service], {k: v for k, v in own.items() if v})
            r = client.request(op.method, path, headers=scene.customer(scene.mine), **request_kwargs(op))
            if check.status(f"{op} (customer {scene.mine})", r, 403):
                check.that(f"{op}: error shape", error_shape_problem(r) is None, error_shape_problem(r))
    check.done()


# --- tracking --------------------------------------------------------------------------------


def test_tracking_a_customer_reads_its_own_shipments_only(scene: Scene) -> None:
    t, mine, theirs, wb = scene.tracking, scene.customer(scene.mine), scene.customer(scene.theirs), scene.waybill
    check = Check()
    unknown_wb = f"WK{uuid.uuid4().hex[:8].upper()}"
    unknown_exc = str(uuid.uuid4())

    # positive control: the owner reads its shipment, without the desk's internals
    r = t.get(f"/v1/shipments/{wb}", headers=mine)
    if check.status("own shipment", r, 200):
        body = r.json()
        check.that("own shipment: no vehicle", body["vehicle_id"] is None and body["last_position"] is None, body)
        kinds = [e["kind"] for e in body["timeline"]]
        check.that("own shipment: timeline has scans and the exception", {"scan", "exception"} <= set(kinds), kinds)
        check.that("own shipment: no desk notes", "note" not in kinds and scene.note not in r.text, kinds)
        check.that("own shipment: no staff names or vehicle in the timeline",
                   not any({"by", "vehicle_id"} & set(e["data"]) for e in body["timeline"]), body["timeline"])
        check.that("own shipment: the ETA is there", "eta" in body and "promised_at" in body)
    # another customer's waybill: 404 exactly like an unknown one
    check.like_unknown("GET another customer's shipment", t.get(f"/v1/shipments/{wb}", headers=theirs),
                       t.get(f"/v1/shipments/{unknown_wb}", headers=theirs), wb, unknown_wb)
    check.status("the other customer reads its own", t.get(f"/v1/shipments/{scene.their_waybill}", headers=theirs),
                 200)
    # lists: filtered, whatever the search names
    for params in ({}, {"q": wb}, {"q": scene.mine}, {"station": scene.dest}, {"q": wb[:6]}):
        listed = t.get("/v1/shipments", params=params, headers=theirs)
        check.status(f"list {params} (other customer)", listed, 200)
        check.that(f"list {params} (other customer) leaves the waybill out", wb not in _ids(listed, "waybill_no"))
        own = t.get("/v1/shipments", params=params, headers=mine)
        check.that(f"list {params} (owner): only its own", _ids(own, "waybill_no") <= {wb} and
                   scene.their_waybill not in _ids(own, "waybill_no"), own.text[:300])
    check.that("owner's list holds its waybill", wb in _ids(t.get("/v1/shipments", headers=mine), "waybill_no"))
    check.status("phone search is the desk's", t.get("/v1/shipments", params={"phone": "13900000000"},
                                                     headers=mine), 403)
    # exceptions and photos
    exc, photo = scene.exception_id, scene.photo_id
    r = t.get(f"/v1/exceptions/{exc}", headers=mine)
    if check.status("own exception", r, 200):
        check.that("own exception: staff shown by role", r.json()["reported_by"] == "admin", r.json())
    check.like_unknown("GET another customer's exception", t.get(f"/v1/exceptions/{exc}", headers=theirs),
                       t.get(f"/v1/exceptions/{unknown_exc}", headers=theirs), exc, unknown_exc)
    r = t.get(f"/v1/exceptions/{exc}/photos", headers=mine)
    if check.status("own photos", r, 200):
        check.that("own photos listed", [p["id"] for p in r.json()["items"]] == [photo], r.text)
        check.that("own photos: uploader by role", r.json()["items"][0]["uploaded_by"] == "admin", r.text)
    check.like_unknown("list another customer's photos", t.get(f"/v1/exceptions/{exc}/photos", headers=theirs),
                       t.get(f"/v1/exceptions/{unknown_exc}/photos", headers=theirs), exc, unknown_exc)
    r = t.get(f"/v1/exceptions/{exc}/photos/{photo}", headers=mine)
    check.that("own photo file", r.status_code == 200 and r.content.startswith(b"\x89PNG"), describe(r))
    check.like_unknown("another customer's photo file", t.get(f"/v1/exceptions/{exc}/photos/{photo}", headers=theirs),
                       t.get(f"/v1/exceptions/{unknown_exc}/photos/{photo}", headers=theirs), exc, unknown_exc)
    # writes stay the desk's and the stations': refused, nothing stored
    now = datetime.now(UTC).isoformat()
    for label, r in (
        ("note", t.post(f"/v1/shipments/{wb}/notes", headers=mine, json={
            "at": now, "contact": "me", "channel": "phone", "delayed": True, "reason": "other", "note": "customer"})),
        ("exception", t.post(f"/v1/shipments/{wb}/exceptions", headers=mine, json={
            "kind": "other", "pieces": 1, "station": scene.dest, "description": "customer"})),
        ("resolve", t.post(f"/v1/exceptions/{exc}/resolve", headers=mine, json={"resolution": "customer"})),
    ):
        check.status(f"POST {label} (owner)", r, 403)
    timeline = t.get(f"/v1/shipments/{wb}", headers=scene.admin).json()["timeline"]
    check.that("no customer write was stored", "customer" not in str([e["data"] for e in timeline
                                                                        if e["kind"] in ("note", "exception")]))
    check.done()


def test_tracking_a_customer_books_and_reads_storage_for_its_own_goods_only(scene: Scene) -> None:
    t, mine, theirs, wb = scene.tracking, scene.customer(scene.mine), scene.customer(scene.theirs), scene.waybill
    check = Check()
    unknown_wb = f"WK{uuid.uuid4().hex[:8].upper()}"
    start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    window = {"window_start": start.isoformat(), "window_end": (start + timedelta(hours=2)).isoformat(),
              "contact": "杨民敬", "channel": "portal", "note": None}
    day = start.astimezone(timezone(timedelta(hours=8))).date().isoformat()

    # another customer's waybill: 404 exactly like an unknown one, nothing stored
    check.like_unknown("POST an appointment on another customer's waybill",
                       t.post(f"/v1/shipments/{wb}/appointments", headers=theirs, json=window),
                       t.post(f"/v1/shipments/{unknown_wb}/appointments", headers=theirs, json=window), wb, unknown_wb)
    check.that("nothing booked by the other customer",
               t.get(f"/v1/shipments/{wb}", headers=scene.admin).json().get("appointment") is None)
    # positive control: the owner books its own, and sees who booked it by role only
    r = t.post(f"/v1/shipments/{wb}/appointments", headers=mine, json=window)
    if check.status("own appointment", r, 201):
        own = t.get(f"/v1/shipments/{wb}", headers=mine).json()
        check.that("own shipment shows the appointment, booked by role",
                   (own.get("appointment") or {}).get("booked_by") == "customer", own.get("appointment"))
    # the day's appointments: its own only
    check.that("the other customer's day leaves the waybill out",
               wb not in _ids(t.get("/v1/appointments", params={"date": day}, headers=theirs), "waybill_no"))
    check.that("the owner's day holds it",
               wb in _ids(t.get("/v1/appointments", params={"date": day}, headers=mine), "waybill_no"))
    # the storage report: its own goods only; asking for another customer's is refused
    rows = t.get("/v1/reports/storage", headers=mine)
    if check.status("own storage report", rows, 200):
        listed = {r["waybill_no"] for r in rows.json()["rows"]}
        check.that("own storage report: its waybill, nobody else's", wb in listed and scene.their_waybill
                   not in listed and {r["customer_id"] for r in rows.json()["rows"]} == {scene.mine}, listed)
    other = t.get("/v1/reports/storage", headers=theirs)
    check.that("the other customer's storage report leaves the waybill out", other.status_code == 200 and
               wb not in {r["waybill_no"] for r in other.json()["rows"]}, describe(other))
    check.status("storage report naming another customer", t.get("/v1/reports/storage",
                 params={"customer_id": scene.mine}, headers=theirs), 403)
    check.done()


# --- receipts --------------------------------------------------------------------------------


def test_receipts_a_customer_reads_its_own_receipts_only(stack: Stack, scene: Scene) -> None:
    need(stack, "receipts")
    rc = httpx.Client(base_url=stack.url("receipts"), timeout=15)
    mine, theirs, wb = scene.customer(scene.mine), scene.customer(scene.theirs), scene.waybill
    unknown_wb = f"WK{uuid.uuid4().hex[:8].upper()}"
    check = Check()
    r = rc.get(f"/v1/receipts/{wb}", headers=mine)
    if check.status("own receipt", r, 200):
        body = r.json()
        check.that("own receipt: status and deadline", body["status"] == "awaiting_delivery" and "due_at" in body)
        check.that("own receipt: no station contact, no actions", body["station_contact"] is None
                   and body["allowed_actions"] == [], body)
        check.that("own receipt: custody without notes or names",
                   all(c["note"] == "" and ":" not in c["actor"] for c in body["custody"]), body["custody"])
    check.like_unknown("GET another customer's receipt", rc.get(f"/v1/receipts/{wb}", headers=theirs),
                       rc.get(f"/v1/receipts/{unknown_wb}", headers=theirs), wb, unknown_wb)
    check.status("the other customer reads its own", rc.get(f"/v1/receipts/{scene.their_waybill}", headers=theirs),
                 200)
    for params in ({}, {"station": scene.dest}, {"region": "华东"}, {"status": "awaiting_delivery"}):
        other = rc.get("/v1/receipts", params=params, headers=theirs)
        check.status(f"list {params} (other customer)", other, 200)
        check.that(f"list {params} (other customer) leaves it out", wb not in _ids(other, "waybill_no"))
        own = rc.get("/v1/receipts", params=params, headers=mine)
        check.that(f"list {params} (owner): its own only", _ids(own, "waybill_no") == {wb}, own.text[:300])
    now = datetime.now(UTC).isoformat()
    for action, body in (("re-sign", {"at": now, "by": "customer"}), ("write-off", {"at": now, "collector": "me"}),
                         ("cancel", None)):
        check.status(f"POST {action} (owner)", rc.post(f"/v1/receipts/{wb}/{action}", headers=mine, json=body), 403)
    check.that("nothing changed", rc.get(f"/v1/receipts/{wb}", headers=scene.admin).json()["status"]
               == "awaiting_delivery")
    check.done()


# --- complaints ------------------------------------------------------------------------------


def test_complaints_a_customer_files_and_follows_its_own_only(stack: Stack, scene: Scene) -> None:
    need(stack, "complaints")
    c = httpx.Client(base_url=stack.url("complaints"), timeout=15)
    mine, theirs, wb, cid = scene.customer(scene.mine), scene.customer(scene.theirs), scene.waybill, scene.complaint_id
    unknown_id, unknown_wb = str(uuid.uuid4()), f"WK{uuid.uuid4().hex[:8].upper()}"
    check = Check()

    def tickets(waybill: str) -> int:
        return int(query_value(scene.infra, "SELECT count(*) FROM complaints.complaints WHERE waybill_no = $1",
                               waybill))

    def history(complaint: str) -> int:
        return int(query_value(scene.infra, "SELECT count(*) FROM complaints.complaint_history WHERE complaint_id = $1",
                          uuid.UUID(complaint)))

    # positive control: the owner reads its ticket, without the desk's workings
    r = c.get(f"/v1/complaints/{cid}", headers=mine)
    if check.status("own complaint", r, 200):
        body = r.json()
        for field in ("priority", "assigned_role", "opened_by", "suggested_reply", "first_response_minutes",
                      "resolution_minutes"):
            check.that(f"own complaint: {field} hidden", body[field] is None, body[field])
        check.that("own complaint: phone masked", "13512345678" not in r.text, body["phone"])
        check.that("own complaint: no staff names in the history",
                   all(":" not in h["actor"] for h in body["history"]), body["history"])
        check.that("own complaint: no vehicle", body["shipment"] is None or body["shipment"]["vehicle_id"] is None)
    check.like_unknown("GET another customer's complaint", c.get(f"/v1/complaints/{cid}", headers=theirs),
                       c.get(f"/v1/complaints/{unknown_id}", headers=theirs), cid, unknown_id)
    for params in ({}, {"customer_id": scene.mine}, {"waybill_no": wb}, {"category": "damage"}):
        other = c.get("/v1/complaints", params=params, headers=theirs)
        check.status(f"list {params} (other customer)", other, 200)
        check.that(f"list {params} (other customer) leaves it out", cid not in _ids(other, "id"), other.text[:300])
    own = c.get("/v1/complaints", headers=mine)
    check.that("owner's list: its ticket, desk fields hidden", cid in _ids(own, "id") and all(
        i["priority"] is None and "13512345678" not in str(i) for i in own.json()["items"]), own.text[:300])

    # filing: about another customer's waybill → tracking's 404 for that token, nothing stored
    filing = {"caller_name": "王先生", "phone": "13811112222", "channel": "web", "category": "delay",
              "description": "货到哪里了？"}
    before = tickets(wb)
    refused = c.post("/v1/complaints", headers=theirs, json={**filing, "waybill_no": wb})
    check.like_unknown("file about another customer's waybill", refused,
                       c.post("/v1/complaints", headers=theirs, json={**filing, "waybill_no": unknown_wb}),
                       wb, unknown_wb)
    check.that("tracking answers that token the same", refused.text ==
               scene.tracking.get(f"/v1/shipments/{wb}", headers=theirs).text)
    check.that("nothing stored for the refused filing", tickets(wb) == before and tickets(unknown_wb) == 0)
    # ... for another customer, at a priority, or by phone: refused, nothing stored
    for label, extra, status in (("for another customer id", {"customer_id": scene.mine}, 403),
                                 ("with a priority", {"priority": "urgent"}, 422),
                                 ("through the phone channel", {"channel": "phone"}, 422)):
        check.status(f"file {label}", c.post("/v1/complaints", headers=theirs,
                                             json={**filing, "waybill_no": scene.their_waybill, **extra}), status)
    check.that("nothing stored for the refused filings", tickets(scene.their_waybill) == 0)
    # the owner files about its own waybill, for itself
    r = c.post("/v1/complaints", headers=mine, json={**filing, "waybill_no": wb})
    if check.status("file about its own waybill", r, 201):
        body = r.json()
        check.that("filed for itself", body["customer_id"] == scene.mine and body["priority"] is None, body)
        check.that("followable", c.get(f"/v1/complaints/{body['id']}", headers=mine).status_code == 200)
        check.that("the other customer cannot follow it",
                   c.get(f"/v1/complaints/{body['id']}", headers=theirs).status_code == 404)

    # steps: another customer's ticket → 404 like an unknown one, nothing stored
    steps = before_steps = history(cid)
    for step, body in (("customer-reply", {"message": "冒充回复", "channel": "web"}),
                       ("survey", {"score": 1, "comment": "冒充评价"})):
        check.like_unknown(f"POST {step} on another customer's complaint",
                           c.post(f"/v1/complaints/{cid}/{step}", headers=theirs, json=body),
                           c.post(f"/v1/complaints/{unknown_id}/{step}", headers=theirs, json=body), cid, unknown_id)
    steps = history(cid)
    check.that("nothing stored for the refused steps", steps == before_steps, (before_steps, steps))
    # the owner replies on its own ticket (a desk-only step is still 403)
    r = c.post(f"/v1/complaints/{cid}/customer-reply", headers=mine, json={"message": "箱子有照片", "channel": "web"})
    check.status("own customer-reply", r, 200)
    check.status("respond is the desk's", c.post(f"/v1/complaints/{cid}/responses", headers=mine, json={
        "by": "me", "channel": "web", "message": "x"}), 403)
    check.status("the customer file is the desk's", c.get(f"/v1/customers/{scene.mine}", headers=mine), 403)
    check.done()
