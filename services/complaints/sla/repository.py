"""SQL of the SLA policy set (`sla_policies`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from services.complaints.domain.sla import SlaPolicy
from services.complaints.domain.vocabulary import Category, Priority

Row = dict[str, Any]


def policy_of(row: Mapping[str, Any]) -> SlaPolicy:
    """A stored (or submitted) policy as the domain's `SlaPolicy` (which checks its targets)."""
    return SlaPolicy(Category(row["category"]) if row["category"] else None,
                     Priority(row["priority"]) if row["priority"] else None,
                     row["first_response_minutes"], row["resolution_minutes"])


async def list_policies(conn: asyncpg.Connection) -> list[Row]:
    rows = await conn.fetch(
        "SELECT category, priority, first_response_minutes, resolution_minutes, updated_at, updated_by "
        "FROM sla_policies ORDER BY category NULLS FIRST, priority NULLS FIRST")
    return [dict(r) for r in rows]


async def load_policies(conn: asyncpg.Connection) -> list[SlaPolicy]:
    return [policy_of(r) for r in await list_policies(conn)]


async def replace_policies(conn: asyncpg.Connection, policies: Sequence[SlaPolicy], actor: str) -> None:
    await conn.execute("LOCK TABLE sla_policies IN EXCLUSIVE MODE")
    await conn.execute("DELETE FROM sla_policies")
    await conn.executemany(
        "INSERT INTO sla_policies (category, priority, first_response_minutes, resolution_minutes, updated_by) "
        "VALUES ($1, $2, $3, $4, $5)",
        [(None if p.category is None else p.category.value, None if p.priority is None else p.priority.value,
          p.first_response_minutes, p.resolution_minutes, actor) for p in policies])
