"""Concurrent ingests of the same fleet, and the trailing evaluation.

Several clients post batches spread over all the vehicles at once (as a GPS aggregator or a
Traccar forwarder does), the fixes of each vehicle interleaved between the batches, out of order,
some sent twice: nothing is lost or stored twice, each vehicle's last position is its newest fix,
each delayed shipment gets exactly one notice, and once the feed stops every vehicle ends judged
at its newest fix. A fix within the evaluation interval is evaluated later (the trailing
evaluation), never dropped, and by one replica's worker only."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx

from services.tracking.domain.track import epoch_micros
from services.tracking.feeds import repository
from services.tracking.feeds.track_cache import stored_track_covers, unpack_track
from services.tracking.feeds.trailing import evaluate_due
from services.tracking.main import build_context
from services.tracking.settings import TrackingSettings
from services.tracking.shipments.repository import EVALUATION_LOCK_NAMESPACE
from shared.context import Runtime
from shared.db import create_pool
from shared.devtools.stack import Stack
from tests.conftest import Infra, run_sync, unique
from tests.integration.tracking import core_support as core
from tests.integration.tracking.core_support import World, fix, minutes, now
from tests.integration.tracking.test_tracking_stored_track import sampled_since
from tests.support.wait import eventually

SH = (31.2304, 121.4737)
FAR = (SH[0] + 4.5, SH[1])  # about 500 km from the destination: late with 150 minutes to go
WX = core.STATIONS["WX"][3:5]  # the destination


def fleet(api, infra: Infra, world: World, size: int, t0: datetime) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """`size` vehicles, each carrying a shipment (SH → WX, promised 150 minutes after `t0`) that
    departed at `t0`: vehicle id → waybill."""
    carried = {}
    for _ in range(size):
        vid, _ = core.new_vehicle(api, infra)
        waybill = core.register(api, infra, world, promised_at=t0 + minutes(150), via=[])
        assert core.scan(api, infra, waybill, "departed", world.sh, t0, vid).status_code == 201
        carried[vid] = waybill
    return carried


def vehicles(infra: Infra, ids: list[str]) -> dict[str, Any]:
    rows = core.sql(infra, "SELECT vehicle_id, last_fix_at, last_lat, last_lon, last_evaluated_at, evaluation_due_at, "
                           "last_sample_at, recent_track, recent_track_since, recent_track_sample_at "
                           "FROM tracking.vehicles WHERE vehicle_id = ANY($1::text[])", ids)
    return {r["vehicle_id"]: r for r in rows}


async def _post_concurrently(url: str, headers: dict[str, str], batches: list[list[dict[str, Any]]],
                             clients: int) -> list[httpx.Response]:
    """The batches posted by `clients` clients at once, each posting its share one after another."""
    async def one(share: list[list[dict[str, Any]]]) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            return [await c.post("/v1/positions", headers=headers, json={"positions": b}) for b in share]

    shares = await asyncio.gather(*(one(batches[i::clients]) for i in range(clients)))
    return [r for share in shares for r in share]


def test_overlapping_batches_of_the_whole_fleet_lose_nothing_and_notify_once(  # type: ignore[no-untyped-def]
        api, infra: Infra, world: World, stack: Stack) -> None:
    rng = random.Random(24)
    t0 = now() - minutes(30)
    carried = fleet(api, infra, world, 12, t0)
    ids = sorted(carried)
    # 30 fixes per vehicle, 10 s apart (the 15 s interval skips some, the 60 s sampling keeps some),
    # each at a position of its own, all far from the destination: every shipment late
    fixes = {vid: [fix(vid, t0 + timedelta(seconds=60 + 10 * k), FAR[0] + k * 1e-3 + n * 1e-5, FAR[1] - k * 1e-3,
                       70.0)
                   for k in range(30)] for n, vid in enumerate(ids)}
    everything = [f for vid in ids for f in fixes[vid]]
    sent = everything + rng.sample(everything, 40)  # some sent twice
    rng.shuffle(sent)
    batches: list[list[dict[str, Any]]] = []
    while sent:  # small batches (one statement) and big ones (COPY), each over most of the fleet
        size = rng.choice([20, 45, 90, 120])
        batches.append(sent[:size])
        sent = sent[size:]
    responses = run_sync(_post_concurrently(stack.url("tracking"), infra.headers("carrier", carrier="CARR1"),
                                            batches, clients=6))
    assert [r.status_code for r in responses] == [200] * len(batches), [r.text for r in responses if r.is_error]
    assert sum(r.json()["stored"] for r in responses) == len(everything)

    counts = {r["vehicle_id"]: r["n"] for r in core.sql(
        infra, "SELECT vehicle_id, count(*) AS n FROM tracking.positions WHERE vehicle_id = ANY($1::text[]) "
               "GROUP BY vehicle_id", ids)}
    assert counts == dict.fromkeys(ids, 30)
    rows = vehicles(infra, ids)
    for vid in ids:
        newest = fixes[vid][-1]
        assert rows[vid]["last_fix_at"] == datetime.fromisoformat(newest["at"])
        assert (rows[vid]["last_lat"], rows[vid]["last_lon"]) == (newest["lat"], newest["lon"])

    # once the feed stops, every vehicle is judged at its newest fix (the trailing evaluation of
    # what was deferred), nothing left due
    def settled() -> bool:
        now_rows = vehicles(infra, ids)
        return all(r["evaluation_due_at"] is None and r["last_evaluated_at"] == r["last_fix_at"]
                   for r in now_rows.values())
    run_sync(eventually(settled, timeout=90, what="every vehicle evaluated at its newest fix"))
    for vid, waybill in carried.items():
        assert len(core.events(infra, waybill, "delayed")) == 1, vid
        assert core.events(infra, waybill, "recovered") == []
        shipment = api.get(f"/v1/shipments/{waybill}", headers=infra.headers("admin")).json()
        assert shipment["delayed"] is True
    # a stored track the service would trust is still exactly the sampled fixes it copies
    for vid, v in vehicles(infra, ids).items():
        if stored_track_covers(v["recent_track_since"], v["recent_track_sample_at"], v["last_sample_at"],
                               v["recent_track_since"] or v["last_fix_at"]):
            assert unpack_track(v["recent_track"]) == sampled_since(infra, vid, v["recent_track_since"])


def test_a_final_fix_within_the_interval_is_evaluated_after_it_without_another(  # type: ignore[no-untyped-def]
        api, infra: Infra, world: World) -> None:
    """A truck late, then back on time 3 km from the destination 5 s later (within the 15 s
    interval: not evaluated then), then silent: it ends on time, with a recovered notice, by the
    trailing evaluation."""
    t0 = now() - minutes(10)
    (vid, waybill), = fleet(api, infra, world, 1, t0).items()
    r = core.post_positions(api, infra, [fix(vid, t0 + minutes(1), *FAR, 70.0)])
    assert r.status_code == 200 and r.json()["evaluated_shipments"] == 1
    assert len(core.events(infra, waybill, "delayed")) == 1
    near = (WX[0] + 0.027, WX[1])  # 3 km north of the destination
    r = core.post_positions(api, infra, [fix(vid, t0 + minutes(1) + timedelta(seconds=5), *near, 70.0)])
    assert r.status_code == 200 and r.json()["evaluated_shipments"] == 0
    assert vehicles(infra, [vid])[vid]["evaluation_due_at"] is not None

    recovered = run_sync(eventually(lambda: core.events(infra, waybill, "recovered"), timeout=90,
                                    what="the trailing evaluation's recovered notice"))
    assert len(recovered) == 1
    shipment = api.get(f"/v1/shipments/{waybill}", headers=infra.headers("admin")).json()
    assert shipment["delayed"] is False
    v = vehicles(infra, [vid])[vid]
    assert v["last_evaluated_at"] == t0 + minutes(1) + timedelta(seconds=5) and v["evaluation_due_at"] is None
    assert len(core.events(infra, waybill, "delayed")) == 1


async def _runtime(infra: Infra, size: int) -> AsyncIterator[Runtime[Any, Any]]:
    pool = await create_pool(infra.database_url, "tracking", min_size=size, max_size=size)
    try:
        rt: Runtime[Any, Any] = Runtime(service="tracking", settings=TrackingSettings(env="dev"), pool=pool)
        rt.context = await build_context(rt)
        yield rt
    finally:
        await pool.close()


async def _two_workers(infra: Infra, as_of: datetime) -> tuple[list[str], list[str]]:
    """Two replicas' trailing-evaluation rounds at once, a few vehicles per transaction, until
    nothing is due at `as_of`: the vehicles each evaluated."""
    async for rt in _runtime(infra, 2):
        async def worker() -> list[str]:
            done: list[str] = []
            while batch := await evaluate_due(rt, as_of=as_of, limit=2):
                done += batch
                await asyncio.sleep(0)
            return done
        first, second = await asyncio.gather(worker(), worker())
        return first, second
    raise AssertionError("no runtime")


def test_two_workers_never_evaluate_the_same_vehicle_twice(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    t0 = now() - minutes(10)
    carried = fleet(api, infra, world, 8, t0)
    ids = sorted(carried)
    near = (WX[0] + 0.027, WX[1])
    assert core.post_positions(api, infra, [fix(v, t0 + minutes(1), *FAR, 70.0) for v in ids]).status_code == 200
    r = core.post_positions(api, infra, [fix(v, t0 + minutes(1) + timedelta(seconds=5), *near, 70.0) for v in ids])
    assert r.status_code == 200 and r.json()["evaluated_shipments"] == 0
    # due an hour from now: out of the service's own worker's reach, due for the two below
    core.sql(infra, "UPDATE tracking.vehicles SET evaluation_due_at = now() + interval '1 hour' "
                    "WHERE vehicle_id = ANY($1::text[])", ids)
    first, second = run_sync(_two_workers(infra, now() + timedelta(hours=2)))
    assert not set(first) & set(second) and len(first) + len(second) == len(set(first) | set(second))
    assert set(ids) <= set(first) | set(second)
    for waybill in carried.values():
        assert len(core.events(infra, waybill, "recovered")) == 1
        assert len(core.events(infra, waybill, "delayed")) == 1
    assert all(v["evaluation_due_at"] is None for v in vehicles(infra, ids).values())


async def _held_evaluation(infra: Infra, vid: str, as_of: datetime) -> tuple[list[str], bool]:
    """The trailing worker while another transaction holds the vehicle's evaluation (an ingest
    evaluating it): it leaves the vehicle due."""
    conn = await asyncpg.connect(infra.database_url)
    try:
        async with conn.transaction():
            await conn.execute("SET search_path TO tracking")
            assert await conn.fetchval("SELECT pg_try_advisory_xact_lock($2, hashtext($1))", vid,
                                         EVALUATION_LOCK_NAMESPACE)
            async for rt in _runtime(infra, 1):
                done = await evaluate_due(rt, as_of=as_of)
                still = await conn.fetchval("SELECT evaluation_due_at IS NOT NULL FROM vehicles WHERE vehicle_id = $1",
                                            vid)
                return done, bool(still)
    finally:
        await conn.close()
    raise AssertionError("no runtime")


def test_a_vehicle_another_transaction_evaluates_stays_due(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    t0 = now() - minutes(10)
    (vid, _), = fleet(api, infra, world, 1, t0).items()
    assert core.post_positions(api, infra, [fix(vid, t0 + minutes(1), *FAR, 70.0)]).status_code == 200
    later = t0 + minutes(1) + timedelta(seconds=5)
    assert core.post_positions(api, infra, [fix(vid, later, *FAR, 70.0)]).status_code == 200
    core.sql(infra, "UPDATE tracking.vehicles SET evaluation_due_at = now() + interval '1 hour' "
                    "WHERE vehicle_id = $1", vid)
    done, still_due = run_sync(_held_evaluation(infra, vid, now() + timedelta(hours=2)))
    assert vid not in done and still_due
    first, second = run_sync(_two_workers(infra, now() + timedelta(hours=2)))
    assert vid in first + second


async def _both_claims(infra: Infra, ids: list[str], held: str) -> tuple[Any, Any]:
    """The batch path's `begin_and_claim` and the plain `claim_vehicles`, each in a transaction of
    its own, while a third holds `held`'s evaluation."""
    pool = await create_pool(infra.database_url, "tracking", min_size=3, max_size=3)
    try:
        async with pool.acquire() as holder, holder.transaction():
            assert await holder.fetchval("SELECT pg_try_advisory_xact_lock($2, hashtext($1))", held,
                                         EVALUATION_LOCK_NAMESPACE)
            async with pool.acquire() as conn:
                fast = await repository.begin_and_claim(conn, ids)
                assert conn.is_in_transaction()
                await conn.execute("ROLLBACK")
            async with pool.acquire() as conn, conn.transaction():
                plain = await repository.claim_vehicles(conn, "vehicle_id", ids)
        return fast, plain
    finally:
        await pool.close()


