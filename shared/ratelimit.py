"""Rate limits that hold across replicas: per caller, counted in PostgreSQL.

A limit kept in process memory multiplies by the number of replicas and forgets on every
restart. Here each request adds one to its caller's row for the current minute in the
service's own `rate_windows` table (one upsert, `RETURNING` the count), so every replica
counts into the same row. Fixed one-minute windows: a caller may get up to twice the limit
across a window boundary, the usual trade for one statement per request.

The caller is the verified principal (`role:sub`), not the header's text: `bearer X`,
`Bearer X` and `Bearer   X` are one caller. A request without a valid token is counted
under its client address, so made-up tokens share one row instead of one each.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence

import asyncpg
from asyncpg import Record

log = logging.getLogger("lcs.ratelimit")

_TAKE = """
INSERT INTO rate_windows (key, window_start, hits) VALUES ($1, to_timestamp($2), 1)
ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_windows.hits + 1
RETURNING hits
"""
_HITS = "SELECT hits FROM rate_windows WHERE key = $1 AND window_start = to_timestamp($2)"
_SWEEP = "DELETE FROM rate_windows WHERE window_start < to_timestamp($1)"
WINDOW_SECONDS = 60
SWEEP_EVERY_SECONDS = 60.0


class SharedWindows:
    """`per_minute` requests per caller and minute, across every replica sharing the pool's schema."""

    def __init__(self, pool: asyncpg.Pool, per_minute: int, *, clock: Callable[[], float] = time.time) -> None:
        self.pool = pool
        self.per_minute = per_minute
        self.clock = clock  # epoch seconds; the replicas' clocks agree through NTP
        self._next_sweep = 0.0
        self._reading_many: dict[str, str] = {}  # take_reading_many's statements, by their read

    async def take(self, key: str) -> float:
        """0 if the request may go on, else seconds until the caller's window ends.
        When the database cannot answer, the request goes on: it needs the database anyway,
        and its own handling answers 503."""
        now = self.clock()
        window_start = now - now % WINDOW_SECONDS
        try:
            async with self.pool.acquire() as conn:
                hits = await conn.fetchval(_TAKE, key, window_start)
                await self._sweep(conn, now, window_start)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("rate limit not checked: database unavailable", extra={"error": repr(exc)})
            return 0.0
        return self._wait(hits, now, window_start)

    async def take_reading_many(self, items: Sequence[tuple[str, str | None]], read: str) -> list[tuple[float, Record]]:
        """`take` for many requests at once, each with a read of the caller's own, in one statement
        and one round trip where requests need both (web's public look-ups of the moment: each
        address's limit and each waybill's digit lock). `items` are (caller key, the read's argument
        as text or None), each answered as if the requests had come one after another in that order
        (a key given three times counts three, the first seeing one hit, the last three). `read` is
        a SELECT of at most one row whose one parameter is written `{}` (a text expression, NULL
        for None); its record holds the read's columns, all NULL when it found no row, as committed
        before the statement. Unlike `take`, this raises when the database cannot answer: the
        callers need what it reads.

        The items go as one JSON array: a statement over `unnest` of arrays is planned again at
        every call (its row estimate follows the value), one over JSON keeps a generic plan.

        The window rows are upserted in key order, so groups counted at once on other connections
        (another replica, another group in flight) wait for each other's rows in that one order:
        in the aggregate's own order, two groups could each hold a row the other waits for, and
        PostgreSQL would fail one of them (a deadlock)."""
        now = self.clock()
        window_start = now - now % WINDOW_SECONDS
        sql = self._reading_many.get(read)
        if sql is None:
            sql = self._reading_many[read] = (
                "WITH q AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS q(i int, key text, arg text)), "
                "hit AS (INSERT INTO rate_windows (key, window_start, hits) "
                "SELECT key, to_timestamp($2), count(*) FROM q GROUP BY key ORDER BY key "
                "ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_windows.hits + excluded.hits "
                "RETURNING key, hits) "
                "SELECT q.i, (SELECT hit.hits FROM hit WHERE hit.key = q.key) AS window_hits, r.* "
                f"FROM q LEFT JOIN LATERAL ({read.format('q.arg')}) AS r ON true ORDER BY q.i")
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(sql, [{"i": i, "key": key, "arg": arg} for i, (key, arg) in enumerate(items)],
                                    window_start)
            await self._sweep(conn, now, window_start)
        after = Counter(key for key, _ in items)  # each key's hits after its last item in the group
        answers = []
        for (key, _), row in zip(items, rows, strict=True):
            after[key] -= 1
            answers.append((self._wait(row["window_hits"] - after[key], now, window_start), row))
        return answers

    def _wait(self, hits: int, now: float, window_start: float) -> float:
        return 0.0 if hits <= self.per_minute else window_start + WINDOW_SECONDS - now

    async def _sweep(self, conn: asyncpg.Connection, now: float, window_start: float) -> None:
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_EVERY_SECONDS
            await conn.execute(_SWEEP, window_start - WINDOW_SECONDS)

    async def over(self, key: str) -> float:
        """`take` without counting this request: 0 while the caller is within its limit, else
        seconds until its window ends. For a limit on failures, checked before an attempt
        whose failure alone is then counted with `take`."""
        now = self.clock()
        window_start = now - now % WINDOW_SECONDS
        try:
            async with self.pool.acquire() as conn:
                hits = await conn.fetchval(_HITS, key, window_start)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("rate limit not checked: database unavailable", extra={"error": repr(exc)})
            return 0.0
        return 0.0 if (hits or 0) < self.per_minute else window_start + WINDOW_SECONDS - now
