"""SQL of web.users and web.sessions (asyncpg; the pool's search_path is the web schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.web.people.models import Account

_ACCOUNT = ("id, username, display_name, role, branch, customer, password_hash, disabled, failed_count, "
            "locked_until")


def _account(row: asyncpg.Record) -> Account:
    return Account(**dict(row))


async def account_by_username(conn: asyncpg.Connection, username: str, *, lock: bool = False) -> Account | None:
    sql = f"SELECT {_ACCOUNT} FROM users WHERE username = $1" + (" FOR UPDATE" if lock else "")
    row = await conn.fetchrow(sql, username)
    return None if row is None else _account(row)


async def insert_account(conn: asyncpg.Connection, *, username: str, display_name: str, role: str,
                         branch: str | None, customer: str | None, password_hash: str) -> int:
    return int(await conn.fetchval(
        "INSERT INTO users (username, display_name, role, branch, customer, password_hash) "
        "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        username, display_name, role, branch, customer, password_hash))


async def set_password(conn: asyncpg.Connection, username: str, password_hash: str) -> bool:
    status = await conn.execute(
        "UPDATE users SET password_hash = $2, failed_count = 0, locked_until = NULL, disabled = false, "
        "updated_at = now() WHERE username = $1", username, password_hash)
    return status.endswith(" 1")


async def set_disabled(conn: asyncpg.Connection, username: str, disabled: bool) -> bool:
    status = await conn.execute("UPDATE users SET disabled = $2, updated_at = now() WHERE username = $1",
                                username, disabled)
    if disabled:
        await conn.execute("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = $1)",
                           username)
    return status.endswith(" 1")


async def set_lock_state(conn: asyncpg.Connection, user_id: int, failed_count: int,
                         locked_until: datetime | None) -> None:
    await conn.execute("UPDATE users SET failed_count = $2, locked_until = $3, updated_at = now() WHERE id = $1",
                       user_id, failed_count, locked_until)


async def display_names(conn: asyncpg.Connection | asyncpg.Pool, usernames: list[str]) -> dict[str, str]:
    """The display name of each of these users the desk knows."""
    if not usernames:
        return {}
    rows = await conn.fetch("SELECT username, display_name FROM users WHERE username = ANY($1::text[])", usernames)
    return {r["username"]: r["display_name"] for r in rows}


async def list_accounts(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT username, display_name, role, branch, customer, disabled, locked_until "
                            "FROM users ORDER BY username")
    return [dict(r) for r in rows]


async def insert_session(conn: asyncpg.Connection, *, id_hash: bytes, user_id: int, csrf_token: str,
                         expires_at: datetime) -> None:
    await conn.execute("INSERT INTO sessions (id_hash, user_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)",
                       id_hash, user_id, csrf_token, expires_at)


async def delete_session(conn: asyncpg.Connection | asyncpg.Pool, id_hash: bytes) -> None:
    await conn.execute("DELETE FROM sessions WHERE id_hash = $1", id_hash)


async def session_person(conn: asyncpg.Connection | asyncpg.Pool, id_hash: bytes,
                         now: datetime) -> asyncpg.Record | None:
    """The session's person, if the session is live and the account enabled."""
    return await conn.fetchrow(
        "SELECT s.csrf_token, s.seen_at, u.id AS user_id, u.username, u.display_name, u.role, u.branch, "
        "u.customer FROM sessions s JOIN users u ON u.id = s.user_id "
        "WHERE s.id_hash = $1 AND s.expires_at > $2 AND NOT u.disabled", id_hash, now)


async def touch_session(conn: asyncpg.Connection | asyncpg.Pool, id_hash: bytes, now: datetime,
                        expires_at: datetime) -> None:
    await conn.execute("UPDATE sessions SET seen_at = $2, expires_at = $3 WHERE id_hash = $1",
                       id_hash, now, expires_at)


async def delete_expired_sessions(conn: asyncpg.Connection | asyncpg.Pool, now: datetime) -> int:
    status = await conn.execute("DELETE FROM sessions WHERE expires_at <= $1", now)
    return int(status.split()[-1])
