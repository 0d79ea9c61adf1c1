"""The SLA defaults have one source, `domain/sla.py` `DEFAULT_SLA_POLICIES`: the migration that
seeds `sla_policies` must seed exactly that table (read back from a freshly migrated schema)."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg

from services.complaints.domain.sla import DEFAULT_SLA_POLICIES, FIRST_RESPONSE_MINUTES, QUOTE_MINUTES
from services.complaints.domain.vocabulary import Category
from services.complaints.sla.repository import load_policies
from shared.db import migrate, migrations_for
from tests.conftest import Infra

SERVICE_DIR = Path(__file__).resolve().parents[3] / "services" / "complaints"


async def test_the_migration_seeds_exactly_the_python_sla_table(infra: Infra) -> None:
    schema = f"complaints_seed_{uuid.uuid4().hex[:8]}"
    await migrate(infra.database_url, schema, migrations_for(SERVICE_DIR))
    conn = await asyncpg.connect(infra.database_url, server_settings={"search_path": schema})
    try:
        seeded = await load_policies(conn)
        updated_by = {r["updated_by"] for r in await conn.fetch("SELECT updated_by FROM sla_policies")}
    finally:
        await conn.close()
    assert sorted(seeded, key=repr) == sorted(DEFAULT_SLA_POLICIES, key=repr)
    assert len(seeded) == len(DEFAULT_SLA_POLICIES) and updated_by == {"system:seed"}


def test_the_seed_numbers_are_the_seeds() -> None:
    """5 minutes to return a call (5分钟之内回复客户), 8 hours to quote (必须在8小时内回复)."""
    assert FIRST_RESPONSE_MINUTES == 5 and QUOTE_MINUTES == 8 * 60
    assert all(p.first_response_minutes == FIRST_RESPONSE_MINUTES for p in DEFAULT_SLA_POLICIES)
    [quote] = [p for p in DEFAULT_SLA_POLICIES if p.category is Category.QUOTE]
    assert quote.resolution_minutes == QUOTE_MINUTES
