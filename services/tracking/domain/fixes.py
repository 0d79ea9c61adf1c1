"""GPS fixes and the checks of a reported position: one from a device, or a batch of the
positions API (all or nothing, each bad item named by its index)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.tracking.domain.geo import GeoPoint
from services.tracking.domain.times import minutes, utc
from shared.clock import NaiveTime, require_aware
from shared.errors import Invalid


@dataclass(frozen=True, slots=True)
class PositionLimits:
    """Sanity limits for a reported position."""

    max_speed_kmh: float = 300.0  # no truck does this; a higher value is a device fault
    max_future_minutes: float = 5.0  # tolerate small device clock skew, nothing more


DEFAULT_POSITION_LIMITS = PositionLimits()


class PositionLike(Protocol):
    """Anything with a time, coordinates and an optional speed (a :class:`Fix`, a DB row...)."""

    @property
    def at(self) -> datetime: ...
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...
    @property
    def speed_kmh(self) -> float | None: ...


class ReportedPosition(PositionLike, Protocol):
    """An item of a position batch of ``POST /v1/positions`` (the feeds' ``Incoming``)."""

    @property
    def vehicle_id(self) -> str: ...
    @property
    def heading(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Fix:
    """One GPS fix from a device, normalised: UTC time, km/h, degrees, battery in percent."""

    device_id: str
    at: datetime
    lat: float
    lon: float
    speed_kmh: float | None = None
    heading: float | None = None
    altitude: float | None = None
    accuracy: float | None = None  # metres
    battery: float | None = None  # percent, 0..100
    valid: bool = True  # the device's own GPS validity flag (False = last known position)

    @property
    def point(self) -> GeoPoint:
        return GeoPoint(self.lat, self.lon)


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    problem: str


def position_problems(
    *,
    lat: float,
    lon: float,
    at: datetime,
    now: datetime,
    speed_kmh: float | None = None,
    heading: float | None = None,
    limits: PositionLimits = DEFAULT_POSITION_LIMITS,
) -> list[FieldProblem]:
    """Every reason a position is implausible (empty list = valid)."""
    latest = utc(now, "now") + minutes(limits.max_future_minutes)
    return _problems(lat, lon, at, speed_kmh, heading, latest, limits)


def _problems(lat: float, lon: float, at: datetime, speed_kmh: float | None, heading: float | None,
              latest: datetime, limits: PositionLimits) -> list[FieldProblem]:
    # `position_problems` with the latest acceptable time worked out by the caller: a batch of
    # 5,000 items works it out once.
    problems: list[FieldProblem] = []
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        problems.append(FieldProblem("lat", "latitude must be within [-90, 90]"))
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
        problems.append(FieldProblem("lon", "longitude must be within [-180, 180]"))
    if speed_kmh is not None and not (math.isfinite(speed_kmh) and 0.0 <= speed_kmh <= limits.max_speed_kmh):
        problems.append(FieldProblem("speed_kmh", f"speed must be within [0, {limits.max_speed_kmh:g}] km/h"))
    if heading is not None and not (math.isfinite(heading) and 0.0 <= heading <= 360.0):
        problems.append(FieldProblem("heading", "heading must be within [0, 360] degrees"))
    try:
        require_aware(at)
    except NaiveTime:
        problems.append(FieldProblem("at", "time must carry a timezone offset"))
        return problems
    if at > latest:
        problems.append(
            FieldProblem("at", f"time is more than {limits.max_future_minutes:g} minutes in the future")
        )
    return problems


def positions_within_limits(ats: Sequence[datetime], lats: Sequence[float], lons: Sequence[float],
                            speeds: Sequence[float | None], headings: Sequence[float | None], now: datetime,
                            limits: PositionLimits = DEFAULT_POSITION_LIMITS) -> bool:
    """True only when every position (given a column per field) passes every check of
    `validate_position_batch`'s items; False says only "look closer" (that function then finds
    and names the problems, if any).

    Why: the batch API's hot path. min, max and sum run over a whole column in C, where the
    per-item check is a chain of Python comparisons; a batch of 500 costs a third as much.
    NaN compares false with everything, so min and max could step over one: a column's sum is NaN
    whenever it holds one, which fails the check. Naive and aware times cannot be compared: a
    batch mixing them makes max() raise, and fails it too."""
    try:
        if not (lats and min(lats) >= -90.0 and max(lats) <= 90.0 and min(lons) >= -180.0 and max(lons) <= 180.0):
            return False
        total = sum(lats) + sum(lons)
        for column, top in ((speeds, limits.max_speed_kmh), (headings, 360.0)):
            reported: set[float] = set(column)  # type: ignore[arg-type]  # None is discarded next
            reported.discard(None)
            if reported:
                if not (min(reported) >= 0.0 and max(reported) <= top):
                    return False
                total += sum(reported)
        newest = max(ats)
        if newest.utcoffset() is None or newest > utc(now, "now") + minutes(limits.max_future_minutes):
            return False
    except TypeError:  # naive and aware times mixed
        return False
    return total == total  # not NaN


def validate_fix(fix: Fix, now: datetime, limits: PositionLimits = DEFAULT_POSITION_LIMITS) -> Fix:
    """Return ``fix`` unchanged if plausible, else raise 422 ``invalid_position`` listing each
    problem as ``{field, problem}``."""
    problems = position_problems(
        lat=fix.lat,
        lon=fix.lon,
        at=fix.at,
        now=now,
        speed_kmh=fix.speed_kmh,
        heading=fix.heading,
        limits=limits,
    )
    if problems:
        raise Invalid(
            "invalid_position",
            "; ".join(p.problem for p in problems),
            [{"field": p.field, "problem": p.problem} for p in problems],
        )
    return fix


def validate_position_batch(
    items: Sequence[ReportedPosition],
    now: datetime,
    limits: PositionLimits = DEFAULT_POSITION_LIMITS,
    *,
    max_items: int = 5000,
    max_reported: int = 100,
) -> None:
    """All-or-nothing check of a position batch; raises ``invalid_position`` naming bad indexes.

    ``details`` is a list of ``{index, field, problem}`` (capped at ``max_reported``
    entries so a garbage upload of 5,000 items does not produce a 5,000-line error).
    """
    if not items:
        raise Invalid("invalid_position", "the batch holds no positions", [])
    if len(items) > max_items:
        raise Invalid(
            "batch_too_large",
            f"at most {max_items} positions per request",
            {"max_items": max_items, "received": len(items)},
        )
    details: list[dict[str, Any]] = []
    latest = utc(now, "now") + minutes(limits.max_future_minutes)
    max_speed = limits.max_speed_kmh
    for index, item in enumerate(items):
        # The common case first, in one expression: every check of `_problems` passes (NaN and
        # infinities fail a range comparison, so they take the detailed path). A batch of 5,000
        # items would otherwise pay a call and a list per item for nothing.
        at, speed, heading = item.at, item.speed_kmh, item.heading
        if (-90.0 <= item.lat <= 90.0 and -180.0 <= item.lon <= 180.0
                and (speed is None or 0.0 <= speed <= max_speed)
                and (heading is None or 0.0 <= heading <= 360.0)
                and at.tzinfo is not None and at.utcoffset() is not None and at <= latest):
            continue
        for p in _problems(item.lat, item.lon, at, speed, heading, latest, limits):
            details.append({"index": index, "field": p.field, "problem": p.problem})
    if details:
        first = details[0]
        raise Invalid(
            "invalid_position",
            f"position {first['index']}: {first['problem']}",
            details[:max_reported],
        )
