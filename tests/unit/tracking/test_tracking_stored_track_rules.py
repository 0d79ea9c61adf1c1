"""The stored recent track's rules (`merge_track`, `track_window`, `stored_track_covers`) and
its packing (`repository.pack_track`): what the database would answer, worked out without it.
A reference model, a set of fixes keyed by time where the first one stored wins, is what
`positions` does; the merge must agree with it whatever order and overlap the fixes come in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.tracking.feeds.track_cache import merge_track, pack_track, stored_track_covers, track_window, unpack_track

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
US = 1_795_000_000_000_000

row = st.tuples(st.integers(min_value=US, max_value=US + 10_000_000),
                st.floats(min_value=-90, max_value=90), st.floats(min_value=-180, max_value=180),
                st.one_of(st.none(), st.floats(min_value=0, max_value=300)))


def as_table(rows: list[tuple[int, float, float, float | None]]) -> dict[int, tuple[int, float, float, float | None]]:
    table: dict[int, tuple[int, float, float, float | None]] = {}
    for r in rows:
        table.setdefault(r[0], r)  # ON CONFLICT DO NOTHING: the first stored wins
    return table


@given(st.lists(row, max_size=30), st.lists(row, max_size=30), st.integers(min_value=US, max_value=US + 10_000_000))
def test_merge_is_the_table_positions_would_hold(base, new, since) -> None:  # type: ignore[no-untyped-def]
    stored = sorted(as_table(base).values())  # a stored track: one row per time, oldest first
    merged = merge_track(stored, sorted(new, key=lambda r: r[0]), since)
    table = as_table(stored + sorted(new, key=lambda r: r[0]))
    assert [tuple(r) for r in merged] == [table[t] for t in sorted(table) if t >= since]


@given(st.lists(row, max_size=30), st.integers(min_value=US, max_value=US + 10_000_000),
       st.integers(min_value=0, max_value=10_000_000))
def test_a_window_is_what_a_between_query_answers(rows, start, width) -> None:  # type: ignore[no-untyped-def]
    track = sorted(as_table(rows).values())
    assert track_window(track, start, start + width) == [r for r in track if start <= r[0] <= start + width]


def test_a_stored_track_covers_a_window_only_from_its_start_and_with_its_stamp() -> None:
    since, stamp = T0, T0 + timedelta(minutes=29)
    assert stored_track_covers(since, stamp, stamp, T0)
    assert stored_track_covers(since, stamp, stamp, T0 + timedelta(minutes=1))
    assert not stored_track_covers(since, stamp, stamp, T0 - timedelta(microseconds=1))  # starts too late
    assert not stored_track_covers(None, stamp, stamp, T0 + timedelta(hours=1))  # none stored
    assert not stored_track_covers(since, stamp, stamp + timedelta(seconds=1), T0)  # someone sampled since
    assert stored_track_covers(since, None, None, T0)  # never sampled: an empty track is a track


@given(st.lists(row, max_size=50))
def test_packing_round_trips_exactly(rows) -> None:  # type: ignore[no-untyped-def]
    packed = pack_track(rows)
    assert len(packed) == 32 * len(rows)
    assert unpack_track(packed) == [(float(r[0]), r[1], r[2], r[3]) for r in rows]
    assert unpack_track(None) == []
