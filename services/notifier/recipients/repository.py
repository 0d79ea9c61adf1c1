"""SQL of the recipients' preferences (the `recipients` table)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import asyncpg

from services.notifier.domain.preferences import ChannelPreferences, Preferences, QuietHours
from services.notifier.domain.vocabulary import Language


def preferences_of(row: asyncpg.Record) -> Preferences:
    return Preferences(
        name=row["name"], phone=row["phone"], email=row["email"], language=Language(row["language"]),
        channels=ChannelPreferences(sms=row["sms_enabled"], email=row["email_enabled"], wecom=row["wecom_enabled"]),
        quiet_hours=QuietHours(start=row["quiet_start"], end=row["quiet_end"], tz=row["quiet_tz"]),
        wecom_key=row["wecom_key"],
    )


async def preferences(conn: asyncpg.Connection, customer_ids: Iterable[str]) -> dict[str, Preferences]:
    ids = sorted({c for c in customer_ids if c})
    if not ids:
        return {}
    rows = await conn.fetch("SELECT * FROM recipients WHERE customer_id = ANY($1::text[])", ids)
    return {r["customer_id"]: preferences_of(r) for r in rows}


async def put_recipient(conn: asyncpg.Connection, customer_id: str, values: dict[str, Any],
                        actor: str, *, keep_wecom: bool = False) -> tuple[asyncpg.Record, bool]:
    """Create or replace a customer's preferences; `keep_wecom`: the stored robot key stays."""
    row = await conn.fetchrow(
        """
        INSERT INTO recipients AS r (customer_id, name, phone, email, language, sms_enabled, email_enabled,
                                     quiet_start, quiet_end, quiet_tz, key_customer, updated_by,
                                     wecom_key, wecom_enabled, storage_report_enabled, storage_report_hour)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
        ON CONFLICT (customer_id) DO UPDATE SET
            name = EXCLUDED.name, phone = EXCLUDED.phone, email = EXCLUDED.email, language = EXCLUDED.language,
            sms_enabled = EXCLUDED.sms_enabled, email_enabled = EXCLUDED.email_enabled,
            quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end, quiet_tz = EXCLUDED.quiet_tz,
            key_customer = EXCLUDED.key_customer, updated_by = EXCLUDED.updated_by, updated_at = now(),
            wecom_key = CASE WHEN $17 THEN r.wecom_key ELSE EXCLUDED.wecom_key END,
            wecom_enabled = EXCLUDED.wecom_enabled, storage_report_enabled = EXCLUDED.storage_report_enabled,
            storage_report_hour = EXCLUDED.storage_report_hour
        RETURNING *, (xmax = 0) AS created
        """,
        customer_id, values["name"], values["phone"], values["email"], values["language"], values["sms"],
        values["email_enabled"], values["quiet_start"], values["quiet_end"], values["quiet_tz"],
        values["key_customer"], actor, values["wecom_key"], values["wecom_enabled"],
        values["storage_report_enabled"], values["storage_report_hour"], keep_wecom,
    )
    assert row is not None
    return row, bool(row["created"])


async def get_recipient(conn: asyncpg.Connection | asyncpg.Pool, customer_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM recipients WHERE customer_id = $1", customer_id)


async def key_customers(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM recipients WHERE key_customer ORDER BY customer_id"))


async def storage_report_accounts(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    """The key accounts that asked for the daily storage report."""
    return list(await conn.fetch(
        "SELECT * FROM recipients WHERE key_customer AND storage_report_enabled ORDER BY customer_id"))
