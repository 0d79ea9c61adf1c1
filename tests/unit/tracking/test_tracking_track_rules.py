"""The recent-speed and delay-reason rules on a track of rows (`track_speed_kmh`,
`track_delay_reason`: what the evaluation runs on the database's arrays) decide exactly as the
same rules written over fix objects and datetimes (the reference below, the rules as first
written), for any track, any clock and any configuration — boundaries included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from statistics import fmean
from typing import NamedTuple

from hypothesis import given, settings
from hypothesis import strategies as st

from services.tracking.domain.config import EtaConfig
from services.tracking.domain.delay import DelayReason
from services.tracking.domain.geo import GeoPoint, haversine_km
from services.tracking.domain.track import (
    epoch_micros,
    infer_delay_reason,
    recent_average_speed_kmh,
    track_delay_reason,
    track_lookback,
    track_settles_stop,
    track_speed_kmh,
)

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


class Fix(NamedTuple):
    at: datetime
    lat: float
    lon: float
    speed_kmh: float | None


def reference_speed(fixes: list[Fix], now: datetime, cfg: EtaConfig) -> float | None:
    start = now - timedelta(minutes=cfg.speed_window_minutes)
    window = [f for f in sorted((f for f in fixes if f.at <= now), key=lambda f: f.at) if f.at >= start]
    reported = [f.speed_kmh for f in window if f.speed_kmh is not None]
    if reported:
        return fmean(reported)
    if len(window) >= 2:
        hours = (window[-1].at - window[0].at).total_seconds() / 3600
        if hours >= 1 / 60:
            return sum(haversine_km(GeoPoint(a.lat, a.lon), GeoPoint(b.lat, b.lon))
                       for a, b in pairwise(window)) / hours
    return None


def reference_reason(fixes: list[Fix], now: datetime, cfg: EtaConfig) -> DelayReason:
    history = sorted((f for f in fixes if f.at <= now), key=lambda f: f.at)
    if not history or now - history[-1].at >= timedelta(minutes=cfg.no_signal_minutes):
        return DelayReason.NO_SIGNAL
    newest = GeoPoint(history[-1].lat, history[-1].lon)
    run_start = None
    for f in reversed(history):
        if f.speed_kmh is not None:
            if f.speed_kmh > cfg.stopped_speed_kmh:
                break
        elif haversine_km(GeoPoint(f.lat, f.lon), newest) > cfg.stopped_radius_km:
            break
        run_start = f.at
    if run_start is not None and now - run_start >= timedelta(minutes=cfg.stopped_minutes):
        return DelayReason.VEHICLE_STOPPED
    return DelayReason.SLOW_PROGRESS


# Fix times on a coarse grid (whole seconds, sometimes whole minutes) so that boundaries —
# a fix exactly one window before "now" — come up often; a few carry microseconds.
offsets = st.one_of(st.integers(0, 180).map(lambda m: timedelta(minutes=m)),
                    st.integers(0, 3 * 3600).map(lambda s: timedelta(seconds=s)),
                    st.integers(0, 3 * 3600 * 10**6).map(lambda us: timedelta(microseconds=us)))
one_fix = st.builds(Fix, offsets.map(lambda d: T0 - d),
                    st.floats(31.0, 31.01, allow_nan=False), st.floats(121.0, 121.01, allow_nan=False),
                    st.none() | st.sampled_from([0.0, 1.0, 2.0, 2.5, 30.0, 61.5]))
fixes = st.lists(one_fix, max_size=40)
# as stored: one fix per vehicle and time (the primary key of `positions`)
stored_fixes = st.lists(one_fix, max_size=40, unique_by=lambda f: f.at)
configs = st.builds(EtaConfig,
                    speed_window_minutes=st.sampled_from([30.0, 1 / 3, 0.5, 7.25, 45.0]),
                    stopped_minutes=st.sampled_from([20.0, 1 / 3, 2.5, 60.0]),
                    no_signal_minutes=st.sampled_from([120.0, 1 / 7, 30.0]),
                    stopped_radius_km=st.sampled_from([0.2, 0.5, 2.0]))
clocks = st.one_of(st.just(timedelta(0)), st.integers(-3600, 7200).map(lambda s: timedelta(seconds=s)))


@settings(max_examples=600)
@given(fixes, clocks, configs, st.data())
def test_track_rules_decide_as_the_fix_rules(track: list[Fix], shift: timedelta, cfg: EtaConfig,
                                             data: st.DataObject) -> None:
    now = T0 + shift
    if track and data.draw(st.booleans()):  # "now" exactly one window, stop or silence after a fix
        minutes = data.draw(st.sampled_from([cfg.speed_window_minutes, cfg.stopped_minutes, cfg.no_signal_minutes]))
        now = data.draw(st.sampled_from(track)).at + timedelta(minutes=minutes)
    rows = [(epoch_micros(f.at), f.lat, f.lon, f.speed_kmh)
            for f in sorted((f for f in track if f.at <= now), key=lambda f: f.at)]
    as_floats = [(float(r[0]), r[1], r[2], r[3]) for r in rows]  # as the database's float8 arrays give them
    expected_speed, expected_reason = reference_speed(track, now, cfg), reference_reason(track, now, cfg)
    for table in (rows, as_floats):
        assert track_speed_kmh(table, epoch_micros(now), cfg) == expected_speed
        assert track_delay_reason(table, epoch_micros(now), cfg) is expected_reason
    assert recent_average_speed_kmh(track, now, cfg) == expected_speed
    assert infer_delay_reason(track, now, cfg) is expected_reason


@settings(max_examples=600)
@given(stored_fixes, clocks, configs, st.data())
def test_a_settled_short_track_decides_as_the_long_one(track: list[Fix], shift: timedelta, cfg: EtaConfig,
                                                       data: st.DataObject) -> None:
    """The evaluation reads the short lookback first and the long one only for the tracks the
    short one does not settle: when it settles, speed and reason are those of the long read."""
    now = T0 + shift
    if track and data.draw(st.booleans()):
        minutes = data.draw(st.sampled_from([cfg.speed_window_minutes, cfg.stopped_minutes]))
        now = data.draw(st.sampled_from(track)).at + timedelta(minutes=minutes)
    short, long = track_lookback(cfg)
    newest = max(track, key=lambda f: f.at) if track else None

    def read(lookback: timedelta) -> list[tuple[int, float, float, float | None]]:
        # as the evaluation reads it: the fixes in [now - lookback, now], then the newest fix
        rows = [(epoch_micros(f.at), f.lat, f.lon, f.speed_kmh)
                for f in sorted(track, key=lambda f: f.at) if now - lookback <= f.at <= now]
        if newest is not None and newest.at <= now and (not rows or rows[-1][0] != epoch_micros(newest.at)):
            rows.append((epoch_micros(newest.at), newest.lat, newest.lon, newest.speed_kmh))
        return rows

    now_us = epoch_micros(now)
    near, far = read(short), read(long)
    if track_settles_stop(near, now_us, cfg):
        assert track_delay_reason(near, now_us, cfg) is track_delay_reason(far, now_us, cfg)
        assert track_speed_kmh(near, now_us, cfg) == track_speed_kmh(far, now_us, cfg)


def test_a_stop_older_than_the_short_read_is_found_in_the_long_one() -> None:
    cfg = EtaConfig()
    now_us = epoch_micros(T0)
    # a sparse feed: parked 45 minutes ago, and parked now, nothing in between
    rows = [(epoch_micros(T0 - timedelta(minutes=m)), 31.0, 121.0, 0.0) for m in (45, 0)]
    short, long = track_lookback(cfg)
    near = [r for r in rows if r[0] >= epoch_micros(T0 - short)]
    assert near == rows[1:]
    assert not track_settles_stop(near, now_us, cfg)  # alone it would say slow_progress
    assert track_delay_reason(near, now_us, cfg) is DelayReason.SLOW_PROGRESS
    assert track_settles_stop(rows, now_us, cfg)
    assert track_delay_reason(rows, now_us, cfg) is DelayReason.VEHICLE_STOPPED
    # a moving truck is settled by the short read
    moving = [(epoch_micros(T0 - timedelta(minutes=m)), 31.0, 121.0, 60.0) for m in (10, 0)]
    assert track_settles_stop(moving, now_us, cfg)


def test_epoch_micros_is_exact() -> None:
    at = datetime(2026, 11, 28, 2, 0, 0, 123457, tzinfo=UTC)
    assert epoch_micros(at) == 1795831200123457
    assert float(epoch_micros(at)) == epoch_micros(at)  # below 2**53: a float8 holds it exactly
    assert epoch_micros(datetime(1970, 1, 1, tzinfo=UTC)) == 0