def test_begin_and_claim_claims_as_claim_vehicles(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    """The batch path's fast way (BEGIN and the claims in one simple query, the claims handed to
    the next statement in a transaction-local setting) reads and claims what the plain way does:
    every column of a claimed vehicle, the id, carrier and newest fix time of one another
    transaction holds (what an ingest reads of it; the rest NULL)."""
    ids = [f"V{unique()}" for _ in range(3)]
    t0 = now() - minutes(30)
    for vid in ids:
        core.add_vehicle(api, infra, vid, f"D{unique()}")
    # fixes a minute apart: each vehicle with a newest fix, a sample and a stored track
    r = core.post_positions(api, infra, [fix(vid, t0 + minutes(k), 31.2 + k / 100, 121.4) for vid in ids
                                         for k in range(3)])
    assert r.status_code == 200, r.text
    fast, plain = run_sync(_both_claims(infra, [*ids, "NOT'REGISTERED"], ids[1]))
    assert fast.claimed == plain.claimed == {ids[0], ids[2]}
    assert fast.rows.keys() == plain.rows.keys() == set(ids)
    for vid in (ids[0], ids[2]):
        assert dict(fast.rows[vid].items()) == dict(plain.rows[vid].items())
        assert fast.rows[vid]["recent_track"] and fast.rows[vid]["last_sample_at"] == t0 + minutes(2)
    held = dict(fast.rows[ids[1]].items())
    read = {"vehicle_id", "carrier", "last_fix_at", "claimed"}
    assert {k: held[k] for k in read} == {k: plain.rows[ids[1]][k] for k in read}
    assert held["last_fix_at"] == t0 + minutes(2)
    assert all(v is None for k, v in held.items() if k not in read)


async def _claim_function(infra: Infra) -> asyncpg.Record:
    conn = await asyncpg.connect(infra.database_url)
    try:
        row = await conn.fetchrow(
            "SELECT p.provolatile, l.lanname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "JOIN pg_language l ON l.oid = p.prolang WHERE n.nspname = 'tracking' AND p.proname = 'claim_vehicles'")
        assert row is not None
        return row
    finally:
        await conn.close()


def test_the_claim_function_reads_the_rows_in_a_snapshot_of_their_own(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    """`claim_vehicles` (migration 0021) claims, then reads the rows in a second statement: only a
    VOLATILE function gives that statement a snapshot taken after the claims (a STABLE or
    IMMUTABLE one reads with the calling statement's, which could miss what the previous holder
    committed just before the claim). The order is the point of the function: keep it VOLATILE."""
    row = run_sync(_claim_function(infra))
    assert (row["provolatile"], row["lanname"]) == (b"v", "plpgsql")  # "char": bytes to the driver


async def _post_while_held(infra: Infra, url: str, vid: str, positions: list[dict[str, Any]]) -> list[bool]:
    """The batch posted while another transaction holds the vehicle's evaluation claim (a
    concurrent batch of the same fleet): the `sampled` flags its fixes were stored with."""
    conn = await asyncpg.connect(infra.database_url)
    try:
        async with conn.transaction():
            assert await conn.fetchval("SELECT pg_try_advisory_xact_lock($2, hashtext($1))", vid,
                                       EVALUATION_LOCK_NAMESPACE)
            async with httpx.AsyncClient(base_url=url, timeout=30) as c:
                r = await c.post("/v1/positions", headers=infra.headers("carrier", carrier="CARR1"),
                                 json={"positions": positions})
            assert r.status_code == 200, r.text
        return [r["sampled"] for r in await conn.fetch(
            "SELECT sampled FROM tracking.positions WHERE vehicle_id = $1 AND at = ANY($2::timestamptz[]) ORDER BY at",
            vid, [datetime.fromisoformat(p["at"]) for p in positions])]
    finally:
        await conn.close()


def test_only_the_claims_holder_samples_a_vehicles_track(  # type: ignore[no-untyped-def]
        api, infra: Infra, world: World, stack: Stack) -> None:
    """Batches of one vehicle in flight at once each read the same newest sample: were each to
    sample, the track would hold a sample a minute per writer. Only the transaction holding the
    vehicle's claim samples; the others store their fixes unsampled, and the next holder samples
    on a step after the newest sample."""
    t0 = now() - minutes(20)
    (vid, _), = fleet(api, infra, world, 1, t0).items()
    assert core.post_positions(api, infra, [fix(vid, t0 + minutes(1), *FAR, 70.0)]).status_code == 200
    held = [fix(vid, t0 + minutes(3) + timedelta(seconds=s), *FAR, 70.0) for s in (0, 10, 70)]
    assert run_sync(_post_while_held(infra, stack.url("tracking"), vid, held)) == [False, False, False]
    v = vehicles(infra, [vid])[vid]
    assert v["last_fix_at"] == t0 + minutes(4) + timedelta(seconds=10) and v["last_sample_at"] == t0 + minutes(1)
    # the claim free again: the next batch samples from the newest sample on, one a step
    assert core.post_positions(api, infra, [fix(vid, t0 + minutes(5) + timedelta(seconds=s), *FAR, 70.0)
                                            for s in (0, 30, 60)]).status_code == 200
    assert [at for at, *_ in sampled_since(infra, vid, t0)] == [
        float(epoch_micros(t0 + minutes(m))) for m in (1, 5, 6)]
    v = vehicles(infra, [vid])[vid]
    assert v["last_sample_at"] == t0 + minutes(6)
    if stored_track_covers(v["recent_track_since"], v["recent_track_sample_at"], v["last_sample_at"],
                           v["recent_track_since"] or v["last_fix_at"]):
        assert unpack_track(v["recent_track"]) == sampled_since(infra, vid, v["recent_track_since"])
