"""`shared.sql.json_rows` / `json_row_columns` against the real PostgreSQL: rows sent as one JSON
parameter read back exactly what the same rows sent as a typed array per column
(`unnest($1::text[], ...)`, the way the ingest's statements took them before) read back, and
what was sent — every time zone, microsecond, float (shortest repr, integers, the extremes),
NULL pattern and text — and in the order sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.sql import json_row_columns, json_rows
from tests.conftest import Infra, run_sync

COLUMNS = (("name", "text"), ("at", "timestamptz"), ("x", "float8"), ("n", "int"), ("flag", "boolean"),
           ("maybe_at", "timestamptz"), ("maybe_x", "float8"))

zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3, minutes=-30))])
times = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=zones)
floats = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**40), 2**40)
texts = st.text(max_size=20).filter(lambda s: "\x00" not in s)  # PostgreSQL's text holds no NUL
row = st.tuples(texts, times, floats, st.integers(-(2**31), 2**31 - 1), st.booleans(), st.none() | times,
                st.none() | floats)


async def _read_both_ways(url: str, rows: list[tuple[Any, ...]]) -> tuple[list[Any], list[Any]]:
    # a session time zone other than UTC: an offset the JSON text lacked would be read in it
    conn = await asyncpg.connect(url, server_settings={"TimeZone": "Asia/Shanghai"})
    try:
        as_arrays = await conn.fetch(
            "SELECT * FROM unnest(" + ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(COLUMNS, start=1))
            + f") WITH ORDINALITY AS n({', '.join(name for name, _ in COLUMNS)}, i) ORDER BY i",
            *[[r[i] for r in rows] for i in range(len(COLUMNS))])
        as_json = await conn.fetch(
            f"SELECT {json_row_columns(COLUMNS)} FROM jsonb_array_elements($1::text::jsonb) WITH ORDINALITY AS j(e, i) "
            "ORDER BY i", json_rows(rows))
        return [tuple(r)[:len(COLUMNS)] for r in as_arrays], [tuple(r) for r in as_json]
    finally:
        await conn.close()


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(row, max_size=25))
def test_rows_as_json_read_back_as_the_arrays_do_and_as_sent(infra: Infra, rows: list[tuple[Any, ...]]) -> None:
    as_arrays, as_json = run_sync(_read_both_ways(infra.database_url, rows))
    assert as_json == as_arrays
    assert as_json == rows  # datetimes compare as instants; -0.0 == 0.0 (numbers pass through numeric)


@pytest.mark.parametrize("value", [5e-324, 1.7976931348623157e308, 0.1, 1 / 3, 2**53 + 1.0, -123456.789e-200])
def test_a_float_survives_the_round_trip_bit_for_bit(infra: Infra, value: float) -> None:
    rows = [("v", datetime(2026, 1, 1, tzinfo=UTC), value, 0, True, None, value)]
    _, as_json = run_sync(_read_both_ways(infra.database_url, rows))
    assert as_json[0][2].hex() == value.hex() and as_json[0][6].hex() == value.hex()


def test_a_naive_datetime_is_taken_as_utc(infra: Infra) -> None:
    rows = [("v", datetime(2026, 1, 1, 12, 30), 1.0, 0, False, datetime(2026, 1, 1, 12, 30, 0, 1), None)]
    _, as_json = run_sync(_read_both_ways(infra.database_url, rows))
    assert as_json[0][1] == datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    assert as_json[0][5] == datetime(2026, 1, 1, 12, 30, 0, 1, tzinfo=UTC)
