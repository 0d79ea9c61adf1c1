"""The temporary-storage report (货物暂存报表) against the real service: split shipments count
the pieces that arrived, delivered goods leave it, days in storage turn at Beijing midnight,
branches and customers read their own part; JSON and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
import pytest
from openpyxl import load_workbook

from shared.clock import BUSINESS_TZ, business_day
from shared.devtools.stack import Stack
from shared.tabular import XLSX_TYPE
from tests.conftest import Infra, unique
from tests.integration.tracking.test_tracking_desk_delivery import signing
from tests.integration.tracking.test_tracking_desk_support import Desk, desk, resident_id
from tests.support.clock import days_awaiting, days_since


async def register(d: Desk, origin: str, destination: str, *, customer: str, pieces: int = 10) -> str:
    no = unique("WB")
    await d.ok("POST", "/v1/shipments", 201, json={
        "waybill_no": no, "origin": origin, "destination": destination, "via": [],
        "shipper": {"customer_id": customer, "name": "联想", "phone": "13800000000", "email": None},
        "consignee": {"name": "杨民敬", "phone": "13900000000", "email": None, "company": None},
        "cargo": {"description": "笔记本电脑", "pieces": pieces, "weight_kg": 120.5, "volume_m3": 1.2},
        "promised_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(), "payment": "monthly"})
    return no


def last_evening() -> datetime:
    """Yesterday 23:30 in Beijing: in the past, half an hour before a Beijing midnight."""
    yesterday = datetime.now(BUSINESS_TZ).date() - timedelta(days=1)
    return datetime.combine(yesterday, time(23, 30), tzinfo=BUSINESS_TZ)


async def report(d: Desk, headers: dict[str, str] | None = None, expect: int = 200, **params: Any) -> Any:
    return await d.ok("GET", "/v1/reports/storage", expect, params=params, headers=headers or d.admin)


def rows_by_waybill(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["waybill_no"]: r for r in body["rows"]}


async def test_split_shipment_counts_only_the_arrived_pieces_and_delivered_goods_leave(
        stack: Stack, infra: Infra) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        customer = unique("C")
        arrived_at = last_evening()
        split = await register(d, origin, dest, customer=customer)
        await d.scan(split, "departed", origin, arrived_at - timedelta(hours=5))
        await d.scan(split, "arrived", dest, arrived_at, pieces=4)
        whole = await register(d, origin, dest, customer=customer)
        await d.scan(whole, "departed", origin, arrived_at - timedelta(hours=5))
        await d.scan(whole, "arrived", dest, arrived_at)
        delivered = await register(d, origin, dest, customer=customer)
        await d.scan(delivered, "departed", origin, arrived_at - timedelta(hours=5))
        await d.scan(delivered, "arrived", dest, arrived_at)
        await d.ok("POST", f"/v1/shipments/{delivered}/delivery", 201, json=signing("杨民敬", resident_id()))
        on_road = await register(d, origin, dest, customer=customer)
        await d.scan(on_road, "departed", origin, arrived_at - timedelta(hours=5))

        body = await report(d, station=dest)
        rows = rows_by_waybill(body)
        assert set(rows) == {split, whole}
        s = rows[split]
        assert (s["pieces"], s["pieces_total"], s["status"]) == (4, 10, "in_transit")
        assert s["weight_kg"] == pytest.approx(48.2) and s["volume_m3"] == pytest.approx(0.48)
        assert s["customer_id"] == customer and s["station"] == dest
        assert datetime.fromisoformat(s["arrived_at"]) == arrived_at
        assert s["appointment"] is None and s["appointment_missed"] is False
        assert (rows[whole]["pieces"], rows[whole]["weight_kg"]) == (10, pytest.approx(120.5))
        assert body["total_shipments"] == 2 and body["total_pieces"] == 14

        # The second batch arrives: the whole waybill is in storage, still since the first batch.
        await d.scan(split, "arrived", dest, arrived_at + timedelta(minutes=10))
        s = rows_by_waybill(await report(d, station=dest))[split]
        assert (s["pieces"], s["status"]) == (10, "arrived")
        assert datetime.fromisoformat(s["arrived_at"]) == arrived_at


async def test_days_in_storage_turn_at_beijing_midnight(stack: Stack, infra: Infra) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        arrived_at = last_evening()  # 15:30 UTC: the UTC date does not change at Beijing midnight
        no = await register(d, origin, dest, customer=unique("C"))
        await d.scan(no, "departed", origin, arrived_at - timedelta(hours=5))
        await d.scan(no, "arrived", dest, arrived_at)

        def days(body: dict[str, Any]) -> int:
            return int(rows_by_waybill(body)[no]["days_in_storage"])

        before_midnight = arrived_at + timedelta(minutes=20)
        after_midnight = arrived_at + timedelta(minutes=40)
        assert before_midnight.astimezone(UTC).date() == after_midnight.astimezone(UTC).date()
        assert days(await report(d, station=dest, as_of=before_midnight.isoformat())) == 0
        assert days(await report(d, station=dest, as_of=after_midnight.isoformat())) == 1
        assert days(await report(d, station=dest, as_of=(arrived_at + timedelta(days=3)).isoformat())) == 3
        # Before the goods arrived they were not in storage.
        early = await report(d, station=dest, as_of=(arrived_at - timedelta(minutes=1)).isoformat())
        assert no not in rows_by_waybill(early)
        # A time without an offset is refused.
        naive = await d.c.get("/v1/reports/storage", headers=d.admin,
                              params={"as_of": arrived_at.replace(tzinfo=None).isoformat()})
        assert naive.status_code == 422, naive.text


async def test_branch_reads_its_station_and_customer_its_goods(stack: Stack, infra: Infra) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        other_dest = await d.station("WX")
        mine, theirs = unique("C"), unique("C")
        at = last_evening()
        goods: dict[str, str] = {}
        for customer, destination in ((mine, dest), (theirs, dest), (mine, other_dest)):
            no = await register(d, origin, destination, customer=customer)
            await d.scan(no, "departed", origin, at - timedelta(hours=5))
            await d.scan(no, "arrived", destination, at)
            goods[f"{customer}@{destination}"] = no

        branch = d.branch(dest)
        own = await report(d, branch)
        assert {r["station"] for r in own["rows"]} == {dest} and own["station"] == dest
        assert {goods[f"{mine}@{dest}"], goods[f"{theirs}@{dest}"]} <= set(rows_by_waybill(own))
        await report(d, branch, 403, station=other_dest)

        customer = infra.headers("customer", customer=mine)
        body = await report(d, customer)
        assert set(rows_by_waybill(body)) == {goods[f"{mine}@{dest}"], goods[f"{mine}@{other_dest}"]}
        assert body["customer_id"] == mine
        assert set(rows_by_waybill(await report(d, customer, customer_id=mine, station=dest))) == {
            goods[f"{mine}@{dest}"]}
        await report(d, customer, 403, customer_id=theirs)
        await report(d, infra.headers("carrier", carrier="CARRIER1"), 403)

        desk_view = rows_by_waybill(await report(d, customer_id=theirs))
        assert set(desk_view) == {goods[f"{theirs}@{dest}"]}


async def test_storage_report_as_csv(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        no = await register(d, origin, dest, customer=unique("C"))
        at = last_evening()
        await d.scan(no, "departed", origin, at - timedelta(hours=5))
        await d.scan(no, "arrived", dest, at, pieces=3)
        r = await d.c.get("/v1/reports/storage", headers={**d.admin, "Accept": "text/csv"}, params={"station": dest})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert r.content.startswith("\ufeff".encode())
        lines = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert [(x["waybill_no"], x["pieces"], x["pieces_total"]) for x in lines] == [(no, "3", "10")]
        assert datetime.fromisoformat(lines[0]["arrived_at"]) == at

        x, days = await days_awaiting(d.c.get("/v1/reports/storage", params={"station": dest},
                                              headers={**d.admin, "Accept": XLSX_TYPE}))
        assert x.status_code == 200 and x.headers["content-type"].startswith(XLSX_TYPE)
        ws = load_workbook(io.BytesIO(x.content)).active
        header = [c.value for c in ws[1]]
        (row,) = [dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)]
        assert (row["waybill_no"], row["pieces"]) == (no, 3)
        # 1 since last evening; 2 if Beijing's midnight passed since `at` was chosen
        assert row["days_in_storage"] in days_since(business_day(at), days), row
        assert row["weight_kg"] == pytest.approx(36.15) and row["appointment_missed"] is False
