"""Signing for goods with identity checks: exact names, delegated pickup, company stamp,
nothing recorded on a refusal, ID numbers only as a keyed hash + last 4."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from shared.devtools.stack import Stack
from tests.conftest import Infra
from tests.integration.tracking.test_tracking_desk_support import desk, id_hash, outbox, resident_id


def signing(name: str, id_number: str, **kw: object) -> dict[str, object]:
    body: dict[str, object] = {
        "signed_at": datetime.now(UTC).isoformat(), "signer_name": name, "signer_id_type": "id_card",
        "signer_id_number": id_number, "delegate": None, "company_stamp": False, "pieces": 10}
    body.update(kw)
    return body


async def nothing_recorded(db: asyncpg.Connection, no: str) -> None:
    assert await db.fetchval("SELECT count(*) FROM tracking.deliveries WHERE waybill_no = $1", no) == 0
    assert await db.fetchval("SELECT status FROM tracking.shipments WHERE waybill_no = $1", no) == "arrived"
    assert await db.fetchval("SELECT count(*) FROM tracking.timeline WHERE waybill_no = $1 AND kind = 'delivered'",
                             no) == 0
    assert await outbox(db, "tracking.shipment.delivered.v1", no) == []


async def test_name_mismatch_is_refused_and_nothing_recorded(stack: Stack, infra: Infra,
                                                           db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        for consignee, signer in (("杨民敬", "杨明静"), ("陈法开", "程发凯")):
            no = await d.arrived(origin, dest, consignee=consignee)
            r = await d.c.post(f"/v1/shipments/{no}/delivery", headers=d.admin,
                               json=signing(signer, resident_id()))
            assert r.status_code == 422, r.text
            error = r.json()["error"]
            assert error["code"] == "identity_mismatch"
            assert error["details"]["reason"] == "name_mismatch"
            await nothing_recorded(db, no)


async def test_bad_documents_are_identity_mismatches(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        no = await d.arrived(origin, dest)
        valid = resident_id()
        wrong_checksum = valid[:-1] + ("0" if valid[-1] != "0" else "1")
        cases = [
            (signing("杨民敬", resident_id(), signer_id_type="photocopy"), "id_type_not_accepted"),
            (signing("杨民敬", wrong_checksum), "id_number_implausible"),
            (signing("杨民敬", "  "), "id_number_missing"),
            ({k: v for k, v in signing("杨民敬", valid).items() if k != "signer_id_number"}, "id_number_missing"),
        ]
        for body, reason in cases:
            r = await d.c.post(f"/v1/shipments/{no}/delivery", headers=d.admin, json=body)
            assert r.status_code == 422, r.text
            assert r.json()["error"]["code"] == "identity_mismatch"
            assert r.json()["error"]["details"]["reason"] == reason
        r = await d.c.post(f"/v1/shipments/{no}/delivery", headers=d.admin,
                           json=signing("杨民敬", resident_id(), pieces=11))
        assert r.status_code == 422 and r.json()["error"]["code"] == "pieces_exceed_waybill"
        await nothing_recorded(db, no)


async def test_signed_delivery_stores_only_hash_and_last4(stack: Stack, infra: Infra,
                                                           db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        no = await d.arrived(origin, dest)
        number = resident_id()
        r = await d.c.post(f"/v1/shipments/{no}/delivery", headers=d.admin, json=signing(" 杨民敬 ", number))
        assert r.status_code == 201, r.text
        assert number not in r.text and number[:14] not in r.text
        body = r.json()
        assert body["signer_id_number"] == "*" * 14 + number[-4:]
        assert body["delegated"] is False and body["station"] == dest and body["pieces"] == 10

        got = await d.ok("GET", f"/v1/shipments/{no}/delivery")
        assert got["signer_id_number"] == "*" * 14 + number[-4:]

        row = await db.fetchrow("SELECT * FROM tracking.deliveries WHERE waybill_no = $1", no)
        assert row is not None
        assert row["signer_id_hash"] == id_hash(number, infra.id_hash_key)
        assert row["signer_id_last4"] == number[-4:]
        for table in ("deliveries", "timeline", "outbox"):
            dump = await db.fetchval(f"SELECT string_agg(t::text, '|') FROM tracking.{table} t")
            assert number not in (dump or ""), f"whole ID number found in {table}"

        assert await db.fetchval("SELECT status FROM tracking.shipments WHERE waybill_no = $1", no) == "delivered"
        assert await db.fetchval(
            "SELECT count(*) FROM tracking.timeline WHERE waybill_no = $1 AND kind = 'delivered'", no) == 1
        events = await outbox(db, "tracking.shipment.delivered.v1", no)
        assert len(events) == 1
        assert events[0]["signer_name"] == "杨民敬"
        assert events[0]["station"] == dest and events[0]["pieces"] == 10
        assert events[0]["delegated"] is False and events[0]["company_stamp"] is False

        again = await d.c.post(f"/v1/shipments/{no}/delivery", headers=d.admin, json=signing("杨民敬", number))
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_delivered"


async def test_delegated_pickup_needs_both_id_numbers(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        no = await d.arrived(origin, dest)
        delegate_id, consignee_id = resident_id(), resident_id("19750101")
        missing = signing("李四", delegate_id, delegate={"name": "李四", "id_number": delegate_id,
                                                       "consignee_id_number": None})
        r = await d.c.post(f"/v1/shipments/{no}/delivery", headers=d.admin, json=missing)
        assert r.status_code == 422
        assert r.json()["error"]["details"]["reason"] == "delegate_id_numbers_missing"
        await nothing_recorded(db, no)

        other = signing("王五", delegate_id, delegate={"name": "李四", "id_number": delegate_id,
                                                     "consignee_id_number": consignee_id})
        r = await d.c.post(f"/v1/shipments/{no}/delivery", headers=d.admin, json=other)
        assert r.status_code == 422
        assert r.json()["error"]["details"]["reason"] == "delegate_name_mismatch"
        await nothing_recorded(db, no)

        both = signing("李四", delegate_id, delegate={"name": "李四", "id_number": delegate_id,
                                                    "consignee_id_number": consignee_id})
        r = await d.c.post(f"/v1/shipments/{no}/delivery", headers=d.admin, json=both)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["delegated"] is True
        assert body["delegate"]["id_number"] == "*" * 14 + delegate_id[-4:]
        assert body["delegate"]["consignee_id_number"] == "*" * 14 + consignee_id[-4:]
        assert delegate_id not in r.text and consignee_id not in r.text
        row = await db.fetchrow("SELECT * FROM tracking.deliveries WHERE waybill_no = $1", no)
        assert row["consignee_id_hash"] == id_hash(consignee_id, infra.id_hash_key)
        assert row["delegate_id_hash"] == id_hash(delegate_id, infra.id_hash_key)
        events = await outbox(db, "tracking.shipment.delivered.v1", no)
        assert events[0]["delegated"] is True


async def test_company_consignee_needs_stamp(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        no = await d.arrived(origin, dest, company="无锡精工机械有限公司")
        number = resident_id()
        r = await d.c.post(f"/v1/shipments/{no}/delivery", headers=d.admin, json=signing("杨民敬", number))
        assert r.status_code == 422
        assert r.json()["error"]["details"]["reason"] == "company_stamp_missing"
        await nothing_recorded(db, no)
        r = await d.c.post(f"/v1/shipments/{no}/delivery", headers=d.admin,
                           json=signing("杨民敬", number, company_stamp=True))
        assert r.status_code == 201, r.text
        assert (await outbox(db, "tracking.shipment.delivered.v1", no))[0]["company_stamp"] is True


async def test_delivery_state_scope_and_input(stack: Stack, infra: Infra) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        no = await d.shipment(origin, dest)
        r = await d.c.post(f"/v1/shipments/{no}/delivery", headers=d.admin, json=signing("杨民敬", resident_id()))
        assert r.status_code == 409 and r.json()["error"]["code"] == "not_arrived"

        arrived = await d.arrived(origin, dest)
        other = await d.station("NJ")
        r = await d.c.post(f"/v1/shipments/{arrived}/delivery", headers=d.branch(other),
                           json=signing("杨民敬", resident_id()))
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = await d.c.get(f"/v1/shipments/{arrived}/delivery", headers=d.admin)
        assert r.status_code == 404

        naive = signing("杨民敬", resident_id(), signed_at="2026-01-01T10:00:00")
        r = await d.c.post(f"/v1/shipments/{arrived}/delivery", headers=d.admin, json=naive)
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
        future = signing("杨民敬", resident_id(), signed_at=(datetime.now(UTC) + timedelta(hours=2)).isoformat())
        r = await d.c.post(f"/v1/shipments/{arrived}/delivery", headers=d.admin, json=future)
        assert r.status_code == 422 and r.json()["error"]["code"] == "time_in_future"
        r = await d.c.post(f"/v1/shipments/{arrived}/delivery", headers=d.branch(dest),
                           json=signing("杨民敬", resident_id()))
        assert r.status_code == 201, r.text
        r = await d.c.post("/v1/shipments/NOPE0000/delivery", headers=d.admin, json=signing("杨民敬", resident_id()))
        assert r.status_code == 404
