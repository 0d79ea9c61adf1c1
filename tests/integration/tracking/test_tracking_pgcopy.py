"""`feeds.pgcopy.encode_positions` against the real PostgreSQL: the binary COPY stream it builds
stores exactly the rows asyncpg's own record encoder stores from the same tuples — every time
zone, NULL pattern, float (integers too), time before 2000 and far ahead, and vehicle id — and a
naive datetime is refused rather than guessed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.tracking.feeds.pgcopy import FIELDS, encode_positions, pg_micros
from services.tracking.feeds.repository import POSITION_COLUMNS
from tests.conftest import Infra, run_sync

COLUMNS = ", ".join(f"{c} {t}" for c, t in (
    ("vehicle_id", "text"), ("at", "timestamptz"), ("lat", "float8"), ("lon", "float8"), ("speed_kmh", "float8"),
    ("heading", "float8"), ("altitude", "float8"), ("accuracy", "float8"), ("battery", "float8"),
    ("sampled", "boolean")))

zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3, minutes=-30))])
times = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=zones)
floats = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**40), 2**40)
optional = st.none() | floats
vehicle_ids = st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s)
record = st.tuples(vehicle_ids, times, floats, floats, optional, optional, optional, optional, optional, st.booleans())
# the shape of a batch's fix (POST /v1/positions carries no altitude, accuracy or battery), which the
# encoder packs in one go; drawn at random above only one record in 32 has it
batch_record = st.tuples(vehicle_ids, times, floats, floats, floats, floats, st.none(), st.none(), st.none(),
                         st.booleans())


async def _stored_both_ways(url: str, records: list[tuple[Any, ...]]) -> tuple[list[Any], list[Any]]:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"CREATE TEMP TABLE by_asyncpg ({COLUMNS}); CREATE TEMP TABLE by_stream ({COLUMNS})")
        await conn.copy_records_to_table("by_asyncpg", records=records, columns=POSITION_COLUMNS)
        await conn.copy_to_table("by_stream", source=memoryview(encode_positions(records)), columns=POSITION_COLUMNS,
                                 format="binary")
        order = ", ".join(POSITION_COLUMNS)
        return ([tuple(r) for r in await conn.fetch(f"SELECT * FROM by_asyncpg ORDER BY {order}")],
                [tuple(r) for r in await conn.fetch(f"SELECT * FROM by_stream ORDER BY {order}")])
    finally:
        await conn.close()


@settings(max_examples=40, deadline=None)
@given(records=st.lists(record, min_size=1, max_size=30))
def test_the_stream_stores_what_asyncpgs_encoder_stores(infra: Infra, records: list[tuple[Any, ...]]) -> None:
    by_asyncpg, by_stream = run_sync(_stored_both_ways(infra.database_url, records))
    assert by_stream == by_asyncpg
    assert len(by_stream) == len(records)


@settings(max_examples=25, deadline=None)
@given(records=st.lists(batch_record | record, min_size=1, max_size=30))
def test_the_stream_of_a_batchs_fixes_stores_what_asyncpgs_encoder_stores(infra: Infra,
                                                                         records: list[tuple[Any, ...]]) -> None:
    by_asyncpg, by_stream = run_sync(_stored_both_ways(infra.database_url, records))
    assert by_stream == by_asyncpg
    assert len(by_stream) == len(records)


def test_the_layout_is_the_positions_columns_and_times_are_postgres_microseconds() -> None:
    assert len(POSITION_COLUMNS) == FIELDS and POSITION_COLUMNS[0] == "vehicle_id" and POSITION_COLUMNS[-1] == "sampled"
    assert pg_micros(datetime(2000, 1, 1, tzinfo=UTC)) == 0
    assert pg_micros(datetime(2000, 1, 1, 8, 0, 0, 1, tzinfo=timezone(timedelta(hours=8)))) == 1
    assert pg_micros(datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)) == -1_000_000


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(TypeError):
        encode_positions([("V1", datetime(2026, 12, 7, 8, 0), 31.0, 121.0, None, None, None, None, None, True)])
