"""The desk's search: GET /v1/shipments?q= (waybill prefix, customer id or name) and ?phone= (a
whole phone or its last 4 digits, of either party; desk roles only), matched on stored keys."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from services.tracking.main import build_context
from services.tracking.settings import TrackingSettings
from services.tracking.shipments.service import backfill_phone_keys
from shared.context import Runtime
from shared.db import create_pool
from shared.devtools.stack import Stack
from shared.pii import keyed_hash
from tests.conftest import Infra, unique
from tests.integration.tracking.test_tracking_desk_support import Desk, desk


def mobile() -> str:
    return "13" + "".join(random.choices("0123456789", k=9))  # noqa: S311


async def register(d: Desk, origin: str, dest: str, waybill: str, *, customer: str, name: str, shipper_phone: str,
                   consignee_phone: str) -> None:
    await d.ok("POST", "/v1/shipments", 201, json={
        "waybill_no": waybill, "origin": origin, "destination": dest, "via": [],
        "shipper": {"customer_id": customer, "name": name, "phone": shipper_phone, "email": None},
        "consignee": {"name": "杨民敬", "phone": consignee_phone, "email": None, "company": None},
        "cargo": {"description": "轴承", "pieces": 1, "weight_kg": 10.0},
        "promised_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(), "payment": "prepaid"})


async def found(d: Desk, headers: dict[str, str] | None = None, **params: str) -> list[dict[str, Any]]:
    page = await d.ok("GET", "/v1/shipments", params={**params, "limit": "100"}, headers=headers or d.admin)
    return page["items"]


async def test_search_by_waybill_prefix_customer_and_phone(stack: Stack, infra: Infra,
                                                           db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        u = unique()
        a, b, c = f"SR{u}A", f"SR{u}B", f"SX{u}C"
        phones = {n: (mobile(), mobile()) for n in (a, b, c)}
        customer, name = f"CU{u}", f"搜索测试{u}精工"
        await register(d, origin, dest, a, customer=customer, name=name, shipper_phone=phones[a][0],
                       consignee_phone=phones[a][1])
        await register(d, origin, dest, b, customer=customer, name=name, shipper_phone=phones[b][0],
                       consignee_phone=phones[b][1])
        await register(d, origin, dest, c, customer=f"CV{u}", name="别的客户", shipper_phone=phones[c][0],
                       consignee_phone=phones[c][1])

        assert [s["waybill_no"] for s in await found(d, q=f"SR{u}")] == [a, b]
        assert [s["waybill_no"] for s in await found(d, q=customer)] == [a, b]
        assert [s["waybill_no"] for s in await found(d, q=f"搜索测试{u}")] == [a, b]
        assert [s["waybill_no"] for s in await found(d, q=c)] == [c]
        first = (await found(d, q=a))[0]
        assert first["shipper_name"] == name and first["consignee_name"] == "杨**"
        assert {"waybill_no", "status", "origin", "destination", "promised_at", "delayed"} <= first.keys()

        # A phone: the whole number (with or without the country code) of either party; or its last 4 digits.
        assert [s["waybill_no"] for s in await found(d, phone=f"+86 {phones[a][1]}")] == [a]
        assert [s["waybill_no"] for s in await found(d, phone=phones[b][0])] == [b]
        assert b in [s["waybill_no"] for s in await found(d, phone=phones[b][0][-4:])]
        assert [s["waybill_no"] for s in await found(d, phone=phones[b][1][-4:], q=f"SR{u}")] == [b]

        # ... matched on stored keys: the keyed hash and the last 4 digits of each party's phone.
        row = await db.fetchrow("SELECT phone_hashes, phone_last4 FROM tracking.shipments WHERE waybill_no = $1", a)
        assert row["phone_hashes"] == [keyed_hash(p, infra.id_hash_key) for p in phones[a]]
        assert row["phone_last4"] == [p[-4:] for p in phones[a]]

        # Desk roles only for phones; a branch searches by text within its stations.
        r = await d.c.get("/v1/shipments", headers=d.branch(origin), params={"phone": phones[a][0]})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert [s["waybill_no"] for s in await found(d, d.branch(origin), q=f"SR{u}")] == [a, b]
        assert await found(d, d.branch(await d.station("NJ")), q=f"SR{u}") == []
        r = await d.c.get("/v1/shipments", headers=infra.headers("carrier", carrier="C1"), params={"q": a})
        assert r.status_code == 403
        for params, code in (({"phone": "12ab"}, "invalid_phone"), ({"phone": "123456"}, "invalid_phone"),
                             ({"q": "   "}, "invalid_query")):
            r = await d.c.get("/v1/shipments", headers=d.admin, params=params)
            assert r.status_code == 422 and r.json()["error"]["code"] == code, (params, r.text)


async def test_last4_pages_read_both_parties_slots_in_waybill_order(stack: Stack, infra: Infra,
                                                                    db: asyncpg.Connection) -> None:
    """The last-4 search alone reads each party's slot in waybill order (`_LAST4_PAGE`); paged
    by its cursor it lists exactly the shipments whose shipper or consignee phone ends so, the
    same as the search beside another condition (the GIN path) and as the stored keys say."""
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        u = unique()
        last4 = f"9{int(u[-6:], 16) % 1000:03d}"  # 9xxx: no fixed test phone ends so
        # the digits in the shipper's slot, the consignee's, both (kept once), and a shipment without them
        parties = [("13900001111", f"1370000{last4}"), (f"1380000{last4}", "13700002222"),
                   (f"1380000{last4}", f"1360000{last4}"), (f"1350000{last4}", "13400003333"),
                   ("13300004444", f"1320000{last4}"), ("13100005555", "13000006666")]
        for n, (shipper_phone, consignee_phone) in enumerate(parties):
            await register(d, origin, dest, f"SL{u}{n}", customer=f"CL{u}", name="尾号测试",
                           shipper_phone=shipper_phone, consignee_phone=consignee_phone)
        truth = [r["waybill_no"] for r in await db.fetch(
            "SELECT waybill_no FROM tracking.shipments WHERE $1 = ANY(phone_last4) ORDER BY waybill_no", last4)]
        assert {f"SL{u}{n}" for n in range(5)} <= set(truth) and f"SL{u}5" not in truth
        paged: list[str] = []
        cursor: str | None = None
        while True:
            params = {"phone": last4, "limit": "2", **({"cursor": cursor} if cursor else {})}
            page = await d.ok("GET", "/v1/shipments", params=params)
            assert len(page["items"]) <= 2
            paged += [s["waybill_no"] for s in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert paged == truth
        assert [s["waybill_no"] for s in await found(d, phone=last4, status="registered")] == [
            w for w in truth if (await d.ok("GET", f"/v1/shipments/{w}"))["status"] == "registered"]
        # the index serves the slot's range in order (seq scans off: a test table is small)
        await db.execute("SET enable_seqscan = off")
        plan = await db.fetchval(
            "EXPLAIN (FORMAT JSON) SELECT waybill_no FROM tracking.shipments WHERE phone_last4[2] = $1 "
            "AND waybill_no > '' ORDER BY waybill_no LIMIT 3", last4)
        await db.execute("RESET enable_seqscan")
        assert "shipments_phone_last4_second_idx" in str(plan)


async def test_shipments_registered_before_the_keys_are_keyed_at_start(stack: Stack, infra: Infra,
                                                                       db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        waybill, shipper, consignee = f"OLD{unique()}", mobile(), mobile()
        await register(d, origin, dest, waybill, customer="C1", name="老客户", shipper_phone=shipper,
                       consignee_phone=consignee)
        # as a row written before migration 0009 is
        await db.execute("UPDATE tracking.shipments SET phone_hashes = NULL, phone_last4 = NULL "
                         "WHERE waybill_no = $1", waybill)
        assert await found(d, phone=consignee) == []

        pool = await create_pool(infra.database_url, "tracking", min_size=1, max_size=2)
        try:
            rt = Runtime(service="tracking", settings=TrackingSettings(env="dev", id_hash_key=infra.id_hash_key),
                         pool=pool)
            rt.context = await build_context(rt)
            assert await backfill_phone_keys(rt, batch=2) >= 1
        finally:
            await pool.close()
        assert [s["waybill_no"] for s in await found(d, phone=consignee)] == [waybill]
        assert await db.fetchval("SELECT count(*) FROM tracking.shipments WHERE phone_hashes IS NULL") == 0
