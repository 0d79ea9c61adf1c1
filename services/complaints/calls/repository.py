"""SQL of the call log (`calls`) and the callbacks marked done (`callbacks_done`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from shared.sql import Filters

Row = dict[str, Any]


async def insert_call(conn: asyncpg.Connection, call: Row) -> Row:
    columns = list(call)
    row = await conn.fetchrow(
        f"INSERT INTO calls ({', '.join(columns)}) VALUES ({', '.join(f'${i}' for i in range(1, len(columns) + 1))})"
        " RETURNING *", *(call[c] for c in columns))
    assert row is not None
    return dict(row)


# A callback is settled once a returning call with a settling outcome names it, or once it
# was marked done. `c` is the promising call.
_SETTLED = ("(EXISTS (SELECT 1 FROM calls r WHERE r.callback_of = c.id AND r.settles_callback)"
            " OR EXISTS (SELECT 1 FROM callbacks_done d WHERE d.call_id = c.id))")
# A call as it is read back: the row, and when, by whom and why its callback was marked done.
_CALL_READ = ("SELECT c.*, d.done_at AS callback_done_at, d.done_by AS callback_done_by, "
              "d.note AS callback_done_note FROM calls c LEFT JOIN callbacks_done d ON d.call_id = c.id")


async def get_call(conn: asyncpg.Connection, call_id: uuid.UUID) -> Row | None:
    row = await conn.fetchrow(f"{_CALL_READ} WHERE c.id = $1", call_id)
    return None if row is None else dict(row)


async def lock_callback(conn: asyncpg.Connection, call_id: uuid.UUID) -> Row | None:
    """The call a returning call (or marking it done) names, row-locked (two desks settling it at
    once queue here), with whether it is already settled."""
    row = await conn.fetchrow(
        f"SELECT c.id, c.outcome, {_SETTLED} AS settled FROM calls c WHERE c.id = $1 FOR UPDATE", call_id)
    return None if row is None else dict(row)


async def mark_callback_done(conn: asyncpg.Connection, call_id: uuid.UUID, *, at: datetime, by: str,
                             note: str | None) -> None:
    await conn.execute("INSERT INTO callbacks_done (call_id, done_at, done_by, note) VALUES ($1, $2, $3, $4)",
                       call_id, at, by, note)


async def callbacks_due(conn: asyncpg.Connection, *, now: datetime, due_before: datetime | None,
                        customer_id: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Row]:
    """Callbacks still owed (promised, not settled), soonest due first, keyset on (due, id)."""
    f = Filters()
    f.where("c.outcome = 'callback'")
    f.where(f"NOT {_SETTLED}")
    f.equals("c.customer_id", customer_id)
    if due_before is not None:
        f.where(f"c.callback_due <= {f.param(due_before)}")
    if after is not None:
        f.where(f"(c.callback_due, c.id) > ({f.param(after[0])}, {f.param(after[1])})")
    rows = await conn.fetch(
        f"SELECT c.*, c.callback_due < {f.param(now)} AS overdue, "
        "(SELECT count(*) FROM calls a WHERE a.callback_of = c.id) AS attempts "
        f"FROM calls c {f.clause} ORDER BY c.callback_due, c.id LIMIT {f.param(limit)}", *f.args)
    return [dict(r) for r in rows]


async def list_calls(conn: asyncpg.Connection, *, customer_id: str | None, waybill_no: str | None,
                     outcome: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Row]:
    f = Filters()
    f.equals("c.customer_id", customer_id)
    f.equals("c.waybill_no", waybill_no)
    f.equals("c.outcome", outcome)
    if after is not None:
        f.where(f"(c.called_at, c.id) < ({f.param(after[0])}, {f.param(after[1])})")
    rows = await conn.fetch(f"{_CALL_READ} {f.clause} ORDER BY c.called_at DESC, c.id DESC LIMIT {f.param(limit)}",
                            *f.args)
    return [dict(r) for r in rows]
