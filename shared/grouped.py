"""Group commit for small writes many requests make at once: each caller's item is written in
one transaction with whatever other callers' items are waiting, and the caller returns once
that transaction committed (or raises its error). Nothing is acknowledged before it is durable.

Why: a row per request in a transaction of its own (an audit row of a public look-up) costs a
statement, a commit and a pool round trip each; under load, PostgreSQL's per-commit work and
the client's per-statement work were a large share of such a request. While one group commits,
the next forms, so the groups grow with the load and a lone request waits for nothing but its
own commit.

One writer per kind of item, per process; the flushing task starts with the first item and ends
when nothing is waiting, so an idle process holds no task and no connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import asyncpg

log = logging.getLogger("lcs.grouped")

T = TypeVar("T")
Write = Callable[[asyncpg.Connection, Sequence[T]], Awaitable[None]]


class GroupWriter(Generic[T]):
    """`await writer.write(item)`: returns once `item` is committed; raises the group's error.

    `write_group(conn, items)` writes a group inside the transaction this opens; with
    `one_statement` it writes it with a single statement (e.g. `INSERT ... SELECT * FROM
    unnest(...)`), which is a transaction of its own: no BEGIN and COMMIT round trips. A group
    holds at most `max_group` items."""

    def __init__(self, pool: asyncpg.Pool, write_group: Write[T], *, max_group: int = 500,
                 one_statement: bool = False) -> None:
        self.pool = pool
        self.write_group = write_group
        self.max_group = max_group
        self.one_statement = one_statement
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, item: T) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        await future  # a caller that goes away (cancelled) leaves its item in its group

    async def _flush(self) -> None:
        group: list[tuple[T, asyncio.Future[None]]] = []
        try:
            while self._waiting:
                group, self._waiting = self._waiting[:self.max_group], self._waiting[self.max_group:]
                try:
                    async with self.pool.acquire() as conn:
                        if self.one_statement:
                            await self.write_group(conn, [item for item, _ in group])
                        else:
                            async with conn.transaction():
                                await self.write_group(conn, [item for item, _ in group])
                except Exception as exc:  # noqa: BLE001 - handed to every caller of the group
                    log.warning("group write failed", extra={"size": len(group), "error": repr(exc)})
                    _settle(group, exc)
                else:
                    _settle(group, None)
                group = []
        except asyncio.CancelledError:  # shutting down: nobody waits for what was not written
            for _, future in (*group, *self._waiting):
                future.cancel()
            self._waiting = []
            raise
        finally:
            self._flusher = None


def _settle(group: Sequence[tuple[object, asyncio.Future[None]]], error: Exception | None) -> None:
    for _, future in group:
        if future.done():  # its caller went away
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
