"""PostgreSQL access: one asyncpg pool per service, pinned to the service's schema,
and the plain-SQL migration runner.

Migrations are `NNNN_name.sql` files. The shared ones (outbox, inbox, leases) are
applied into every service schema first, then the service's own, each in its own
transaction and recorded in `<schema>.schema_migrations` with a checksum. A
session-level advisory lock per schema makes two processes migrating at once
safe: the second waits, then finds nothing left to do.

A migration whose first line is `-- lcs:no-transaction` runs outside a transaction, one
statement at a time (statements end with `;` at the end of a line): for `CREATE INDEX
CONCURRENTLY` on a big table, which must not hold the table's write lock for the whole
build while the old release keeps serving (a `DO $$ ... $$;` block is one statement, one
transaction of its own). It is recorded only once every statement
succeeded, so write it to be re-runnable from the top (e.g. `DROP INDEX CONCURRENTLY IF
EXISTS` first: a build that died half-way leaves an invalid index behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from shared.sql import literal

log = logging.getLogger("lcs.db")

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_NAMESPACE = 0x1C5  # first key of the two-key advisory lock used for migrations


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


async def _init_connection(conn: asyncpg.Connection, *, schema: str) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=_json_dumps, decoder=orjson.loads, schema="pg_catalog")
    statements = _PREPARED.get(schema)
    if statements:
        await conn.execute("; ".join(
            f"PREPARE {p.name}({', '.join(p.types)}) AS {p.sql}" for p in statements.values()))


# --- statements run by name, their arguments inlined ---------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A statement that every pooled connection of its schema prepares (SQL `PREPARE`) when it
    opens (`create_pool`), so that it can be run by name from a simple query, its arguments
    written into it as constants, together with other statements (`execute_and_commit`)."""

    name: str
    types: tuple[str, ...]  # of its parameters $1, $2, ...
    sql: str


_PREPARED: dict[str, dict[str, Prepared]] = {}


def prepare_on_connect(schema: str, name: str, types: tuple[str, ...], sql: str) -> Prepared:
    """Declare `sql` a statement that the connections of `schema`'s pools prepare when they open
    (declared when the module that runs it is imported, before any pool opens: a connection
    opened earlier does not have it, and running it there fails on its name)."""
    if not name.isidentifier():
        raise ValueError(f"invalid statement name {name!r}")
    statement = Prepared(name, types, sql)
    _PREPARED.setdefault(schema, {})[name] = statement
    return statement


async def execute_and_commit(conn: asyncpg.Connection, statement: Prepared, args: Sequence[Any]) -> None:
    """Run `statement` (`prepare_on_connect`) with `args`, then COMMIT the caller's transaction, in
    ONE round trip: a simple query, `EXECUTE name(<args as constants>); COMMIT` (the extended
    protocol, which binds parameters, runs one statement per round trip in asyncpg). When the
    statement fails, the COMMIT does not run: the transaction is left failed, for the caller to
    roll back.

    Why: the statement that ends a transaction often takes its row locks last, and holds them
    until COMMIT. Sent apart, the COMMIT waits for the client to read the statement's answer and
    send it: on a busy event loop that wait, with the locks held, was as long as the statement
    itself (the batch ingest, `services.tracking.feeds.ingest`). Args: str, bytes, None, a sequence
    of bytes or None (`shared.sql.literal`); the statement's result is not returned."""
    if len(args) != len(statement.types):
        raise TypeError(f"{statement.name} takes {len(statement.types)} arguments, not {len(args)}")
    if not conn.is_in_transaction():
        raise RuntimeError("execute_and_commit must run inside a transaction")
    await conn.execute(f"EXECUTE {statement.name}({', '.join(map(literal, args))}); COMMIT")


