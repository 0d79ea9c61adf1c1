"""Write rate limits count per verified caller, in PostgreSQL, across replicas (issue 22, point 5).

Two apps on one schema play two replicas of a service; the limit is 3 writes a minute."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, Depends

from shared.auth import Principal, issue_token, require_roles
from shared.context import Runtime
from shared.db import SHARED_MIGRATIONS, create_pool, load_migrations, migrate
from shared.guard import GuardMiddleware
from shared.ratelimit import SharedWindows
from shared.settings import DEV_SECRET, Settings
from shared.web import create_app
from tests.conftest import Infra

LIMIT = 3
NOW = 1_795_999_990.0  # 10 s into a minute (epoch seconds divisible by 60, plus 10): Retry-After is 50


@pytest.fixture
async def replicas(infra: Infra) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, asyncpg.Pool]]:
    schema = "rl_" + uuid.uuid4().hex[:10]
    await migrate(infra.database_url, schema, load_migrations(SHARED_MIGRATIONS, "shared/"))
    pool = await create_pool(infra.database_url, schema, min_size=1, max_size=4)
    router = APIRouter()

    @router.post("/v1/things")
    async def create(_: Principal = Depends(require_roles("admin", "carrier"))) -> dict[str, str]:
        return {"ok": "yes"}

    settings = Settings(env="dev", rate_limit_per_minute=LIMIT)
    clients = []
    for n in range(2):
        rt: Runtime[Settings, None] = Runtime(service=f"replica{n}", settings=settings, pool=pool)
        app = create_app(rt=rt, routers=[router], title="t", description="t")
        guard = next(m for m in app.user_middleware if m.cls is GuardMiddleware)
        guard.kwargs["limiter"] = SharedWindows(pool, LIMIT, clock=lambda: NOW)  # one window for the test
        clients.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.0.0.7", 5555)),
                                         base_url="http://t"))
    try:
        yield clients[0], clients[1], pool
    finally:
        for c in clients:
            await c.aclose()
        await pool.close()
        conn = await asyncpg.connect(infra.database_url)
        try:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        finally:
            await conn.close()


async def test_one_principal_is_one_caller_whatever_the_header_spelling_and_replica(replicas) -> None:  # type: ignore[no-untyped-def]
    one, two, _ = replicas
    token = issue_token(DEV_SECRET, sub="feed-1", role="carrier", carrier="CARR1")
    spellings = [f"Bearer {token}", f"bearer {token}", f"Bearer   {token}"]
    codes = [(await (one if n % 2 else two).post("/v1/things", headers={"Authorization": h})).status_code
             for n, h in enumerate(spellings)]
    assert codes == [200, 200, 200]
    r = await one.post("/v1/things", headers={"Authorization": f"BEARER {token}"})
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert r.headers["Retry-After"] == "50"
    # another principal has a window of its own
    other = issue_token(DEV_SECRET, sub="feed-2", role="carrier", carrier="CARR1")
    assert (await two.post("/v1/things", headers={"Authorization": f"Bearer {other}"})).status_code == 200


async def test_made_up_tokens_share_their_address_window_and_cannot_clear_others(replicas) -> None:  # type: ignore[no-untyped-def]
    one, two, pool = replicas
    token = issue_token(DEV_SECRET, sub="desk", role="admin")
    assert (await one.post("/v1/things", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    codes = [(await two.post("/v1/things", headers={"Authorization": f"Bearer junk{n}"})).status_code
             for n in range(LIMIT + 2)]
    assert codes[:LIMIT] == [401] * LIMIT and codes[LIMIT:] == [429, 429]
    # a flood of distinct headers adds no rows: one per caller and minute
    keys = await pool.fetch("SELECT key, hits FROM rate_windows ORDER BY key")
    assert [(k["key"], k["hits"]) for k in keys] == [("address:10.0.0.7", LIMIT + 2), ("principal:admin:desk", 1)]
    # and the admin's window still counts what it counted
    for _ in range(LIMIT - 1):
        assert (await one.post("/v1/things", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    assert (await two.post("/v1/things", headers={"Authorization": f"Bearer {token}"})).status_code == 429


async def test_take_reading_many_counts_as_one_take_after_another_and_reads_in_the_same_statement(replicas) -> None:  # type: ignore[no-untyped-def]
    """`SharedWindows.take_reading_many`: a group counted in one statement gives each request the
    wait `take` would have given it had the group come one request after another, in order, and
    each request its own read's columns (all NULL when it finds no row or has no argument), read
    as committed before the statement."""
    _, _, pool = replicas
    limiter = SharedWindows(pool, LIMIT, clock=lambda: NOW)
    read = "SELECT key AS found, hits FROM rate_windows WHERE key = {} AND window_start = to_timestamp($2)"
    a, b, c = "address:10.0.0.9", "address:10.0.0.8", "address:10.0.0.6"
    answers = await limiter.take_reading_many([(a, b), (a, None), (b, a), (a, c), (a, a)], read)
    assert [wait for wait, _ in answers] == [0.0, 0.0, 0.0, 0.0, 50.0]  # a's fourth is over the limit of 3
    assert all(row["found"] is None and row["hits"] is None for _, row in answers)  # nothing before it
    answers = await limiter.take_reading_many([(b, a), (b, b), (a, None), (b, c)], read)
    assert [wait for wait, _ in answers] == [0.0, 0.0, 50.0, 50.0]  # b: 2, 3, then 4 (over); a: 5
    assert [(row["found"], row["hits"]) for _, row in answers] == [(a, 4), (b, 1), (None, None), (None, None)]
    assert await limiter.take(b) == 50.0 and await limiter.take(c) == 0.0  # the same windows as `take`
    hits = {r["key"]: r["hits"] for r in await pool.fetch("SELECT key, hits FROM rate_windows")}
    assert hits == {a: 5, b: 5, c: 1}


async def test_groups_counted_at_once_on_several_connections_count_every_request_once(replicas) -> None:  # type: ignore[no-untyped-def]
    """Groups of one key counted at the same moment by different connections (two web replicas, or
    two groups in flight) wait for each other on the window's row: across them exactly `LIMIT`
    requests pass, whatever the split, including on a key with no window yet."""
    _, _, pool = replicas
    limiter = SharedWindows(pool, LIMIT, clock=lambda: NOW)
    read = "SELECT key AS found FROM rate_windows WHERE key = {} AND window_start = to_timestamp($2)"
    for n in range(20):
        key = f"address:10.1.0.{n}"
        groups = await asyncio.gather(*(limiter.take_reading_many([(key, None)] * size, read) for size in (1, 2, 4)))
        waits = sorted(wait for answers in groups for wait, _ in answers)
        assert waits == [0.0] * LIMIT + [50.0] * (7 - LIMIT), (key, groups)


async def test_groups_of_overlapping_keys_counted_at_once_never_deadlock(replicas) -> None:  # type: ignore[no-untyped-def]
    """Groups of many keys counted at once on several connections (two web replicas each counting
    the addresses of the moment) lock the keys' window rows in one order, the keys' own: whatever
    the keys and their order in each group, none waits for another in a cycle, which PostgreSQL
    would break by failing one group (each of its look-ups a 503)."""
    _, _, pool = replicas
    limiter = SharedWindows(pool, 1_000_000, clock=lambda: NOW)
    read = "SELECT key AS found FROM rate_windows WHERE key = {} AND window_start = to_timestamp($2)"
    keys = [f"address:10.2.{n // 250}.{n % 250}" for n in range(400)]
    rng = random.Random(24)
    counted: Counter[str] = Counter()
    for _ in range(40):
        groups = [rng.sample(keys, rng.randrange(20, 200)) for _ in range(4)]
        await asyncio.gather(*(limiter.take_reading_many([(key, None) for key in group], read) for group in groups))
        counted.update(key for group in groups for key in group)
    hits = {r["key"]: r["hits"] for r in await pool.fetch("SELECT key, hits FROM rate_windows")}
    assert hits == dict(counted)
