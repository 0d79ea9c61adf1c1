"""The shipments on board (`on_board`, migration 0020) and why they exist: every statement of a
fix's path reads and writes its vehicle's rows only, so the tables can be distributed by
`vehicle_id` (Citus) with no code change (docs/OPERATIONS.md, "Beyond one primary").

- A scan boards a shipment onto its vehicle's rows and takes it off, carrying the delay state
  over a transfer; the shipment's own row keeps every delay decision, and shows the ETA the
  evaluation keeps on board (`shipments_live`).
- The statements an ingest sends, captured from the driver, name the vehicles' tables only
  (`vehicles`, `positions`, `on_board`, the device map, the reference `stations`, the outbox);
  the waybill-keyed tables (`shipments`, `timeline`) only when a delay decision is made.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx

from services.tracking.domain.delay import DelayState
from services.tracking.domain.fixes import Fix
from services.tracking.feeds.ingest import ingest_batch
from services.tracking.feeds.models import Incoming
from services.tracking.main import build_context
from services.tracking.settings import TrackingSettings
from services.tracking.shipments.repository import on_board_many, save_delay_states
from services.tracking.shipments.service import reconcile_on_board
from shared.auth import Principal
from shared.context import Runtime
from shared.db import create_pool
from tests.conftest import Infra, run_sync
from tests.integration.tracking import core_support as core
from tests.integration.tracking.core_support import World, fix, minutes, now
from tests.support.wait import eventually

FAR = (31.2304 + 4.5, 121.4737)  # about 500 km from the destination (WX): late with 150 minutes to go


def board_rows(infra: Infra, waybill: str) -> list[asyncpg.Record]:
    return core.sql(infra, "SELECT * FROM tracking.on_board WHERE waybill_no = $1", waybill)


def shipment_row(infra: Infra, waybill: str) -> asyncpg.Record:
    return core.sql(infra, "SELECT * FROM tracking.shipments WHERE waybill_no = $1", waybill)[0]


def shown(api: httpx.Client, infra: Infra, waybill: str) -> dict[str, Any]:
    r = api.get(f"/v1/shipments/{waybill}", headers=infra.headers("admin"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def test_a_shipment_boards_moves_with_its_delay_state_and_leaves(  # type: ignore[no-untyped-def]
        api, infra: Infra, world: World) -> None:
    first, _ = core.new_vehicle(api, infra)
    second, _ = core.new_vehicle(api, infra)
    t0 = now() - minutes(30)
    waybill = core.register(api, infra, world, promised_at=t0 + minutes(150))  # SH → NJ → WX
    assert board_rows(infra, waybill) == []
    assert core.scan(api, infra, waybill, "departed", world.sh, t0, first).status_code == 201
    (row,) = board_rows(infra, waybill)
    assert (row["vehicle_id"], row["destination"], row["via"]) == (first, world.wx, [world.nj])

    # far away: late, the decision written to both rows
    assert core.post_positions(api, infra, [fix(first, t0 + minutes(1), *FAR, 70.0)]).status_code == 200
    (row,) = board_rows(infra, waybill)
    ship = shipment_row(infra, waybill)
    assert row["delayed"] and ship["delayed"]
    assert (ship["delayed_since"], ship["notified_eta"], ship["delay_notified_at"]) == (
        row["delayed_since"], row["notified_eta"], row["delay_notified_at"])
    assert len(core.events(infra, waybill, "delayed")) == 1

    # a little closer a few minutes later: a new ETA, no new decision; only the row on board changes
    decided_eta = ship["eta"]
    closer = fix(first, t0 + minutes(4), FAR[0] - 0.05, FAR[1], 70.0)
    assert core.post_positions(api, infra, [closer]).status_code == 200
    (row,) = board_rows(infra, waybill)
    ship = shipment_row(infra, waybill)
    assert row["eta"] != decided_eta and row["evaluated_at"] == t0 + minutes(4)
    assert ship["eta"] == decided_eta and ship["evaluated_at"] == t0 + minutes(1)
    assert len(core.events(infra, waybill, "delayed")) == 1
    body = shown(api, infra, waybill)  # as shown: the ETA kept on board
    assert _at(body["eta"]) == row["eta"] and body["delayed"] is True

    # transferred at NJ onto the second vehicle: the row moves, its delay state with it
    assert core.scan(api, infra, waybill, "arrived_transfer", world.nj, t0 + minutes(5)).status_code == 201
    assert core.scan(api, infra, waybill, "departed_transfer", world.nj, t0 + minutes(6), second).status_code == 201
    (moved,) = board_rows(infra, waybill)
    assert moved["vehicle_id"] == second and moved["reached_via"] == [world.nj]
    keep = ("delayed", "notified_eta", "delay_notified_at", "delayed_since", "eta", "evaluated_at", "delay_minutes",
            "delay_reason")
    assert {k: moved[k] for k in keep} == {k: row[k] for k in keep}

    # arrived at the destination: off board, what was refreshed there back on the shipment
    assert core.scan(api, infra, waybill, "arrived", world.wx, t0 + minutes(20)).status_code == 201
    assert board_rows(infra, waybill) == []
    ship = shipment_row(infra, waybill)
    assert (ship["eta"], ship["evaluated_at"]) == (row["eta"], row["evaluated_at"])
    assert _at(shown(api, infra, waybill)["eta"]) == row["eta"]


def test_shipments_live_shows_every_column(infra: Infra) -> None:
    columns = "SELECT column_name FROM information_schema.columns WHERE table_schema = 'tracking' AND table_name = $1"
    table = {r["column_name"] for r in core.sql(infra, columns, "shipments")}
    assert {r["column_name"] for r in core.sql(infra, columns, "shipments_live")} == table


# --- the statements of a fix's path --------------------------------------------------------

# the tables of one vehicle's shard once distributed by vehicle_id, and the reference tables
VEHICLE_TABLES = {"vehicles", "positions", "on_board", "devices", "stations", "outbox"}
# keyed by waybill: written only with a delay decision (its event appends to the timeline)
DECISION_TABLES = {"shipments", "timeline"}


def tables_named(statement: str, tables: set[str]) -> set[str]:
    """The tables of the schema a statement reads or writes (names after FROM, JOIN, UPDATE,
    INTO, COPY; CTE names and functions are not tables of the schema)."""
    named = re.findall(r"\b(?:FROM|JOIN|UPDATE|INTO|COPY)\s+([a-z_][a-z_0-9]*)", statement, re.IGNORECASE)
    return {n.lower() for n in named} & tables


async def _runtime(infra: Infra) -> AsyncIterator[tuple[Runtime[Any, Any], list[str]]]:
    """The service's runtime in this process, over one connection whose statements are captured."""
    pool = await create_pool(infra.database_url, "tracking", min_size=1, max_size=1)
    statements: list[str] = []
    try:
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda q: statements.append(q.query))
        rt: Runtime[Any, Any] = Runtime(service="tracking", settings=TrackingSettings(env="dev"), pool=pool)
        rt.context = await build_context(rt)
        yield rt, statements
    finally:
        await pool.close()


