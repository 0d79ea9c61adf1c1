"""A partner branch filing a complaint (`POST /v1/complaints` with a `branch` token) learns
no more than it may read, and writes nothing where it cannot read (docs/SECURITY.md, T3b):

- it may name only a waybill it can see — its station on the shipment's route. Any other
  waybill, existing or not, gets the very 404 `not_found` tracking's `GET /v1/shipments/{no}`
  gives that token, and nothing is stored: no ticket, no shipment snapshot, no reply
  describing the shipment;
- its filing does not read the customer file of the `customer_id` it names: priority and
  reply language are what they would be for a customer without a file, so the answer does not
  tell whether the customer is a key customer (or what language the file prefers);
- its filing does not write the customer file: no file is created for an unknown customer,
  and the caller's phone and e-mail do not land in an existing one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.devtools.stack import Stack
from tests.conftest import Infra
from tests.security.support import need, query_value, wait_for


class Scene:
    """Four stations, a key customer on file (language English), and a waybill of theirs
    from `origin` via `via` to `dest`, known to the complaints read model; `other` is off the route."""

    def __init__(self, stack: Stack, infra: Infra) -> None:
        sfx = uuid.uuid4().hex[:6].upper()
        self.infra = infra
        self.origin, self.via, self.dest, self.other = (f"Q{c}{sfx}" for c in "ABCX")
        self.waybill = f"WQ{sfx}0001"
        self.key_customer = f"K{sfx}"
        self.tracking = httpx.Client(base_url=stack.url("tracking"), timeout=15)
        self.complaints = httpx.Client(base_url=stack.url("complaints"), timeout=15)
        admin = infra.headers("admin")
        for code in (self.origin, self.via, self.dest, self.other):
            r = self.tracking.put(f"/v1/stations/{code}", headers=admin, json={
                "name": f"{code}站", "city": "上海", "region": "华东", "lat": 31.2, "lon": 121.4,
                "contact_phone": "13700000000", "contact_email": f"{code.lower()}@example.com"})
            assert r.status_code in (200, 201), r.text
        r = self.complaints.put(f"/v1/customers/{self.key_customer}", headers=infra.headers("staff"), json={
            "name": "重点客户", "key_customer": True, "language": "en", "phone": "13600000000"})
        assert r.status_code == 200, r.text
        r = self.tracking.post("/v1/shipments", headers=self.branch(self.origin), json={
            "waybill_no": self.waybill, "origin": self.origin, "destination": self.dest, "via": [self.via],
            "shipper": {"customer_id": self.key_customer, "name": "重点客户", "phone": "13600000000",
                        "email": None},
            "consignee": {"name": "杨民敬", "phone": "13900000000", "email": None, "company": None},
            "cargo": {"description": "轴承", "pieces": 10, "weight_kg": 120.5, "volume_m3": 1.2,
                      "dangerous": False, "fragile": False, "keep_upright": False, "moisture_sensitive": False},
            "promised_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(), "payment": "prepaid",
            "receipt": {"required": False, "signature": False, "stamp": False, "id_number": False, "copies": 1}})
        assert r.status_code == 201, r.text
        known = wait_for(lambda: query_value(infra, "SELECT origin FROM complaints.shipments WHERE waybill_no = $1",
                                        self.waybill), lambda origin: origin == self.origin)
        assert known == self.origin, "complaints never learned the registration"

    def branch(self, station: str) -> dict[str, str]:
        return self.infra.headers("branch", branch=station)

    def file(self, station: str, **body: Any) -> httpx.Response:
        payload = {"caller_name": "网点客服", "phone": "13512345678", "channel": "partner", "category": "delay",
                   "description": "收货人催货", **body}
        return self.complaints.post("/v1/complaints", headers=self.branch(station), json=payload)

    def tickets_about(self, waybill: str) -> int:
        return int(query_value(self.infra, "SELECT count(*) FROM complaints.complaints WHERE waybill_no = $1", waybill))


@pytest.fixture(scope="module")
def scene(stack: Stack, infra: Infra) -> Scene:
    need(stack, "tracking", "complaints")
    return Scene(stack, infra)


def test_a_branch_off_the_route_gets_trackings_404_and_nothing_is_stored(scene: Scene) -> None:
    foreign = scene.branch(scene.other)
    read = scene.tracking.get(f"/v1/shipments/{scene.waybill}", headers=foreign)
    assert read.status_code == 404, read.text

    filed = scene.file(scene.other, waybill_no=scene.waybill)
    assert filed.status_code == 404, filed.text
    assert filed.json() == read.json()  # the same answer, word for word: code not_found
    assert filed.json()["error"]["code"] == "not_found"
    assert "shipment" not in filed.json() and "suggested_reply" not in filed.json()
    assert scene.tickets_about(scene.waybill) == 0

    # A waybill that does not exist answers alike: the 404 does not tell existence either.
    missing = f"WQ{uuid.uuid4().hex[:8].upper()}"
    absent = scene.file(scene.other, waybill_no=missing)
    assert absent.status_code == 404 and absent.json()["error"]["code"] == "not_found", absent.text
    assert absent.json() == scene.tracking.get(f"/v1/shipments/{missing}", headers=foreign).json()


def test_a_branch_on_the_route_files_with_the_shipments_snapshot(scene: Scene) -> None:
    for station in (scene.origin, scene.via, scene.dest):
        assert scene.tracking.get(f"/v1/shipments/{scene.waybill}", headers=scene.branch(station)).status_code == 200
        r = scene.file(station, waybill_no=scene.waybill)
        assert r.status_code == 201, (station, r.text)
        ticket = r.json()
        assert ticket["shipment"]["waybill_no"] == scene.waybill and ticket["shipment"]["origin"] == scene.origin
        assert scene.waybill in ticket["suggested_reply"]
        assert scene.complaints.get(f"/v1/complaints/{ticket['id']}",
                                    headers=scene.branch(station)).status_code == 200


def test_a_branch_filing_does_not_reveal_a_key_customer(scene: Scene) -> None:
    # The desk's own filing shows the customer is key (high priority) and prefers English.
    desk = scene.complaints.post("/v1/complaints", headers=scene.infra.headers("staff"), json={
        "customer_id": scene.key_customer, "caller_name": "王先生", "phone": "13512345678",
        "channel": "phone", "category": "delay", "description": "货怎么还没到？", "waybill_no": scene.waybill})
    assert desk.status_code == 201, desk.text
    assert desk.json()["priority"] == "high" and desk.json()["language"] == "en"

    # A branch naming that customer gets what it would get for a customer without a file.
    key = scene.file(scene.origin, waybill_no=scene.waybill, customer_id=scene.key_customer)
    nobody = scene.file(scene.origin, waybill_no=scene.waybill, customer_id=f"N{uuid.uuid4().hex[:8].upper()}")
    assert key.status_code == 201 and nobody.status_code == 201, (key.text, nobody.text)
    for field in ("priority", "language", "first_response_minutes", "resolution_minutes"):
        assert key.json()[field] == nobody.json()[field], field
    assert key.json()["priority"] is None and key.json()["language"] == "zh-CN"  # a branch never reads priority
    assert key.json()["suggested_reply"] == nobody.json()["suggested_reply"]
    # ... and what is stored for the desk is what a customer without a file gets
    assert _stored_priority(scene, key.json()["id"]) == _stored_priority(scene, nobody.json()["id"]) == "normal"
    # a priority the branch names itself is its own input, and kept
    urgent = scene.file(scene.origin, waybill_no=scene.waybill, customer_id=scene.key_customer, priority="urgent")
    assert urgent.status_code == 201, urgent.text
    assert _stored_priority(scene, urgent.json()["id"]) == "urgent"


def _stored_priority(scene: Scene, complaint_id: str) -> str:
    return str(query_value(scene.infra, "SELECT priority FROM complaints.complaints WHERE id = $1",
                      uuid.UUID(complaint_id)))


def test_a_branch_reading_the_desks_ticket_does_not_learn_the_desks_judgement(scene: Scene) -> None:
    """The read path (T20): a branch on the route reads a ticket the desk opened for a key
    customer, in the list and alone, without its priority, proactive flag or SLA targets (which
    tell a key customer) and with the caller's phone masked; the desk reads it whole. (The desk's
    filing may fill gaps in the customer file; this caller's phone does not change the file's.)"""
    staff = scene.infra.headers("staff")
    desk = scene.complaints.post("/v1/complaints", headers=staff, json={
        "customer_id": scene.key_customer, "caller_name": "王先生", "phone": "13511112222", "channel": "phone",
        "category": "delay", "description": "货怎么还没到？", "waybill_no": scene.waybill})
    assert desk.status_code == 201, desk.text
    ticket_id = desk.json()["id"]
    whole = scene.complaints.get(f"/v1/complaints/{ticket_id}", headers=staff).json()
    assert whole["priority"] == "high" and whole["phone"] == "13511112222"
    assert whole["first_response_minutes"] is not None

    hidden = ("priority", "proactive", "first_response_minutes", "resolution_minutes",
              "first_response_due", "resolution_due")
    branch = scene.branch(scene.dest)
    one = scene.complaints.get(f"/v1/complaints/{ticket_id}", headers=branch)
    assert one.status_code == 200, one.text
    seen = one.json()
    assert all(seen[name] is None for name in hidden), {name: seen[name] for name in hidden}
    assert seen["phone"] != "13511112222" and seen["phone"].endswith("2222")
    assert "13511112222" not in one.text
    for entry in seen["history"]:
        assert not set(entry["details"] or {}) & set(hidden), entry
    listed = scene.complaints.get("/v1/complaints", headers=branch, params={"waybill_no": scene.waybill})
    assert listed.status_code == 200, listed.text
    row = next(item for item in listed.json()["items"] if item["id"] == ticket_id)
    assert row["priority"] is None and row["proactive"] is None and row["first_response_due"] is None
    assert "13511112222" not in listed.text


def test_a_branch_filing_writes_nothing_into_customer_files(scene: Scene) -> None:
    staff = scene.infra.headers("staff")
    before = scene.complaints.get(f"/v1/customers/{scene.key_customer}", headers=staff).json()
    unknown = f"N{uuid.uuid4().hex[:8].upper()}"
    for customer in (scene.key_customer, unknown):
        r = scene.file(scene.origin, waybill_no=scene.waybill, customer_id=customer, phone="13598765432",
                       email="partner.caller@example.com")
        assert r.status_code == 201, r.text
        assert r.json()["customer_id"] == customer  # the ticket keeps what the branch said, for the desk
    after = scene.complaints.get(f"/v1/customers/{scene.key_customer}", headers=staff).json()
    for field in ("name", "phone", "email", "language", "key_flag", "contacts", "first_seen_at"):
        assert after[field] == before[field], field
    assert after["phone"] == "13600000000" and after["email"] is None
    assert scene.complaints.get(f"/v1/customers/{unknown}", headers=staff).status_code == 404
    assert query_value(scene.infra, "SELECT count(*) FROM complaints.customers WHERE customer_id = $1", unknown) == 0
    # A branch cannot read customer files at all (so nothing it wrote could reach it either).
    assert scene.complaints.get(f"/v1/customers/{scene.key_customer}",
                                headers=scene.branch(scene.origin)).status_code == 403
