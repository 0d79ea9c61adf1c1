"""What a vehicle's recent track says: its speed, whether it stopped or went silent (the
inferred delay reasons), which fixes are sampled into it, and when it is evaluated.

A track, as the rules read it, is rows of plain numbers (`TrackRow`): (time in epoch
microseconds, lat, lon, reported speed in km/h or None), oldest first. The evaluation reads a
track per vehicle for every position batch and group commit; as plain rows, straight from the
database's arrays, the rules cost a pass over numbers instead of a datetime and an object per fix.
"""

from __future__ import annotations

import functools
import operator
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from statistics import fmean
from typing import Any

from services.tracking.domain.config import DEFAULT_ETA_CONFIG, EtaConfig
from services.tracking.domain.delay import DelayReason
from services.tracking.domain.fixes import PositionLike
from services.tracking.domain.geo import GeoPoint, haversine_km, path_length_km
from services.tracking.domain.times import minutes, utc


def _upto(fixes: Iterable[PositionLike], now: datetime) -> list[PositionLike]:
    # Fixes later than "now" do not exist yet during a replay; ignoring them keeps
    # replayed decisions identical to live ones.
    return sorted((f for f in fixes if f.at <= now), key=lambda f: f.at)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@functools.lru_cache(maxsize=64)  # the rules ask for the same few configured durations for every vehicle
def _micros(value: float) -> int:
    # rounded as a timedelta rounds it, so a track decides exactly as the datetime rules do
    return minutes(value) // _MICROSECOND


def epoch_micros(at: datetime) -> int:
    """An aware time as whole microseconds since the Unix epoch: the time axis of a `TrackRow`
    (exact: below 2**53, so a float8 holds it exactly too)."""
    return (at - _EPOCH) // _MICROSECOND


# A vehicle's sampled track as the rules read it (see the module's docstring).
TrackRow = Sequence[Any]


def _track_rows(fixes: Iterable[PositionLike], now: datetime) -> list[tuple[int, float, float, float | None]]:
    return [(epoch_micros(f.at), f.lat, f.lon, f.speed_kmh) for f in _upto(fixes, now)]


_ROW_TIME, _ROW_SPEED = operator.itemgetter(0), operator.itemgetter(3)  # of a TrackRow
_IS_NOT_NONE = functools.partial(operator.is_not, None)


def track_speed_kmh(track: Sequence[TrackRow], now_us: int, cfg: EtaConfig = DEFAULT_ETA_CONFIG) -> float | None:
    """`recent_average_speed_kmh` of a track (rows oldest first, none later than ``now_us``)."""
    # the window: the rows from `start` on (a binary search, in C: the rows are in time order)
    window = track[bisect_left(track, now_us - _micros(cfg.speed_window_minutes), key=_ROW_TIME):]
    reported = list(filter(_IS_NOT_NONE, map(_ROW_SPEED, window)))
    if reported:
        return fmean(reported)
    if len(window) >= 2:
        hours = (window[-1][0] - window[0][0]) / 1_000_000 / 3600  # as timedelta.total_seconds() / 3600
        if hours >= 1 / 60:
            return path_length_km([GeoPoint(row[1], row[2]) for row in window]) / hours
    return None


def recent_average_speed_kmh(
    fixes: Iterable[PositionLike], now: datetime, cfg: EtaConfig = DEFAULT_ETA_CONFIG
) -> float | None:
    """The vehicle's recent average speed, or None when there is nothing to go on.

    Choice: the arithmetic mean of the *reported* speeds of the fixes in
    ``[now - speed_window, now]``. Devices report at roughly fixed intervals, so the
    sample mean approximates the time-weighted mean, and a stop inside the window
    correctly pulls the average down. When no fix in the window reports a speed (some
    OsmAnd clients omit it), fall back to distance covered / time elapsed between the
    first and last fix of the window, if they are at least a minute apart.
    """
    now = utc(now, "now")
    return track_speed_kmh(_track_rows(fixes, now), epoch_micros(now), cfg)


