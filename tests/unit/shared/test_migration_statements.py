"""How a `-- lcs:no-transaction` migration is split into statements: at a `;` that ends a line,
except inside a dollar-quoted body (a DO block, a function), whatever its tag."""

from __future__ import annotations

from pathlib import Path

from shared.db import Migration

ROOT = Path(__file__).resolve().parents[3]


def test_a_do_block_is_one_statement_whatever_semicolons_end_its_lines() -> None:
    sql = """-- lcs:no-transaction
-- a comment before the first statement
ALTER TABLE t ADD COLUMN c int;
DO $$
DECLARE x int;
BEGIN
    IF true THEN
        x := 1;
    END IF;
    CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        RETURN NULL;
    END
    $fn$;
END
$$;
DO $body$ BEGIN PERFORM 1; END $body$;
SELECT 1;
"""
    statements = Migration("0001_x", sql).statements()
    assert statements[0] == "ALTER TABLE t ADD COLUMN c int;"
    assert statements[1].startswith("DO $$\nDECLARE x int;") and statements[1].endswith("$fn$;\nEND\n$$;")
    assert statements[2] == "DO $body$ BEGIN PERFORM 1; END $body$;"
    assert statements[3] == "SELECT 1;"
    assert len(statements) == 4


def test_trackings_partitioning_migration_is_three_statements() -> None:
    sql = (ROOT / "services/tracking/migrations/0016_positions_partitioned.sql").read_text(encoding="utf-8")
    m = Migration("0016_positions_partitioned", sql)
    assert not m.transactional
    statements = m.statements()
    assert len(statements) == 3
    assert all(s.startswith("DO $$") and s.endswith("$$;") for s in statements)
