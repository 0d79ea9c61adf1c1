"""Group commit for small writes many requests make at once: each caller's item is written in
one transaction with whatever other callers' items are waiting, and the caller returns once
that transaction committed (or raises its error). Nothing is acknowledged before it is durable.

Why: a row per request in a transaction of its own (an audit row of a public look-up) costs a
statement, a commit and a pool round trip each; under load, PostgreSQL's per-commit work and
the client's per-statement work were a large share of such a request. While one group commits,
the next forms, so the groups grow with the load and a lone request waits for nothing but its
own commit.

One writer per kind of item, per process; the flushing task starts with the first item and ends
when nothing is waiting, so an idle process holds no task and no connection. `GroupCall` is the
same grouping for any call that answers each item of a group (`GroupWriter` is one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import asyncpg

log = logging.getLogger("lcs.grouped")

T = TypeVar("T")
R = TypeVar("R")
Write = Callable[[asyncpg.Connection, Sequence[T]], Awaitable[None]]


class GroupCall(Generic[T, R]):
    """`await group.call(item)`: `item`'s result of one `call_group(items)` with whatever other
    callers' items were waiting; raises that call's error. `call_group` returns one result per
    item, in order. A group holds at most `max_group` items; one call is in flight at a time, and
    the next group forms while it is.

    Beside group commits (`GroupWriter`), web's public page reads tracking's view of the look-ups
    of the moment with one request (`services.web.public.service`)."""

    def __init__(self, call_group: Callable[[Sequence[T]], Awaitable[Sequence[R]]], *, max_group: int = 500) -> None:
        self.call_group = call_group
        self.max_group = max_group
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def call(self, item: T) -> R:
        # The loop from the flushing task when one runs (it runs on this loop: a group's futures
        # are all of one loop): `asyncio.get_running_loop()` makes a getpid() system call on
        # Python 3.11, and web's public page makes three group calls a request (2.5% of web's CPU
        # in figure 9's native profile).
        flusher = self._flusher
        loop = asyncio.get_running_loop() if flusher is None else flusher.get_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._waiting.append((item, future))
        if flusher is None:
            self._flusher = loop.create_task(self._flush())
        return await future  # a caller that goes away (cancelled) leaves its item in its group

    async def _flush(self) -> None:
        group: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._waiting:
                group, self._waiting = self._waiting[:self.max_group], self._waiting[self.max_group:]
                try:
                    results = await self.call_group([item for item, _ in group])
                    if len(results) != len(group):
                        raise RuntimeError(f"a group of {len(group)} got {len(results)} results")
                except Exception as exc:  # noqa: BLE001 - handed to every caller of the group
                    log.warning("group call failed", extra={"size": len(group), "error": repr(exc)})
                    for _, future in group:
                        if not future.done():  # else its caller went away
                            future.set_exception(exc)
                else:
                    for (_, future), result in zip(group, results, strict=True):
                        if not future.done():
                            future.set_result(result)
                group = []
        except asyncio.CancelledError:  # shutting down: nobody waits for what was not done
            for _, future in (*group, *self._waiting):
                future.cancel()
            self._waiting = []
            raise
        finally:
            self._flusher = None


class GroupWriter(GroupCall[T, None]):
    """`await writer.write(item)`: returns once `item` is committed; raises the group's error.

    `write_group(conn, items)` writes a group inside the transaction this opens; with
    `one_statement` it writes it with a single statement (e.g. `INSERT ... SELECT * FROM
    unnest(...)`), which is a transaction of its own: no BEGIN and COMMIT round trips. A group
    holds at most `max_group` items."""

    def __init__(self, pool: asyncpg.Pool, write_group: Write[T], *, max_group: int = 500,
                 one_statement: bool = False) -> None:
        super().__init__(self._write, max_group=max_group)
        self.pool = pool
        self.write_group = write_group
        self.one_statement = one_statement

    async def write(self, item: T) -> None:
        await self.call(item)

    async def _write(self, items: Sequence[T]) -> list[None]:
        async with self.pool.acquire() as conn:
            if self.one_statement:
                await self.write_group(conn, items)
            else:
                async with conn.transaction():
                    await self.write_group(conn, items)
        return [None] * len(items)