def with_functions(statements: list[str], functions: dict[str, str]) -> list[str]:
    """The statements, each followed by the body of every function of the schema it calls (a
    function's statements run where the call runs: they are the fix path's too)."""
    out: list[str] = []
    for statement in statements:
        out.append(statement)
        out += [body for name, body in functions.items() if re.search(rf"\b{name}\s*\(", statement)]
    return out


async def _captured(infra: Infra, vid: str, device: str, fixes: list[tuple[datetime, float, float]],
                    ) -> tuple[list[list[str]], set[str]]:
    """Each fix ingested on its own, alternately through the batch path and the device path (an
    /osmand group's work): the statements each sent (with the bodies of the schema's functions
    they call), and the schema's tables."""
    async for rt, statements in _runtime(infra):
        async with rt.pool.acquire() as conn:
            tables = {r["table_name"] for r in await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'tracking'")}
            functions = {r["proname"]: r["prosrc"] for r in await conn.fetch(
                "SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = 'tracking' AND p.prokind = 'f'")}
        assert "claim_vehicles" in functions
        out: list[list[str]] = []
        admin = Principal(sub="test", role="admin")
        for n, (at, lat, lon) in enumerate(fixes):
            statements.clear()
            if n % 2 == 0:
                await ingest_batch(rt, principal=admin, items=[Incoming(vid, at, lat, lon, 70.0, 280.0)])
            else:
                async with rt.pool.acquire() as conn, conn.transaction():
                    known, stored = await rt.context.osmand._store(conn, [Fix(device, at, lat, lon, 70.0, 280.0)])
                    assert known == [True] and stored == 1
            await asyncio.sleep(0)  # the query logger's callbacks are scheduled with call_soon
            out.append(with_functions(statements, functions))
        return out, tables
    raise AssertionError("no runtime")


def test_a_fix_path_names_only_its_vehicles_tables(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    vid, device = core.new_vehicle(api, infra)
    t0 = now() - minutes(30)
    waybill = core.register(api, infra, world, promised_at=t0 + minutes(150), via=[])
    assert core.scan(api, infra, waybill, "departed", world.sh, t0, vid).status_code == 201
    # the first turns the shipment late (a decision); the next two refresh its ETA (none)
    fixes = [(t0 + minutes(1), *FAR), (t0 + minutes(3), FAR[0] - 0.05, FAR[1]),
             (t0 + minutes(5), FAR[0] - 0.1, FAR[1])]
    per_fix, tables = run_sync(_captured(infra, vid, device, fixes))
    assert {"shipments", "timeline", "on_board", "devices"} <= tables
    decided, *refreshed = per_fix
    assert len(core.events(infra, waybill, "delayed")) == 1
    for n, statements in enumerate(per_fix):
        assert statements, "nothing captured"
        allowed = VEHICLE_TABLES | (DECISION_TABLES if n == 0 else set())
        for statement in statements:
            named = tables_named(statement, tables)
            assert named <= allowed, (n, sorted(named - allowed), statement)
            assert not re.search(r"\bdevice_id\s*=", statement) or "devices" in named, statement
    # the decision's own: the shipment's row by its waybill, and its timeline entry
    assert any("shipments" in tables_named(s, tables) for s in decided)
    assert any("timeline" in tables_named(s, tables) for s in decided)
    # and what the refreshes wrote is on board
    (row,) = board_rows(infra, waybill)
    assert row["evaluated_at"] == t0 + minutes(5)
    assert shipment_row(infra, waybill)["evaluated_at"] == t0 + minutes(1)
    assert timedelta(0) < row["eta"] - t0


async def _reconcile(infra: Infra) -> int:
    pool = await create_pool(infra.database_url, "tracking", min_size=1, max_size=1)
    try:
        rt: Runtime[Any, Any] = Runtime(service="tracking", settings=TrackingSettings(env="dev"), pool=pool)
        return await reconcile_on_board(rt)
    finally:
        await pool.close()


def test_the_reconciliation_repairs_what_an_older_release_wrote_past_on_board(  # type: ignore[no-untyped-def]
        api, infra: Infra, world: World) -> None:
    """A release before migration 0020, still serving during a rolling upgrade, writes scans and
    delay decisions to `shipments` only; the reconciliation (run with the stale sweep) boards what
    it departed, takes off what it delivered, and copies the decisions it made."""
    vid, _ = core.new_vehicle(api, infra)
    t0 = now() - minutes(30)
    boarded, delivered, decided = (core.register(api, infra, world, promised_at=t0 + minutes(150), via=[])
                                   for _ in range(3))
    for waybill in (delivered, decided):
        assert core.scan(api, infra, waybill, "departed", world.sh, t0, vid).status_code == 201
    # what the old release did: a departure, a delivery and a delay decision, in `shipments` alone
    core.sql(infra, "UPDATE tracking.shipments SET status = 'in_transit', vehicle_id = $2, departed_at = $3 "
                    "WHERE waybill_no = $1", boarded, vid, t0)
    core.sql(infra, "UPDATE tracking.shipments SET status = 'delivered' WHERE waybill_no = $1", delivered)
    core.sql(infra, "UPDATE tracking.shipments SET delayed = true, delayed_since = $2, notified_eta = $3, "
                    "delay_notified_at = $2, delay_minutes = 40, delay_reason = 'slow_progress' WHERE waybill_no = $1",
             decided, t0 + minutes(1), t0 + minutes(190))
    run_sync(_reconcile(infra))  # (the service's own, with its stale sweep, may have done some of it already)
    assert [r["vehicle_id"] for r in board_rows(infra, boarded)] == [vid]
    assert board_rows(infra, delivered) == []
    (row,) = board_rows(infra, decided)
    assert (row["delayed"], row["delayed_since"], row["notified_eta"]) == (True, t0 + minutes(1), t0 + minutes(190))
    assert run_sync(_reconcile(infra)) == 0  # in line: nothing to do


async def _decision_while_the_shipment_arrives(infra: Infra, api: httpx.Client, world: World, waybill: str,
                                               vid: str, at: datetime) -> int:
    """An evaluation holding the vehicle's rows on board writes a delay decision to the shipment
    while a scan of that shipment waits: the scan's status once both are done."""
    conn = await asyncpg.connect(infra.database_url)
    watcher = await asyncpg.connect(infra.database_url)
    try:
        await conn.execute("SET search_path TO tracking")
        async with conn.transaction():
            assert [r["waybill_no"] for r in await on_board_many(conn, [vid])] == [waybill]  # locked
            scan = asyncio.ensure_future(asyncio.to_thread(core.scan, api, infra, waybill, "arrived", world.wx, at))
            await eventually(lambda: watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"), what="the scan waiting for a lock")
            # the decision (as `evaluation.evaluate_vehicles` writes one): the scan must not hold the shipment
            await save_delay_states(conn, [(waybill, DelayState(delayed=True, notified_eta=at, delay_minutes=30,
                                                                eta=at, evaluated_at=at, notified_at=at,
                                                                delayed_since=at))])
        response = await scan
        return int(response.status_code)
    finally:
        await watcher.close()
        await conn.close()


def test_a_scan_waits_for_an_evaluation_of_its_shipment_without_a_deadlock(  # type: ignore[no-untyped-def]
        api, infra: Infra, world: World) -> None:
    """Everyone locks a shipment's row on board before the shipment's row (`lock_shipment`), as an
    evaluation does: taken the other way round, a scan and an evaluation deciding a delay for the
    same shipment would each wait for the other until PostgreSQL aborted one."""
    vid, _ = core.new_vehicle(api, infra)
    t0 = now() - minutes(30)
    waybill = core.register(api, infra, world, promised_at=t0 + minutes(150), via=[])
    assert core.scan(api, infra, waybill, "departed", world.sh, t0, vid).status_code == 201
    assert run_sync(_decision_while_the_shipment_arrives(infra, api, world, waybill, vid, t0 + minutes(20))) == 201
    assert board_rows(infra, waybill) == [] and shipment_row(infra, waybill)["delayed"] is True


async def _scans_and_batches_at_once(url: str, admin: dict[str, str], carrier: dict[str, str],
                                     scans: dict[str, list[dict[str, Any]]], batches: list[list[dict[str, Any]]],
                                     clients: int) -> tuple[list[httpx.Response], list[httpx.Response]]:
    """Each shipment's scans in order, the shipments side by side, while `clients` clients post the
    batches: every answer of both."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        async def scanning(waybill: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
            return [await c.post(f"/v1/shipments/{waybill}/scans", headers=admin, json=b) for b in bodies]

        async def posting(share: list[list[dict[str, Any]]]) -> list[httpx.Response]:
            return [await c.post("/v1/positions", headers=carrier, json={"positions": b}) for b in share]

        results = await asyncio.gather(*(scanning(w, b) for w, b in scans.items()),
                                       *(posting(batches[i::clients]) for i in range(clients)))
    scanned = [r for rs in results[:len(scans)] for r in rs]
    posted = [r for rs in results[len(scans):] for r in rs]
    return scanned, posted


def test_scans_and_ingests_of_the_same_vehicles_at_once_keep_on_board_in_line(  # type: ignore[no-untyped-def]
        api, infra: Infra, world: World, stack) -> None:
    """Shipments transferred from one truck to another and delivered while batches of both trucks'
    fixes, far from the destination (delays decided), are ingested at the same time: no scan or
    batch fails (a deadlock would answer a scan 500), and each shipment's row on board follows it
    to the end: moved at the transfer, gone at the arrival, the decisions on the shipment."""
    t0 = now() - minutes(50)
    first = [core.new_vehicle(api, infra)[0] for _ in range(2)]
    second = [core.new_vehicle(api, infra)[0] for _ in range(2)]
    waybills = [core.register(api, infra, world, promised_at=t0 + minutes(150)) for _ in range(8)]
    for n, waybill in enumerate(waybills):
        assert core.scan(api, infra, waybill, "departed", world.sh, t0, first[n % 2]).status_code == 201
    # the first trucks far away: every shipment late before the scans begin
    assert core.post_positions(api, infra, [fix(vid, t0 + minutes(1), *FAR, 70.0) for vid in first]).status_code == 200
    assert all(len(core.events(infra, waybill, "delayed")) == 1 for waybill in waybills)
    scans = {waybill: [{"type": "arrived_transfer", "station": world.nj, "at": (t0 + minutes(20 + n)).isoformat()},
                       {"type": "departed_transfer", "station": world.nj, "at": (t0 + minutes(21 + n)).isoformat(),
                        "vehicle_id": second[n % 2]},
                       {"type": "arrived", "station": world.wx, "at": (t0 + minutes(40)).isoformat()}]
             for n, waybill in enumerate(waybills)}
    # meanwhile the first trucks stay far, the second ones reach the destination: shipments moved
    # onto them recover (a decision written to the shipment) while other scans move rows on board
    near = (31.4912 + 0.02, 120.3119)
    fixes = [fix(vid, t0 + minutes(2 + k) + timedelta(seconds=n), *(near if vid in second else FAR), 70.0)
             for k in range(30) for n, vid in enumerate(first + second)]
    batches = [fixes[i:i + 12] for i in range(0, len(fixes), 12)]
    scanned, posted = run_sync(_scans_and_batches_at_once(stack.url("tracking"), infra.headers("admin"),
                                                          infra.headers("carrier", carrier="CARR1"), scans, batches,
                                                          clients=3))
    assert [r.status_code for r in scanned] == [201] * len(scanned), [r.text for r in scanned if r.is_error]
    assert [r.status_code for r in posted] == [200] * len(posted), [r.text for r in posted if r.is_error]
    for waybill in waybills:
        assert board_rows(infra, waybill) == []
        ship = shipment_row(infra, waybill)
        assert ship["status"] == "arrived" and ship["vehicle_id"] in second
        # every decision the events announced is on the shipment's row
        delayed, recovered = core.events(infra, waybill, "delayed"), core.events(infra, waybill, "recovered")
        assert ship["delayed"] is (len(delayed) > len(recovered))
