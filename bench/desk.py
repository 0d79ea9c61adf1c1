"""Figure "Desk pages at scale": the desk's pages rendered through web at figure 5's small and
big sizes, with the desk's live part (delayed shipments, open complaints, receipts at risk)
the same at both.

Each page is fetched by a signed-in staff session: 3 warm-ups, then `reps` timed renders one
after the other (loopback round trip: web's server time plus well under a millisecond). Which
indexes the backends' queries used is read from PostgreSQL's own counters: the bench database's
`pg_stat_user_indexes.idx_scan` and `pg_stat_user_tables.seq_scan` around two more renders,
minus what equal waits without a render show (the relays' and consumers' polling, sweeps).
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Collection
from typing import Any

import asyncpg
import httpx

from bench.live import pct
from bench.scale import DESK_SEARCH_LAST4, timed_ms

PAGES = {
    "workbench": ("/desk/", "the workbench `/desk/` (its six lists)"),
    "search": ("/desk/search?q={last4}", "search by the last 4 digits of a phone"),
    "waybill": ("/desk/shipments/S000000000", "the waybill page"),
    "storage": ("/desk/reports/storage", "the storage report"),
}
STATS_FLUSH_S = 2.0   # an idle PostgreSQL backend reports its counters within about a second (PG 15+)

_COUNTERS = (
    "SELECT 'index' AS kind, schemaname || '.' || indexrelname AS name, idx_scan AS n, relname AS rel "
    "FROM pg_stat_user_indexes WHERE schemaname IN ('tracking', 'receipts', 'complaints', 'notifier', 'web') "
    "UNION ALL "
    "SELECT 'seq', schemaname || '.' || relname, seq_scan, relname FROM pg_stat_user_tables "
    "WHERE schemaname IN ('tracking', 'receipts', 'complaints', 'notifier', 'web')")


async def _counters(conn: asyncpg.Connection) -> dict[tuple[str, str], int]:
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    return {(r["kind"], r["name"]): int(r["n"] or 0) for r in await conn.fetch(_COUNTERS)}


async def _moved(conn: asyncpg.Connection, action: Any) -> dict[tuple[str, str], int]:
    before = await _counters(conn)
    if action is not None:
        await action()
    await asyncio.sleep(STATS_FLUSH_S)
    after = await _counters(conn)
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}


async def used_by(conn: asyncpg.Connection, action: Any) -> dict[str, list[str]]:
    """The indexes (and tables read whole) that `action` made the backends use: what moved in
    both of two renders and in none of three equal waits around them (a background job of the
    services — a sweep, the relay — moves its own counters now and then, not at every render)."""
    await asyncio.sleep(STATS_FLUSH_S)  # what ran before (the timed renders) is reported first
    noise = set(await _moved(conn, None))
    first = set(await _moved(conn, action))
    noise |= set(await _moved(conn, None))
    second = set(await _moved(conn, action))
    noise |= set(await _moved(conn, None))
    quiet = (first & second) - noise
    return {"indexes": sorted(name for kind, name in quiet if kind == "index"),
            "seq_scans": sorted(name for kind, name in quiet if kind == "seq")}


async def measure(conn: asyncpg.Connection, web: str, cookie: str, reps: int,
                  attribute: Collection[str] = tuple(PAGES)) -> dict[str, dict[str, Any]]:
    """Each page's render times; for the pages of `attribute` (keys of PAGES), also the indexes its
    backends' queries used (about 12 s of waiting per page: the bench does it at the big size only,
    and for one page on the smoke test's tiny scale)."""
    out: dict[str, dict[str, Any]] = {}
    async with httpx.AsyncClient(base_url=web, timeout=60, headers={"Cookie": f"lcs_session={cookie}"},
                                 follow_redirects=False) as http:
        for key, (path_t, _) in PAGES.items():
            path = path_t.format(last4=DESK_SEARCH_LAST4)
            first = await http.get(path)
            if first.status_code == 404:
                out[key] = {"absent": True, "status": 404}
                continue
            if first.status_code != 200:
                out[key] = {"error": f"{first.status_code} {first.text[:200]}"}
                continue

            async def get(path: str = path) -> None:
                r = await http.get(path)
                if r.status_code != 200:
                    raise RuntimeError(f"{path}: {r.status_code} {r.text[:200]}")
            times = await timed_ms(get, reps, warmups=2)
            out[key] = {"p50_ms": statistics.median(times), "p95_ms": pct(times, 0.95),
                        "bytes": len(first.content), "reps": reps}
            if key == "search":  # how many shipments the digits match (the page shows the first 25)
                out[key]["matches"] = await conn.fetchval(
                    "SELECT count(*) FROM tracking.shipments WHERE phone_last4[1] = $1 OR phone_last4[2] = $1",
                    DESK_SEARCH_LAST4)
            if key in attribute:
                out[key].update(await used_by(conn, get))
    return out


async def open_complaints(http: httpx.AsyncClient, complaints_url: str, admin: dict[str, str], n: int,
                          waybills: list[str]) -> int:
    """`n` open complaints through complaints' API (the workbench's "complaints at risk" list
    reads every open one); returns how many were made."""
    sem = asyncio.Semaphore(6)
    made = 0

    async def one(i: int) -> None:
        nonlocal made
        body = {"customer_id": f"CB{i:05d}", "caller_name": "王先生", "phone": f"1380000{i:04d}",
                "waybill_no": waybills[i % len(waybills)] if waybills else None, "channel": "phone",
                "category": "other", "description": "货怎么还没到？"}
        async with sem:
            r = await http.post(f"{complaints_url}/v1/complaints", json=body, headers=admin)
        if r.status_code in (200, 201):
            made += 1
        elif made == 0 and i < 3:
            raise RuntimeError(f"POST /v1/complaints: {r.status_code} {r.text[:300]}")
    await asyncio.gather(*(one(i) for i in range(n)))
    return made
