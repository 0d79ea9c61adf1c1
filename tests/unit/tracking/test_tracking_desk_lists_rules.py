"""The rules behind the desk's lists: when a delay began, the track the map draws, the daily
volume (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.tracking.domain.delay import DelayEvent, DelayReason, DelayState, delay_state_worth_saving, evaluate_delay
from services.tracking.domain.notes import with_note_reason
from services.tracking.domain.track import DISPLAY_TRACK_DEFAULT, display_track, display_track_since
from services.tracking.domain.volume import CSV_COLUMNS, Movement, Stage, csv_records, daily_volume

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
PROMISED = T0 + timedelta(hours=2)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def judge(previous: DelayState, eta: datetime, now: datetime) -> tuple[DelayState, DelayEvent]:
    d = evaluate_delay(previous=previous, eta=eta, promised_at=PROMISED, now=now,
                       inferred_reason=DelayReason.SLOW_PROGRESS)
    return d.state, d.event


# --- delayed_since ------------------------------------------------------------------------------


def test_a_delay_begins_at_its_first_detection_and_ends_at_recovery() -> None:
    on_time, _ = judge(DelayState(), PROMISED, T0)
    assert on_time.delayed_since is None
    late, event = judge(on_time, PROMISED + minutes(60), T0 + minutes(10))
    assert event is DelayEvent.DELAYED and late.delayed_since == T0 + minutes(10)
    # Later, worse (a new notice) or a little better (none): the delay still began then.
    worse, event = judge(late, PROMISED + minutes(200), T0 + minutes(100))
    assert event is DelayEvent.DELAYED and worse.delayed_since == T0 + minutes(10)
    better, event = judge(worse, PROMISED + minutes(150), T0 + minutes(110))
    assert event is DelayEvent.NONE and better.delayed_since == T0 + minutes(10)
    # A note's reason changes the reason, not when the delay began.
    assert with_note_reason(better, "breakdown").delayed_since == T0 + minutes(10)
    recovered, event = judge(better, PROMISED, T0 + minutes(120))
    assert event is DelayEvent.RECOVERED and recovered.delayed_since is None
    again, event = judge(recovered, PROMISED + minutes(60), T0 + minutes(130))
    assert event is DelayEvent.DELAYED and again.delayed_since == T0 + minutes(130)


def test_a_late_state_without_a_start_takes_the_evaluations_time_and_is_saved() -> None:
    """A shipment an earlier release marked late (no delayed_since): the next evaluation dates it."""
    old = DelayState(True, PROMISED + minutes(60), 60, DelayReason.SLOW_PROGRESS, PROMISED + minutes(60),
                     T0, notified_at=T0)
    state, event = judge(old, PROMISED + minutes(60), T0 + minutes(1))
    assert event is DelayEvent.NONE and state.delayed_since == T0 + minutes(1)
    assert delay_state_worth_saving(old, state)


def test_an_out_of_order_evaluation_keeps_the_start() -> None:
    late, _ = judge(DelayState(), PROMISED + minutes(60), T0 + minutes(10))
    state, event = judge(late, PROMISED + minutes(90), T0 + minutes(5))
    assert event is DelayEvent.NONE and state == late


# --- the track the desk draws -------------------------------------------------------------------


def point(m: float, speed: float | None = 50.0) -> tuple[datetime, float, float, float | None]:
    return (T0 + minutes(m), 31.0 + m / 100, 121.0, speed)


def test_the_track_is_oldest_first_from_since_with_the_newest_fix_last() -> None:
    samples = [point(5), point(0), point(10)]  # as read: any order
    assert display_track(samples, point(10), since=T0, limit=100) == [point(0), point(5), point(10)]
    # The newest fix passed over by the sampling is appended; one from before `since` is not drawn.
    assert display_track(samples, point(10.5), since=T0 + minutes(1), limit=100) == [point(5), point(10), point(10.5)]
    assert display_track([], point(10), since=T0 + minutes(11), limit=100) == []
    # Of more than `limit`, the newest.
    assert display_track(samples, point(12), since=T0, limit=2) == [point(10), point(12)]
    assert display_track([], None, since=T0, limit=10) == []


def test_the_track_starts_a_day_before_the_newest_fix_by_default() -> None:
    assert display_track_since(None, T0) == T0 - DISPLAY_TRACK_DEFAULT
    assert display_track_since(T0 - minutes(5), T0) == T0 - minutes(5)
    assert display_track_since(None, None) is None


# --- the daily volume ---------------------------------------------------------------------------


def test_the_daily_volume_counts_waybills_once_and_shares_weight_by_pieces() -> None:
    moves = [
        Movement(Stage.REGISTERED, "SH01", "A", 10, 10, 100.0, 2.0),
        Movement(Stage.REGISTERED, "SH01", "B", 4, 4, None, None),  # no weight stated: counts as 0
        Movement(Stage.DEPARTED, "SH01", "A", 6, 10, 100.0, 2.0),  # split: two batches
        Movement(Stage.DEPARTED, "SH01", "A", 4, 10, 100.0, 2.0),
        Movement(Stage.ARRIVED, "WX01", "A", 3, 10, 100.0, 2.0),  # 3 of 10 pieces: 3/10 of its weight
        Movement(Stage.DELIVERED, "WX01", "C", 2, 2, 10.5, 0.1),
    ]
    rows = daily_volume(moves)
    assert [r["station"] for r in rows] == ["SH01", "WX01"]
    sh, wx = rows
    assert sh["registered"] == {"shipments": 2, "pieces": 14, "weight_kg": 100.0, "volume_m3": 2.0}
    assert sh["departed"] == {"shipments": 1, "pieces": 10, "weight_kg": 100.0, "volume_m3": 2.0}
    assert sh["arrived"] == sh["delivered"] == {"shipments": 0, "pieces": 0, "weight_kg": 0.0, "volume_m3": 0.0}
    assert wx["arrived"] == {"shipments": 1, "pieces": 3, "weight_kg": 30.0, "volume_m3": pytest.approx(0.6)}
    assert wx["delivered"] == {"shipments": 1, "pieces": 2, "weight_kg": 10.5, "volume_m3": 0.1}
    assert daily_volume([]) == []
    flat = csv_records(rows)
    assert set(flat[0]) == set(CSV_COLUMNS) and flat[1]["arrived_weight_kg"] == 30.0