def _stationary_run(track: Sequence[TrackRow], cfg: EtaConfig) -> tuple[int | None, bool]:
    """The time the newest run of stationary fixes of a track began (None: the newest fix moves),
    and whether a moving fix precedes it in the track (else the run may reach further back)."""
    newest = GeoPoint(track[-1][1], track[-1][2])
    run_start: int | None = None
    for at, lat, lon, speed in reversed(track):
        if speed is not None:
            if speed > cfg.stopped_speed_kmh:
                return run_start, True
        elif haversine_km(GeoPoint(lat, lon), newest) > cfg.stopped_radius_km:
            return run_start, True
        run_start = at
    return run_start, False


def _judge_stop(track: Sequence[TrackRow], now_us: int, cfg: EtaConfig) -> tuple[DelayReason, bool]:
    """The reason a track gives, and whether any longer track (the same fixes and older ones)
    gives the same."""
    if not track:
        return DelayReason.NO_SIGNAL, False  # the longer track may hold a fix
    if now_us - track[-1][0] >= _micros(cfg.no_signal_minutes):
        return DelayReason.NO_SIGNAL, True  # decided by the newest fix, in both
    run_start, bounded = _stationary_run(track, cfg)
    if run_start is not None and now_us - run_start >= _micros(cfg.stopped_minutes):
        return DelayReason.VEHICLE_STOPPED, True  # an earlier start only makes the stop longer
    return DelayReason.SLOW_PROGRESS, bounded or run_start is None


def track_delay_reason(track: Sequence[TrackRow], now_us: int, cfg: EtaConfig = DEFAULT_ETA_CONFIG) -> DelayReason:
    """`infer_delay_reason` of a track (rows oldest first, none later than ``now_us``)."""
    return _judge_stop(track, now_us, cfg)[0]


def track_lookback(cfg: EtaConfig = DEFAULT_ETA_CONFIG) -> tuple[timedelta, timedelta]:
    """How far back before "now" the evaluation reads a vehicle's track: first the longer of the
    rules' own windows (the speed window, a stop's duration), then, only for the vehicles whose
    short track cannot settle the stop rule (`track_settles_stop`), twice that: room for a sparse
    feed whose last fix before a stop is long ago.

    Why two reads: the track read is most of what evaluating a vehicle costs the database, and a
    moving truck (the common case) is settled by the short one."""
    longer = minutes(max(cfg.speed_window_minutes, cfg.stopped_minutes))
    return longer, 2 * longer


def track_settles_stop(track: Sequence[TrackRow], now_us: int, cfg: EtaConfig = DEFAULT_ETA_CONFIG) -> bool:
    """Whether a track read back the short lookback decides the speed and the reason exactly as
    the long one would: the speed window lies inside it; the reason does unless every fix of the
    track is stationary and the oldest less than ``stopped_minutes`` old (the stop may have begun
    earlier, in the longer track)."""
    return _judge_stop(track, now_us, cfg)[1]


def infer_delay_reason(
    fixes: Iterable[PositionLike], now: datetime, cfg: EtaConfig = DEFAULT_ETA_CONFIG
) -> DelayReason:
    """``no_signal`` > ``vehicle_stopped`` > ``slow_progress``, judged at ``now``.

    * no_signal: no fix at all, or the newest fix (at or before ``now``) is at least
      ``no_signal_minutes`` old. At a fix's own time this can never hold; it is found
      by the periodic sweep that evaluates with the sweep's (or replay's) clock.
    * vehicle_stopped: the newest run of stationary fixes began at least
      ``stopped_minutes`` before ``now``. A fix is stationary when its reported speed
      is at most ``stopped_speed_kmh`` or, if it reports no speed, when it lies within
      ``stopped_radius_km`` of the newest fix.
    """
    now = utc(now, "now")
    return track_delay_reason(_track_rows(fixes, now), epoch_micros(now), cfg)


