"""`shared.sql.literal` and `shared.db.execute_and_commit` against the real PostgreSQL: a value
written as an SQL constant reads back exactly as sent (whatever quotes, backslashes, dollar signs
or semicolons a string holds), and a
statement prepared on every pooled connection of its schema runs by name with its COMMIT in one
simple query: committed when it succeeds, nothing committed when it fails."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.db import create_pool, execute_and_commit, prepare_on_connect
from shared.sql import literal
from tests.conftest import Infra, run_sync

texts = st.text(max_size=40).filter(lambda s: "\x00" not in s)  # PostgreSQL's text holds no NUL
tricky = st.sampled_from(["'", "''", "\\", "\\'", "'; DROP TABLE x; --", "$$", "$1", "E'\\x00'", "\\x41", "{}"])
strings = st.lists(texts | tricky, max_size=4).map("".join)
byteas = st.binary(max_size=40)


async def _read_back(url: str, values: list[Any], types: list[str]) -> list[Any]:
    """The values as constants, each cast to its type, in one simple query's row."""
    conn = await asyncpg.connect(url)
    try:
        select = ", ".join(f"({literal(v)})::{t} AS c{i}" for i, (v, t) in enumerate(zip(values, types, strict=True)))
        await conn.execute(f"CREATE TEMP TABLE read_back AS SELECT {select}")  # a simple query, as sent for real
        row = await conn.fetchrow("SELECT * FROM read_back")
        assert row is not None
        return list(row)
    finally:
        await conn.close()


@settings(max_examples=60, deadline=None)
@given(text=strings, blob=byteas, blobs=st.lists(st.none() | byteas, max_size=5))
def test_constants_read_back_as_sent(infra: Infra, text: str, blob: bytes, blobs: list[bytes | None]) -> None:
    got = run_sync(_read_back(infra.database_url, [text, blob, blobs, None], ["text", "bytea", "bytea[]", "text"]))
    assert got == [text, blob, blobs, None]


def test_a_string_with_nul_is_refused() -> None:
    with pytest.raises(ValueError, match="NUL"):
        literal("a\x00b")


def _schema() -> str:
    return f"sqlcommit_{uuid.uuid4().hex[:8]}"


async def _scenario(url: str) -> dict[str, Any]:
    schema = _schema()
    admin = await asyncpg.connect(url)
    await admin.execute(f"CREATE SCHEMA {schema}; "
                        f"CREATE TABLE {schema}.notes (id int PRIMARY KEY, body text, blob bytea)")
    insert = prepare_on_connect(schema, f"ins_{schema}", ("int", "text", "bytea[]"),
                                "INSERT INTO notes (id, body, blob) SELECT $1, $2, b FROM unnest($3) AS b LIMIT 1")
    pool = await create_pool(url, schema, min_size=1, max_size=1)
    out: dict[str, Any] = {}
    try:
        async with pool.acquire() as conn:
            out["prepared"] = await conn.fetchval(
                "SELECT count(*) FROM pg_prepared_statements WHERE name = $1 AND from_sql", insert.name)
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO notes (id, body) VALUES (0, 'before')")  # the same transaction
            await execute_and_commit(conn, insert, ["1", "it's; $1 \\ 引号", [b"\x00\xff", None]])
            out["after_commit_in_transaction"] = conn.is_in_transaction()
            # fails (duplicate key): the transaction is left failed, nothing of it committed
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO notes (id, body) VALUES (2, 'lost')")
            with pytest.raises(asyncpg.UniqueViolationError):
                await execute_and_commit(conn, insert, ["1", "again", [b"x"]])
            out["failed_in_transaction"] = conn.is_in_transaction()
            await conn.execute("ROLLBACK")
            with pytest.raises(RuntimeError, match="inside a transaction"):
                await execute_and_commit(conn, insert, ["3", "x", []])
            with pytest.raises(TypeError, match="takes 3 arguments"):
                await execute_and_commit(conn, insert, ["3", "x"])
        out["rows"] = [tuple(r) for r in await admin.fetch(f"SELECT id, body, blob FROM {schema}.notes ORDER BY id")]
    finally:
        await pool.close()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()
    return out


def test_a_prepared_statement_runs_and_commits_in_one_simple_query(infra: Infra) -> None:
    out = run_sync(_scenario(infra.database_url))
    assert out["prepared"] == 1  # prepared by the pool's connection when it opened
    assert out["after_commit_in_transaction"] is False
    assert out["failed_in_transaction"] is True  # the COMMIT did not run: the caller rolls back
    assert out["rows"] == [(0, "before", None), (1, "it's; $1 \\ 引号", b"\x00\xff")]