async def create_pool(dsn: str, schema: str, *, min_size: int = 2, max_size: int = 10,
                      application: str = "lcs") -> asyncpg.Pool:
    """A pool whose connections see the service's schema first (`search_path`), each with the
    statements declared for the schema prepared (`prepare_on_connect`)."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=functools.partial(_init_connection, schema=schema),
        reset=_no_session_state,
        # standard-conforming strings pinned: `shared.sql.literal` writes constants for them
        server_settings={"search_path": f"{schema},public", "application_name": application,
                         "standard_conforming_strings": "on"},
        command_timeout=60,
    )
    assert pool is not None
    return pool


async def _no_session_state(conn: asyncpg.Connection) -> None:
    """What a pooled connection is reset with on release: nothing beyond asyncpg's own (it still
    rolls back a transaction left open). asyncpg's default sends `SELECT pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL` — one more round trip per request, per consumed event, per
    group commit — to undo session state these pools never keep: session advisory locks and
    LISTEN live on dedicated connections (`migrate`, the scheduler, `Listener`), nothing runs
    SET, and cursors live inside transactions."""


NO_TRANSACTION = "-- lcs:no-transaction"
_DOLLAR_QUOTE = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


@dataclass(frozen=True)
class Migration:
    version: str  # e.g. "shared/0001_outbox" or "0001_init"
    sql: str

    @property
    def transactional(self) -> bool:
        return not self.sql.lstrip().startswith(NO_TRANSACTION)

    def statements(self) -> list[str]:
        """The statements of a no-transaction migration, in order (comments dropped). A `;` inside
        a dollar-quoted body (`DO $$ ... $$;`, `$fn$ ... $fn$`) does not end the statement (string
        literals are not parsed: write no `$$` inside one)."""
        out: list[str] = []
        current: list[str] = []
        quote: str | None = None  # the dollar-quote tag the current line is inside of
        for line in self.sql.splitlines():
            if line.strip().startswith("--") and not current:
                continue
            current.append(line)
            for tag in _DOLLAR_QUOTE.findall(line):
                if quote is None:
                    quote = tag
                elif tag == quote:
                    quote = None
            if quote is None and line.rstrip().endswith(";"):
                out.append("\n".join(current).strip())
                current = []
        if "\n".join(current).strip():
            out.append("\n".join(current).strip())
        return out

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path, prefix: str = "") -> list[Migration]:
    files = sorted(p for p in directory.glob("*.sql") if p.name[:4].isdigit())
    return [Migration(prefix + p.stem, p.read_text(encoding="utf-8")) for p in files]


def migrations_for(service_dir: Path) -> list[Migration]:
    """The shared migrations, then the service's own, in order."""
    return load_migrations(SHARED_MIGRATIONS, "shared/") + load_migrations(service_dir / "migrations")


class MigrationError(RuntimeError):
    pass


async def migrate(dsn: str, schema: str, migrations: list[Migration]) -> list[str]:
    """Apply what is not applied yet; returns the versions applied by this call."""
    if not schema.isidentifier():
        raise MigrationError(f"invalid schema name {schema!r}")
    conn = await asyncpg.connect(dsn)
    applied_now: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", _LOCK_NAMESPACE, schema)
        try:
            # Only when missing: CREATE SCHEMA IF NOT EXISTS still needs CREATE on the database,
            # which a least-privilege role that already owns its schema does not have.
            if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
                await conn.execute(f"CREATE SCHEMA {schema}")
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ("
                " version text PRIMARY KEY, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            rows = await conn.fetch(f"SELECT version, checksum FROM {schema}.schema_migrations")
            done = {r["version"]: r["checksum"] for r in rows}
            for m in migrations:
                if m.version in done:
                    if done[m.version] != m.checksum:
                        raise MigrationError(
                            f"{schema}: migration {m.version} was changed after it was applied"
                        )
                    continue
                record = (f"INSERT INTO {schema}.schema_migrations (version, checksum) VALUES ($1, $2)",
                          m.version, m.checksum)
                if m.transactional:
                    async with conn.transaction():
                        await conn.execute(f"SET LOCAL search_path TO {schema}, public")
                        await conn.execute(m.sql)
                        await conn.execute(*record)
                else:
                    await conn.execute(f"SET search_path TO {schema}, public")
                    try:
                        for statement in m.statements():
                            await conn.execute(statement)
                    finally:
                        await conn.execute("RESET search_path")
                    await conn.execute(*record)  # only once every statement succeeded
                applied_now.append(m.version)
                log.info("migration applied", extra={"schema": schema, "version": m.version})
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1, hashtext($2))", _LOCK_NAMESPACE, schema)
    finally:
        await conn.close()
    return applied_now


class Listener:
    """LISTEN on a channel over a dedicated connection, setting `wake` on every NOTIFY.

    The connection is (re)opened by `ensure()`, which callers invoke on each loop turn; while
    it is down, their polling fallback carries on. A fresh listener also sets `wake`, since
    notifications sent while nobody listened are lost.
    """

    def __init__(self, dsn: str, channel: str, wake: asyncio.Event) -> None:
        self.dsn = dsn
        self.channel = channel
        self.wake = wake
        self._conn: asyncpg.Connection | None = None

    async def ensure(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            return
        try:
            conn = await asyncpg.connect(self.dsn, timeout=5)
            await conn.add_listener(self.channel, lambda *_: self.wake.set())
            self._conn = conn
            self.wake.set()
        except Exception as exc:  # noqa: BLE001 - polling carries on without it
            log.debug("listener unavailable", extra={"channel": self.channel, "error": repr(exc)})
            self._conn = None

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)