def sample_track(
    times: Sequence[datetime], last_sample_at: datetime | None, cfg: EtaConfig = DEFAULT_ETA_CONFIG
) -> tuple[list[bool], datetime | None]:
    """Which of one vehicle's new fixes (``times``, oldest first) join its sampled track, the
    history ``recent_average_speed_kmh`` and ``infer_delay_reason`` are fed; and the vehicle's
    newest sample time afterwards.

    Why: those rules look back an hour. A 1 Hz feed would make every evaluation read 3,600
    fixes per vehicle, although one fix a minute tells the same story about a truck's speed
    and stops (and a regular sample is closer to the time-weighted mean than a burst). So a
    live fix is sampled when it is at least ``track_sample_seconds`` (one step) after the
    previous sample. A late fix, older than the newest sample, is thinned the same way among
    the late fixes it arrives with, one a step, when it is at least a step older than the
    newest sample (a device uploading what it buffered offline: the thinning never hides that
    history); a late fix within the step before the newest sample is not (a forwarder's
    concurrent batches arrive seconds out of order: that step is the newest sample's own, and
    sampling each such fix would make the sampled track as dense as the feed).
    Every fix is stored either way; the vehicle's newest fix is always read too.
    """
    step = timedelta(seconds=cfg.track_sample_seconds)
    flags: list[bool] = []
    next_due = None if last_sample_at is None else last_sample_at + step  # once per sample, not per fix
    old_before = None if last_sample_at is None else last_sample_at - step  # late and a step older, or more
    late_due: datetime | None = None  # the next late fix sampled (one a step among the late ones)
    for at in times:
        if next_due is None or at >= next_due:
            flags.append(True)
            last_sample_at, next_due = at, at + step
        elif old_before is not None and at <= old_before and (late_due is None or at >= late_due):
            flags.append(True)
            late_due = at + step
        else:
            flags.append(False)
    return flags, last_sample_at


def evaluation_due(newest_fix_at: datetime, last_evaluated_at: datetime | None,
                   cfg: EtaConfig = DEFAULT_ETA_CONFIG) -> bool:
    """Whether a vehicle whose newest fix advanced to ``newest_fix_at`` has its shipments
    re-evaluated now, given when its feed last evaluated them (the fix time, None = never).

    Why: a tracker reporting every second would recompute every shipment's ETA every second,
    although an ETA moves by seconds between two fixes, and that evaluation costs more than
    storing the fix. So a live feed evaluates a vehicle at most once per
    ``evaluation_interval_seconds`` of its feed (fix time, so a replay decides alike). The first
    fix after a quiet spell, and every fix of a device reporting less often than that, is
    evaluated at once; on a dense feed, the position that makes a shipment late is noticed at
    the latest one interval later. Scans and the stale sweep evaluate regardless.
    """
    if last_evaluated_at is None or cfg.evaluation_interval_seconds <= 0:
        return True
    return newest_fix_at - last_evaluated_at >= timedelta(seconds=cfg.evaluation_interval_seconds)


# --- the track the desk draws (GET /v1/vehicles/{id}/track) ---------------------------------

# Without `since`, the desk's map shows the vehicle's last day before its newest fix.
DISPLAY_TRACK_DEFAULT = timedelta(hours=24)
DISPLAY_TRACK_MAX_POINTS = 5000


def display_track_since(since: datetime | None, newest_fix_at: datetime | None) -> datetime | None:
    """Where the drawn track starts: `since` when given, else a day before the newest fix (None:
    the vehicle never reported, there is nothing to draw)."""
    if since is not None:
        return since
    return None if newest_fix_at is None else newest_fix_at - DISPLAY_TRACK_DEFAULT


def display_track(samples: Sequence[tuple[datetime, float, float, float | None]],
                  newest: tuple[datetime, float, float, float | None] | None, *, since: datetime,
                  limit: int) -> list[tuple[datetime, float, float, float | None]]:
    """The points the desk draws, oldest first: the vehicle's sampled fixes from `since` on (as
    `sample_track` thinned them: one a `track_sample_seconds`, late ones too) with its newest fix
    last, which the sampling may have passed over; of more than `limit`, the newest `limit` (the
    map is about where the truck is going, not where it began)."""
    points = sorted((p for p in samples if p[0] >= since), key=lambda p: p[0])
    if newest is not None and newest[0] >= since and (not points or points[-1][0] < newest[0]):
        points.append(newest)
    return points[-limit:] if limit > 0 else []
