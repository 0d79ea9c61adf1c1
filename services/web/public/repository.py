"""web's own tables of the public page: the digit lock per waybill, the audit log of look-ups."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import asyncpg

from services.web.domain.public import DigitLock
from shared.ratelimit import SharedWindows

_DIGIT_LOCK = "SELECT failures, first_at, locked_until FROM public_digit_failures WHERE waybill_hash = {}"


def _lock_of(row: Mapping[str, Any] | None) -> DigitLock | None:
    if row is None or row["first_at"] is None:
        return None
    return DigitLock(failures=row["failures"], first_at=row["first_at"], locked_until=row["locked_until"])


async def digit_lock(conn: asyncpg.Connection, waybill_hash: bytes, *, for_update: bool = False) -> DigitLock | None:
    return _lock_of(await conn.fetchrow(_DIGIT_LOCK.format("$1") + (" FOR UPDATE" if for_update else ""),
                                        waybill_hash))


async def take_many_with_digit_locks(limiter: SharedWindows, items: Sequence[tuple[str, bytes | None]],
                                     ) -> list[tuple[float, DigitLock | None]]:
    """The addresses' limits counted and the waybills' digit locks read for many look-ups at once,
    in one statement: (address key, waybill hash or None: no lock to read) each, counted as if they
    had come one after another in that order."""
    answers = await limiter.take_reading_many([(key, waybill_hash.hex() if waybill_hash is not None else None)
                                               for key, waybill_hash in items],
                                              _DIGIT_LOCK.format("decode({}, 'hex')"))
    return [(wait, _lock_of(row)) for wait, row in answers]


async def save_digit_lock(conn: asyncpg.Connection, waybill_hash: bytes, state: DigitLock) -> None:
    await conn.execute(
        "INSERT INTO public_digit_failures (waybill_hash, failures, first_at, locked_until) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (waybill_hash) DO UPDATE SET failures = $2, first_at = $3, locked_until = $4",
        waybill_hash, state.failures, state.first_at, state.locked_until)


async def lock_row(conn: asyncpg.Connection, waybill_hash: bytes) -> None:
    """Serialise the failures of one waybill across replicas (the row may not exist yet)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('public-digits:' || encode($1, 'hex'), 0))",
                       waybill_hash)


class LookupRow(NamedTuple):
    """One look-up as the audit log keeps it (already masked)."""

    at: datetime
    address: str
    via: str
    waybill_suffix: str | None
    digits: str | None
    outcome: str


async def log_lookups(conn: asyncpg.Connection, rows: Sequence[LookupRow]) -> None:
    """A group of look-ups in one statement (`WebContext.lookup_log` writes them as they come)."""
    await conn.execute(
        "INSERT INTO public_lookups (at, address, via, waybill_suffix, digits, outcome) "
        "SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])",
        [r.at for r in rows], [r.address[:100] for r in rows], [r.via for r in rows],
        [r.waybill_suffix for r in rows], [r.digits for r in rows], [r.outcome for r in rows])


async def sweep(conn: asyncpg.Connection, *, now: datetime, retention: timedelta, lock: timedelta) -> None:
    """The look-ups past their retention, and digit counts that neither lock nor count any more."""
    await conn.execute("DELETE FROM public_lookups WHERE at < $1", now - retention)
    await conn.execute("DELETE FROM public_digit_failures WHERE first_at < $1 "
                       "AND (locked_until IS NULL OR locked_until < $2)", now - lock, now)
