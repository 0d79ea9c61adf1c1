"""Bulk CSV import: UTF-8, UTF-8 with BOM and GB18030 with Chinese headers; raw body or
multipart; all rows or none with {row, column, problem}; re-importing registers nothing twice."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from shared.clock import BUSINESS_TZ
from shared.devtools.stack import Stack
from tests.conftest import Infra, unique
from tests.integration.tracking.test_tracking_desk_support import desk, outbox

EN_HEADER = ("waybill_no,origin,destination,via,shipper_customer_id,shipper_name,shipper_phone,consignee_name,"
             "consignee_phone,consignee_company,cargo_description,pieces,weight_kg,volume_m3,fragile,keep_upright,"
             "promised_at,payment,receipt_required")
ZH_HEADER = ("运单号,始发站,目的站,中转站,客户编号,发货人,发货人电话,收货人,收货人电话,收货单位,"
             "品名,件数,重量(kg),体积,易碎,不能倒放,要求到达时间,付款方式,需要回单")


def promised(days: int = 3) -> str:
    return (datetime.now(BUSINESS_TZ) + timedelta(days=days)).strftime("%Y/%m/%d %H:%M")


def row(no: str, origin: str, dest: str, *, via: str = "", pieces: str = "10", payment: str = "月结",
        when: str | None = None, phone: str = "13800000000", consignee: str = "杨民敬") -> str:
    return ",".join([no, origin, dest, via, "C100", "无锡精工", phone, consignee, "13900000000", "", "轴承", pieces,
                     "120.5", "1.2", "是", "否", when or promised(), payment, "是"])


async def registered(db: asyncpg.Connection, nos: list[str]) -> int:
    n: int = await db.fetchval("SELECT count(*) FROM tracking.shipments WHERE waybill_no = ANY($1::text[])", nos)
    return n


async def test_import_encodings_and_headers(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        via = await d.station("NJ")
        for header, encoding, content_type in [
            (EN_HEADER, "utf-8", "text/csv"),
            (ZH_HEADER, "utf-8-sig", "text/csv; charset=utf-8"),
            (ZH_HEADER, "gb18030", "text/csv"),  # detected
            (ZH_HEADER, "gb18030", 'text/csv; charset="GBK"'),
        ]:
            nos = [unique("IM"), unique("IM")]
            text = "\r\n".join([header, row(nos[0], origin, dest, via=via), "", row(nos[1], origin, dest)]) + "\r\n"
            r = await d.c.post("/v1/shipments/import", headers={**d.admin, "Content-Type": content_type},
                               content=text.encode(encoding))
            assert r.status_code == 201, (encoding, r.text)
            assert r.json()["registered"] == 2 and r.json()["waybills"] == nos
            got = await d.ok("GET", f"/v1/shipments/{nos[0]}")
            assert got["via"] == [via] and got["origin"] == origin
            detail = await db.fetchrow("SELECT consignee, cargo, payment FROM tracking.shipments WHERE waybill_no = $1",
                                       nos[0])
            assert "杨民敬" in str(detail["consignee"]) and "轴承" in str(detail["cargo"])
            assert detail["payment"] == "monthly"
            assert len(await outbox(db, "tracking.shipment.registered.v1", nos[1])) == 1

        # The multipart form, field `file`, GB18030 with its charset on the part.
        nos = [unique("MP")]
        data = "\n".join([ZH_HEADER, row(nos[0], origin, dest)]).encode("gb18030")
        r = await d.c.post("/v1/shipments/import", headers=d.admin,
                           files={"file": ("订单.csv", data, "text/csv; charset=gb18030")})
        assert r.status_code == 201, r.text
        assert await registered(db, nos) == 1


async def test_bad_file_registers_nothing(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        nos = [unique("BAD") for _ in range(4)]
        text = "\n".join([
            ZH_HEADER,
            row(nos[0], origin, dest),                      # fine
            row(nos[1], origin, dest, pieces="0"),          # row 2: pieces
            row(nos[2], origin, "NOWHERE1"),                # row 3: unknown station (checked against the registry)
            row(nos[3], origin, dest, payment="赊账", when="明天"),  # row 4: payment and time
        ])
        r = await d.c.post("/v1/shipments/import", headers={**d.admin, "Content-Type": "text/csv"},
                           content=text.encode("utf-8"))
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["code"] == "invalid_import"
        problems = {(p["row"], p["column"]) for p in error["details"]}
        assert (2, "pieces") in problems
        assert (4, "payment") in problems and (4, "promised_at") in problems
        assert all(set(p) == {"row", "column", "problem"} for p in error["details"])
        assert await registered(db, nos) == 0

        # Station codes are checked once the file itself is clean.
        text = "\n".join([ZH_HEADER, row(nos[0], origin, dest), row(nos[2], origin, "NOWHERE1")])
        r = await d.c.post("/v1/shipments/import", headers={**d.admin, "Content-Type": "text/csv"},
                           content=text.encode())
        assert r.status_code == 422
        assert r.json()["error"]["details"] == [
            {"row": 2, "column": "destination", "problem": "unknown station NOWHERE1"}]
        # A promised time in the past is refused by the registration rules, per row.
        past = (datetime.now(BUSINESS_TZ) - timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
        text = "\n".join([ZH_HEADER, row(nos[0], origin, dest), row(nos[1], origin, dest, when=past)])
        r = await d.c.post("/v1/shipments/import", headers={**d.admin, "Content-Type": "text/csv"},
                           content=text.encode())
        assert r.status_code == 422, r.text
        assert [(p["row"], p["column"]) for p in r.json()["error"]["details"]] == [(2, "promised_at")]
        assert await registered(db, nos) == 0
        assert await outbox(db, "tracking.shipment.registered.v1", nos[0]) == []

        for body, ctype, status in [(b"", "text/csv", 422), (b"waybill_no\nX1", "text/csv", 422),
                                    (b"\xff\xfe\x00garbage", "text/csv; charset=utf-8", 422),
                                    (b"{}", "application/json", 415)]:
            r = await d.c.post("/v1/shipments/import", headers={**d.admin, "Content-Type": ctype}, content=body)
            assert r.status_code == status, (body, r.text)
        r = await d.c.post("/v1/shipments/import", headers=d.admin, files={"other": ("x.csv", b"a", "text/csv")})
        assert r.status_code == 422


async def test_reimport_and_duplicates(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        nos = [unique("RE"), unique("RE")]
        data = "\n".join([EN_HEADER, *(row(n, origin, dest) for n in nos)]).encode()
        headers = {**d.admin, "Content-Type": "text/csv"}
        r = await d.c.post("/v1/shipments/import", headers=headers, content=data)
        assert r.status_code == 201 and r.json()["registered"] == 2
        r = await d.c.post("/v1/shipments/import", headers=headers, content=data)
        assert r.status_code == 200, r.text
        assert r.json() == {"registered": 0, "already_imported": True, "waybills": []}
        # Another file naming an existing waybill: 409 per duplicate row, nothing registered.
        fresh = unique("RE")
        data2 = "\n".join([ZH_HEADER, row(fresh, origin, dest), row(nos[1], origin, dest)]).encode("gb18030")
        r = await d.c.post("/v1/shipments/import", headers=headers, content=data2)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "duplicate_waybill"
        assert r.json()["error"]["details"] == [
            {"row": 2, "column": "waybill_no", "problem": f"waybill {nos[1]} is already registered"}]
        assert await registered(db, [fresh]) == 0
        assert await db.fetchval("SELECT count(*) FROM tracking.outbox WHERE type = 'tracking.shipment.registered.v1' "
                                 "AND body::jsonb->>'subject' = ANY($1::text[])", nos) == 2


async def test_branch_imports_only_from_its_station(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        mine, theirs = unique("BR"), unique("BR")
        data = "\n".join([EN_HEADER, row(mine, origin, dest), row(theirs, dest, origin)]).encode()
        r = await d.c.post("/v1/shipments/import", headers={**d.branch(origin), "Content-Type": "text/csv"},
                           content=data)
        assert r.status_code == 422
        assert [(p["row"], p["column"]) for p in r.json()["error"]["details"]] == [(2, "origin")]
        assert await registered(db, [mine, theirs]) == 0
        data = "\n".join([EN_HEADER, row(mine, origin, dest)]).encode()
        r = await d.c.post("/v1/shipments/import", headers={**d.branch(origin), "Content-Type": "text/csv"},
                           content=data)
        assert r.status_code == 201, r.text
        r = await d.c.post("/v1/shipments/import", headers={**infra.headers("carrier", carrier="C1"),
                                                            "Content-Type": "text/csv"}, content=data)
        assert r.status_code == 403
