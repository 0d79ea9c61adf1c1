"""shared.grouped.GroupWriter against the real PostgreSQL: callers waiting at once share one
transaction (bounded by `max_group`), each returns only once its item is committed, a failed group
fails all of its callers and none of the next group's, and a caller that goes away leaves its item
in its group."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest

from shared.grouped import GroupWriter
from tests.conftest import Infra, unique


@pytest.fixture
async def table(infra: Infra) -> AsyncIterator[tuple[asyncpg.Pool, str]]:
    name = f"grouped_{unique().lower()}"
    pool = await asyncpg.create_pool(infra.database_url, min_size=1, max_size=4)
    assert pool is not None
    await pool.execute(f"CREATE TABLE {name} (n int PRIMARY KEY, txid bigint NOT NULL DEFAULT txid_current())")
    try:
        yield pool, name
    finally:
        await pool.execute(f"DROP TABLE {name}")
        await pool.close()


def writer_of(pool: asyncpg.Pool, table: str, sizes: list[int], *, max_group: int = 500,
              one_statement: bool = False) -> GroupWriter[int]:
    async def write_group(conn: asyncpg.Connection, items: Sequence[int]) -> None:
        sizes.append(len(items))
        if one_statement:
            await conn.execute(f"INSERT INTO {table} (n) SELECT * FROM unnest($1::int[])", list(items))
        else:  # a statement per item: the transaction GroupWriter opens makes the group all or nothing
            for n in items:
                await conn.execute(f"INSERT INTO {table} (n) VALUES ($1)", n)
    return GroupWriter(pool, write_group, max_group=max_group, one_statement=one_statement)


@pytest.mark.parametrize("one_statement", [False, True])
async def test_callers_waiting_at_once_share_transactions_of_at_most_max_group(
        table: tuple[asyncpg.Pool, str], one_statement: bool) -> None:
    pool, name = table
    sizes: list[int] = []
    writer = writer_of(pool, name, sizes, max_group=20, one_statement=one_statement)
    await asyncio.gather(*(writer.write(n) for n in range(50)))
    assert sizes == [20, 20, 10]
    rows = await pool.fetch(f"SELECT n, txid FROM {name} ORDER BY n")
    assert [r["n"] for r in rows] == list(range(50))
    assert len({r["txid"] for r in rows}) == 3  # one transaction per group
    await writer.write(50)  # the flusher ended with nothing waiting, and starts again
    assert sizes == [20, 20, 10, 1]


@pytest.mark.parametrize("one_statement", [False, True])
async def test_a_write_returns_once_committed_and_a_failed_group_fails_only_its_callers(
        table: tuple[asyncpg.Pool, str], one_statement: bool) -> None:
    pool, name = table
    writer = writer_of(pool, name, [], max_group=3, one_statement=one_statement)
    await writer.write(1)
    assert await pool.fetchval(f"SELECT count(*) FROM {name} WHERE n = 1") == 1  # seen from another connection
    results = await asyncio.gather(*(writer.write(n) for n in (2, 1, 3, 4, 5)), return_exceptions=True)
    # the first group (2, 1, 3) breaks the key: none of it is stored; the next (4, 5) is
    assert [type(r) for r in results[:3]] == [asyncpg.UniqueViolationError] * 3 and results[3:] == [None, None]
    assert [r["n"] for r in await pool.fetch(f"SELECT n FROM {name} ORDER BY n")] == [1, 4, 5]


async def test_a_caller_that_goes_away_leaves_its_item_in_its_group(table: tuple[asyncpg.Pool, str]) -> None:
    pool, name = table
    sizes: list[int] = []
    writer = writer_of(pool, name, sizes)
    gone = asyncio.create_task(writer.write(7))
    stays = asyncio.create_task(writer.write(8))
    await asyncio.sleep(0)  # both are waiting for their group
    gone.cancel()
    await stays
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert sizes == [2]
    assert [r["n"] for r in await pool.fetch(f"SELECT n FROM {name} ORDER BY n")] == [7, 8]
