"""Pure tracking rules: geography, ETA, delays, scans, signing, GPS feeds, reports.

Nothing in this module performs I/O or reads the clock. Every rule that depends on
"now" takes it as an argument, so replaying a recorded GPS feed (where "now" is the
fix time) gives exactly the same decisions as the live feed did. The API and
service layers call these functions and turn :class:`DomainError` into HTTP errors
(``{"error": {"code", "message", "details"}}``).

Times: every ``datetime`` accepted or returned here is timezone-aware. Internally we
compute in UTC; the business zone (Asia/Shanghai) is used only for rendering
reports and for the business week.

Sections, in order:

* errors and small helpers
* geography (haversine)
* configuration (:class:`EtaConfig`, :class:`PositionLimits`)
* GPS fixes, position validation and the OsmAnd / Traccar parsers
* recent speed, ETA
* delay reason inference, delay evaluation (a pure state transition), stale vehicles
* scans, split shipments, displayed status, delivery
* signing identity checks, Chinese resident ID checksum, ID number protection
* the 08:00 in-transit report, the weekly exception summary, CSV rendering
"""

from __future__ import annotations

import csv
import functools
import hashlib
import hmac
import io
import math
import operator
import re
import unicodedata
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from statistics import fmean
from typing import Any, Protocol
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")

KNOTS_TO_KMH = 1.852
MPS_TO_KMH = 3.6


# ---------------------------------------------------------------------------
# Errors and helpers
# ---------------------------------------------------------------------------


class DomainError(Exception):
    """A broken business rule. ``code`` is snake_case and stable; the API maps it to HTTP."""

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The body of the contract's error envelope (``{"error": <this>}``)."""
        return {"code": self.code, "message": self.message, "details": self.details}


def _require_aware(value: datetime, name: str) -> datetime:
    # A naive datetime is ambiguous (server zone? Shanghai?); refusing it early keeps
    # every comparison in this module meaningful.
    if value.tzinfo is UTC:  # the usual case (asyncpg, fromisoformat's "Z"): already what is asked
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise DomainError("naive_datetime", f"{name} must carry a timezone offset", {"field": name})
    return value.astimezone(UTC)


def _minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


# ---------------------------------------------------------------------------
# Geography
# ---------------------------------------------------------------------------

# IUGG mean Earth radius; the road factor dwarfs the choice of radius anyway.
EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True, slots=True)
class GeoPoint:
    """A WGS-84 coordinate in decimal degrees."""

    lat: float
    lon: float


def haversine_km(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle distance between two points, in kilometres."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    # Rounding can push h a hair above 1 for antipodal points; asin would then fail.
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def path_length_km(points: Sequence[GeoPoint]) -> float:
    """Sum of great-circle legs along ``points`` in order (0 for fewer than two points)."""
    return sum(haversine_km(p, q) for p, q in pairwise(points))


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EtaConfig:
    """Every number the ETA, delay, reason and stale rules use (defaults from the desk's rules)."""

    road_factor: float = 1.3  # roads are longer than great circles
    min_speed_kmh: float = 30.0  # a crawling or parked truck must not give an ETA in 2099
    default_speed_kmh: float = 60.0  # cruise speed when the vehicle reported no usable speed
    dwell_minutes_per_transfer: float = 45.0  # unloading/reloading at each remaining transfer
    speed_window_minutes: float = 30.0  # "recent" average speed window
    grace_minutes: float = 15.0  # late only when ETA > promised_at + grace
    worsen_step_minutes: float = 30.0  # a second `delayed` only after this much more delay
    # ... and only this long after the previous notice: a truck that stops makes its ETA jump
    # with every fix while its average speed falls; customers get one revised time, not a storm.
    renotify_min_minutes: float = 60.0
    # Hysteresis against flapping around the threshold: recovered only when
    # ETA <= promised_at + grace - recovery_margin. 0 = exactly the contract's rule.
    recovery_margin_minutes: float = 0.0
    stopped_minutes: float = 20.0  # speed ~0 for this long -> vehicle_stopped
    stopped_speed_kmh: float = 2.0  # "speed ~0": GPS jitter reports 0.5-1.5 km/h when parked
    stopped_radius_km: float = 0.2  # fixes without speed count as stopped within this radius
    no_signal_minutes: float = 120.0  # no fix for this long -> no_signal / vehicle stale
    # The rules above read a vehicle's track thinned to one fix per this many seconds (see
    # `sample_track`): a 1 Hz feed then costs the evaluation what a 1-a-minute feed costs.
    # 0 = every fix is read.
    track_sample_seconds: float = 60.0
    # A live feed re-evaluates a vehicle's shipments at most once per this many seconds of its
    # feed (see `evaluation_due`). 0 = at every fix.
    evaluation_interval_seconds: float = 15.0

    def __post_init__(self) -> None:
        positive = (
            "road_factor",
            "min_speed_kmh",
            "default_speed_kmh",
            "speed_window_minutes",
            "worsen_step_minutes",
            "stopped_minutes",
            "no_signal_minutes",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"EtaConfig.{name} must be > 0")
        non_negative = (
            "dwell_minutes_per_transfer",
            "grace_minutes",
            "recovery_margin_minutes",
            "renotify_min_minutes",
            "stopped_speed_kmh",
            "stopped_radius_km",
            "track_sample_seconds",
            "evaluation_interval_seconds",
        )
        for name in non_negative:
            if not getattr(self, name) >= 0:
                raise ValueError(f"EtaConfig.{name} must be >= 0")


DEFAULT_ETA_CONFIG = EtaConfig()


@dataclass(frozen=True, slots=True)
class PositionLimits:
    """Sanity limits for a reported position."""

    max_speed_kmh: float = 300.0  # no truck does this; a higher value is a device fault
    max_future_minutes: float = 5.0  # tolerate small device clock skew, nothing more


DEFAULT_POSITION_LIMITS = PositionLimits()


# ---------------------------------------------------------------------------
# GPS fixes and their validation
# ---------------------------------------------------------------------------


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
    """An item of a position batch: a :class:`PositionReport` or the API's parsed item."""

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
class PositionReport:
    """One item of the batch ``POST /v1/positions`` body."""

    vehicle_id: str
    at: datetime
    lat: float
    lon: float
    speed_kmh: float | None = None
    heading: float | None = None


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
    latest = _require_aware(now, "now") + _minutes(limits.max_future_minutes)
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
    if at.tzinfo is None or at.utcoffset() is None:
        problems.append(FieldProblem("at", "time must carry a timezone offset"))
    elif at > latest:
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
        if newest.utcoffset() is None or newest > _require_aware(now, "now") + _minutes(limits.max_future_minutes):
            return False
    except TypeError:  # naive and aware times mixed
        return False
    return total == total  # not NaN


def validate_fix(fix: Fix, now: datetime, limits: PositionLimits = DEFAULT_POSITION_LIMITS) -> Fix:
    """Return ``fix`` unchanged if plausible, else raise ``invalid_position``."""
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
        raise DomainError(
            "invalid_position",
            "; ".join(p.problem for p in problems),
            {"problems": [{"field": p.field, "problem": p.problem} for p in problems]},
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
        raise DomainError("invalid_position", "the batch holds no positions", [])
    if len(items) > max_items:
        raise DomainError(
            "batch_too_large",
            f"at most {max_items} positions per request",
            {"max_items": max_items, "received": len(items)},
        )
    details: list[dict[str, Any]] = []
    latest = _require_aware(now, "now") + _minutes(limits.max_future_minutes)
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
        raise DomainError(
            "invalid_position",
            f"position {first['index']}: {first['problem']}",
            details[:max_reported],
        )


# ---------------------------------------------------------------------------
# OsmAnd / Traccar parsing
# ---------------------------------------------------------------------------

# Epoch values at or above this are milliseconds: 1e11 s is the year 5138, while
# 1e11 ms is 1973, so no real fix is ambiguous.
_EPOCH_MS_THRESHOLD = 100_000_000_000
_EPOCH_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _bad_field(name: str, problem: str) -> DomainError:
    return DomainError("invalid_field", f"{name}: {problem}", {"field": name})


def _missing(name: str) -> DomainError:
    return DomainError("missing_field", f"{name} is required", {"field": name})


def _scalar(value: Any) -> Any:
    # Query-string parsers hand us lists for repeated keys; the last one wins, as in Traccar.
    if isinstance(value, list | tuple):
        return value[-1] if value else None
    return value


def _pick(params: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = params.get(name)
        if type(value) is not str:  # a string (the usual case) is a scalar; skip the call
            value = _scalar(value)
        if value is not None and value != "":
            return value
    return None


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):  # bool is an int subclass; True is not a latitude
        raise _bad_field(name, "must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _bad_field(name, f"must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise _bad_field(name, "must be a finite number")
    return number


def _optional_number(value: Any, name: str, *, negative_is_unknown: bool = False) -> float | None:
    if value is None or value == "":
        return None
    number = _number(value, name)
    # Phone location APIs report -1 for "unknown" speed/heading/accuracy.
    if negative_is_unknown and number < 0:
        return None
    return number


def _boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise _bad_field(name, f"must be true/false/1/0, got {value!r}")


def parse_timestamp(value: Any, name: str = "timestamp") -> datetime:
    """Epoch seconds or milliseconds (by magnitude) or ISO 8601 *with* offset -> aware UTC.

    A naive ISO string is refused (``naive_timestamp``): guessing the device's zone
    would silently shift every fix by hours.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise DomainError("naive_timestamp", f"{name} has no timezone offset", {"field": name})
        return value.astimezone(UTC)
    if isinstance(value, bool) or value is None:
        raise _bad_field(name, "must be epoch seconds, epoch milliseconds or ISO 8601")
    text = str(value).strip()
    if _EPOCH_NUMBER.fullmatch(text):
        epoch = float(text)
        if abs(epoch) >= _EPOCH_MS_THRESHOLD:
            epoch /= 1000.0
        try:
            return datetime.fromtimestamp(epoch, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise _bad_field(name, "epoch value out of range") from None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _bad_field(name, f"not epoch seconds/milliseconds or ISO 8601: {text!r}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise DomainError("naive_timestamp", f"{name} {text!r} has no timezone offset", {"field": name})
    return parsed.astimezone(UTC)


def parse_osmand_params(params: Mapping[str, Any], *, received_at: datetime | None = None) -> Fix:
    """Parse the OsmAnd query/form parameters (``id|deviceid, lat, lon, timestamp, speed`` ...).

    ``speed`` is in knots (as Traccar defines the protocol). ``batt`` is a percentage.
    ``location=lat,lon`` is accepted instead of ``lat``/``lon``. A missing timestamp
    falls back to ``received_at`` (the server's receive time, passed in so this stays
    pure); without either it is an error.
    """
    device_id = _pick(params, "id", "deviceid")
    if device_id is None or not str(device_id).strip():
        raise _missing("id")
    lat_raw, lon_raw = _pick(params, "lat"), _pick(params, "lon")
    location = _pick(params, "location")
    if (lat_raw is None or lon_raw is None) and location is not None:
        parts = str(location).split(",")
        if len(parts) != 2:
            raise _bad_field("location", "must be 'lat,lon'")
        lat_raw, lon_raw = parts
    if lat_raw is None:
        raise _missing("lat")
    if lon_raw is None:
        raise _missing("lon")
    raw_ts = _pick(params, "timestamp")
    if raw_ts is not None:
        at = parse_timestamp(raw_ts)
    elif received_at is not None:
        at = _require_aware(received_at, "received_at")
    else:
        raise _missing("timestamp")
    knots = _optional_number(_pick(params, "speed"), "speed", negative_is_unknown=True)
    valid_raw = _pick(params, "valid")
    return Fix(
        device_id=str(device_id).strip(),
        at=at,
        lat=_number(lat_raw, "lat"),
        lon=_number(lon_raw, "lon"),
        speed_kmh=None if knots is None else knots * KNOTS_TO_KMH,
        heading=_optional_number(_pick(params, "bearing", "heading"), "bearing", negative_is_unknown=True),
        altitude=_optional_number(_pick(params, "altitude"), "altitude"),
        accuracy=_optional_number(_pick(params, "accuracy"), "accuracy", negative_is_unknown=True),
        battery=_optional_number(_pick(params, "batt", "battery"), "batt", negative_is_unknown=True),
        valid=True if valid_raw is None else _boolean(valid_raw, "valid"),
    )


def parse_osmand_json(body: Mapping[str, Any]) -> Fix:
    """Parse the OsmAnd JSON body that Traccar Client 9+ posts.

    Shape: ``{"device_id", "location": {"timestamp": ISO, "coords": {"latitude",
    "longitude", "speed" (m/s), "heading", "altitude", "accuracy"}, "battery": {"level": 0..1}}}``.
    Here speed is metres per second (the background-location SDK's unit), not knots.
    """
    device_id = body.get("device_id")
    if device_id is None or not str(device_id).strip():
        raise _missing("device_id")
    location = body.get("location")
    if not isinstance(location, Mapping):
        raise _missing("location")
    coords = location.get("coords")
    if not isinstance(coords, Mapping):
        raise _missing("location.coords")
    if location.get("timestamp") in (None, ""):
        raise _missing("location.timestamp")
    for key in ("latitude", "longitude"):
        if coords.get(key) is None:
            raise _missing(f"location.coords.{key}")
    mps = _optional_number(coords.get("speed"), "location.coords.speed", negative_is_unknown=True)
    battery = location.get("battery")
    level = None
    if isinstance(battery, Mapping):
        level = _optional_number(battery.get("level"), "location.battery.level", negative_is_unknown=True)
    return Fix(
        device_id=str(device_id).strip(),
        at=parse_timestamp(location["timestamp"], "location.timestamp"),
        lat=_number(coords["latitude"], "location.coords.latitude"),
        lon=_number(coords["longitude"], "location.coords.longitude"),
        speed_kmh=None if mps is None else mps * MPS_TO_KMH,
        heading=_optional_number(coords.get("heading"), "location.coords.heading", negative_is_unknown=True),
        altitude=_optional_number(coords.get("altitude"), "location.coords.altitude"),
        accuracy=_optional_number(
            coords.get("accuracy"), "location.coords.accuracy", negative_is_unknown=True
        ),
        battery=None if level is None else round(level * 100.0, 1),  # SDK level is 0..1
    )


def parse_osmand(data: Mapping[str, Any], *, received_at: datetime | None = None) -> Fix:
    """Either OsmAnd form: the JSON body (has ``location``) or query/form parameters."""
    if isinstance(data.get("location"), Mapping):
        return parse_osmand_json(data)
    return parse_osmand_params(data, received_at=received_at)


def parse_traccar_forward(body: Mapping[str, Any]) -> Fix:
    """Parse Traccar's JSON position forwarding (``forward.type=json``).

    The device is identified by ``device.uniqueId`` (Traccar's ``deviceId`` is its own
    database id and means nothing to us). Speed is in knots. ``fixTime`` is ISO 8601
    (Traccar writes ``+0000`` offsets) or epoch milliseconds.
    """
    position = body.get("position")
    if not isinstance(position, Mapping):
        raise _missing("position")
    device = body.get("device")
    unique_id = device.get("uniqueId") if isinstance(device, Mapping) else None
    if unique_id is None or not str(unique_id).strip():
        raise _missing("device.uniqueId")
    for key in ("fixTime", "latitude", "longitude"):
        if position.get(key) in (None, ""):
            raise _missing(f"position.{key}")
    knots = _optional_number(position.get("speed"), "position.speed", negative_is_unknown=True)
    attributes = position.get("attributes")
    battery = None
    if isinstance(attributes, Mapping):
        battery = _optional_number(
            _pick(attributes, "batteryLevel", "batt"),
            "position.attributes.batteryLevel",
            negative_is_unknown=True,
        )
    valid = position.get("valid")
    return Fix(
        device_id=str(unique_id).strip(),
        at=parse_timestamp(position["fixTime"], "position.fixTime"),
        lat=_number(position["latitude"], "position.latitude"),
        lon=_number(position["longitude"], "position.longitude"),
        speed_kmh=None if knots is None else knots * KNOTS_TO_KMH,
        heading=_optional_number(position.get("course"), "position.course", negative_is_unknown=True),
        altitude=_optional_number(position.get("altitude"), "position.altitude"),
        accuracy=_optional_number(position.get("accuracy"), "position.accuracy", negative_is_unknown=True),
        battery=battery,
        valid=True if valid is None else _boolean(valid, "position.valid"),
    )


# ---------------------------------------------------------------------------
# Recent speed and ETA
# ---------------------------------------------------------------------------


def _upto(fixes: Iterable[PositionLike], now: datetime) -> list[PositionLike]:
    # Fixes later than "now" do not exist yet during a replay; ignoring them keeps
    # replayed decisions identical to live ones.
    return sorted((f for f in fixes if f.at <= now), key=lambda f: f.at)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@functools.lru_cache(maxsize=64)  # the rules ask for the same few configured durations for every vehicle
def _micros(minutes: float) -> int:
    # rounded as a timedelta rounds it, so a track decides exactly as the datetime rules did
    return _minutes(minutes) // _MICROSECOND


def epoch_micros(at: datetime) -> int:
    """An aware time as whole microseconds since the Unix epoch: the time axis of a `TrackRow`
    (exact: below 2**53, so a float8 holds it exactly too)."""
    return (at - _EPOCH) // _MICROSECOND


# A vehicle's sampled track as the rules read it: rows of (time in epoch microseconds, lat, lon,
# reported speed in km/h or None), oldest first. The evaluation reads a track per vehicle for every
# position batch and group commit: as plain rows, straight from the database's arrays, the rules
# cost a pass over numbers instead of a datetime and an object per fix.
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
    now = _require_aware(now, "now")
    return track_speed_kmh(_track_rows(fixes, now), epoch_micros(now), cfg)


def effective_speed_kmh(recent_speed_kmh: float | None, cfg: EtaConfig = DEFAULT_ETA_CONFIG) -> float:
    """Speed used for the ETA: the recent average bounded below, or the default cruise speed."""
    if recent_speed_kmh is None:
        return cfg.default_speed_kmh
    return max(cfg.min_speed_kmh, recent_speed_kmh)


@dataclass(frozen=True, slots=True)
class EtaEstimate:
    """An ETA and how it was obtained (kept for the timeline and for debugging disputes)."""

    eta: datetime
    computed_from: datetime  # the fix time the ETA is based on
    remaining_km: float  # road kilometres (great circle x road factor)
    speed_kmh: float  # the effective speed used
    pending_transfers: int
    drive_minutes: float
    dwell_minutes: float


def estimate_eta(
    *,
    position: GeoPoint,
    fix_at: datetime,
    pending_via: Sequence[GeoPoint],
    destination: GeoPoint,
    recent_speed_kmh: float | None,
    cfg: EtaConfig = DEFAULT_ETA_CONFIG,
) -> EtaEstimate:
    """ETA = fix time + road distance / effective speed + dwell per remaining transfer.

    The road distance is the great-circle path from ``position`` through the
    not-yet-reached transfer stations (in route order) to ``destination``, times the
    road factor. The ETA is truncated to whole seconds.
    """
    fix_at = _require_aware(fix_at, "fix_at")
    remaining_km = path_length_km([position, *pending_via, destination]) * cfg.road_factor
    speed = effective_speed_kmh(recent_speed_kmh, cfg)
    drive_minutes = remaining_km / speed * 60.0
    dwell_minutes = len(pending_via) * cfg.dwell_minutes_per_transfer
    eta = fix_at + _minutes(drive_minutes + dwell_minutes)
    return EtaEstimate(
        eta=eta.replace(microsecond=0),
        computed_from=fix_at,
        remaining_km=remaining_km,
        speed_kmh=speed,
        pending_transfers=len(pending_via),
        drive_minutes=drive_minutes,
        dwell_minutes=dwell_minutes,
    )


def estimate_eta_from_fixes(
    fixes: Sequence[PositionLike],
    *,
    pending_via: Sequence[GeoPoint],
    destination: GeoPoint,
    cfg: EtaConfig = DEFAULT_ETA_CONFIG,
) -> EtaEstimate:
    """ETA from a vehicle's recent fixes: the newest one is the position and "now"."""
    if not fixes:
        raise DomainError("no_position", "cannot estimate an ETA without a position")
    newest = max(fixes, key=lambda f: f.at)
    return estimate_eta(
        position=GeoPoint(newest.lat, newest.lon),
        fix_at=newest.at,
        pending_via=pending_via,
        destination=destination,
        recent_speed_kmh=recent_average_speed_kmh(fixes, newest.at, cfg),
        cfg=cfg,
    )


# ---------------------------------------------------------------------------
# Delay reasons, delay evaluation, stale vehicles
# ---------------------------------------------------------------------------


class DelayReason(StrEnum):
    """Why a shipment is late: inferred from the feed, or stated by staff in a note."""

    VEHICLE_STOPPED = "vehicle_stopped"
    NO_SIGNAL = "no_signal"
    SLOW_PROGRESS = "slow_progress"
    TRAFFIC_JAM = "traffic_jam"
    BREAKDOWN = "breakdown"
    CUSTOMS_INSPECTION = "customs_inspection"
    WEATHER = "weather"
    FORCE_MAJEURE = "force_majeure"
    OTHER = "other"


INFERRED_REASONS = frozenset({DelayReason.VEHICLE_STOPPED, DelayReason.NO_SIGNAL, DelayReason.SLOW_PROGRESS})
# The reasons a staff note may carry (the contract's `reason` enum on notes).
NOTE_REASONS = frozenset(DelayReason) - INFERRED_REASONS


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
    longer = _minutes(max(cfg.speed_window_minutes, cfg.stopped_minutes))
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
    now = _require_aware(now, "now")
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
    live fix is sampled when it is at least ``track_sample_seconds`` after the previous
    sample. A late fix, older than the newest sample (a device uploading what it buffered
    offline), is always sampled: the thinning never hides history that arrives out of order.
    Every fix is stored either way; the vehicle's newest fix is always read too.
    """
    step = timedelta(seconds=cfg.track_sample_seconds)
    flags: list[bool] = []
    next_due = None if last_sample_at is None else last_sample_at + step  # once per sample, not per fix
    for at in times:
        if next_due is None or at >= next_due:
            flags.append(True)
            last_sample_at, next_due = at, at + step
        else:
            flags.append(at < last_sample_at)  # type: ignore[operator]  # next_due set: so is last_sample_at
    return flags, last_sample_at


# --- the vehicle's stored recent track ------------------------------------------------------
#
# Why: reading each evaluated vehicle's sampled fixes back from `positions` was a third of the
# database's work on the position feed (one heap page per fix: a vehicle's fixes are spread over
# the pages of everyone's), and the fixes it read were ones the service itself had just written.
# So the vehicle row carries its recent sampled track (`vehicles.recent_track`), kept by the same
# transaction that stores the fixes, and the evaluation reads it with the vehicle it has locked
# anyway. `positions` stays the record; the stored track is exactly its sampled fixes at or after
# `recent_track_since`, and whenever that cannot be vouched for (a duplicate fix, a writer that
# does not keep it, a late upload too big for the row) it is cleared and read back again.

# Rows a stored track holds at most: one a minute over the rules' 30 minutes is about 31. Beyond
# this (a device uploading hours it buffered offline) the row would outgrow a page's inline
# limit, and every update would compress or move it out of line; such a vehicle is read back
# from `positions` until its burst is older than the window.
STORED_TRACK_MAX_ROWS = 48


def stored_track_span(cfg: EtaConfig = DEFAULT_ETA_CONFIG) -> timedelta:
    """How far back from its newest fix a vehicle's stored track reaches: the short lookback
    (`track_lookback`), the window an evaluation at the newest fix reads first."""
    return track_lookback(cfg)[0]


def stored_track_covers(since: datetime | None, stamp: datetime | None, last_sample_at: datetime | None,
                        window_start: datetime) -> bool:
    """Whether a vehicle's stored track (complete from ``since`` on; None: there is none) can
    stand in for `positions` from ``window_start`` on. ``stamp`` is the vehicle's newest sample
    time when the track was written: a writer that stored a newer sample without keeping the
    track (a replica of an earlier release, during a rolling upgrade) moved ``last_sample_at``
    away from it."""
    return since is not None and since <= window_start and stamp == last_sample_at


def merge_track(base: Sequence[TrackRow], new: Sequence[TrackRow], since_us: int) -> list[TrackRow]:
    """A stored track (rows oldest first, one per time) after a vehicle's new samples (oldest
    first): the rows at or after ``since_us``, in time order. A time already present keeps its
    row, as `positions` keeps the first fix stored for a vehicle and time."""
    kept = list(base)
    if kept and kept[0][0] < since_us:
        kept = [r for r in kept if r[0] >= since_us]
    fresh = [r for r in new if r[0] >= since_us]
    if not fresh:
        return kept
    merged = kept + fresh
    if kept and fresh[0][0] <= kept[-1][0]:  # late fixes among them (the live feed's are all newer)
        merged.sort(key=operator.itemgetter(0))  # stable: a stored row before a new one of its time
    out: list[TrackRow] = []
    for row in merged:
        if not out or row[0] != out[-1][0]:
            out.append(row)
    return out


def track_window(track: Sequence[TrackRow], start_us: int, end_us: int) -> list[TrackRow]:
    """The rows of a track (oldest first) from ``start_us`` to ``end_us``, both included: what
    `positions` answers for that window."""
    if track and start_us <= track[0][0] and track[-1][0] <= end_us:
        return list(track)
    return [r for r in track if start_us <= r[0] <= end_us]


def evaluation_due(newest_fix_at: datetime, last_evaluated_at: datetime | None,
                   cfg: EtaConfig = DEFAULT_ETA_CONFIG) -> bool:
    """Whether a vehicle whose newest fix advanced to ``newest_fix_at`` has its shipments
    re-evaluated now, given when its feed last evaluated them (the fix time, None = never).

    Why: a tracker reporting every second would recompute every shipment's ETA every second,
    although an ETA moves by seconds between two fixes; that evaluation was most of what a
    device fix cost. So a live feed evaluates a vehicle at most once per
    ``evaluation_interval_seconds`` of its feed (fix time, so a replay decides alike). The first
    fix after a quiet spell, and every fix of a device reporting less often than that, is
    evaluated at once; on a dense feed, the position that makes a shipment late is noticed at
    the latest one interval later. Scans, notes and the stale sweep evaluate regardless.
    """
    if last_evaluated_at is None or cfg.evaluation_interval_seconds <= 0:
        return True
    return newest_fix_at - last_evaluated_at >= timedelta(seconds=cfg.evaluation_interval_seconds)


def effective_delay_reason(inferred: DelayReason, note_reason: DelayReason | str | None) -> DelayReason:
    """A staff note's reason (they found out the real situation) overrides the inferred one."""
    if note_reason is None:
        return inferred
    try:
        reason = DelayReason(note_reason)
    except ValueError:
        reason = None
    if reason is None or reason not in NOTE_REASONS:
        raise DomainError(
            "invalid_reason",
            f"{note_reason!r} is not a reason a staff note can give",
            {"allowed": sorted(NOTE_REASONS)},
        )
    return reason


class DelayEvent(StrEnum):
    NONE = "none"
    DELAYED = "delayed"  # -> tracking.shipment.delayed.v1
    RECOVERED = "recovered"  # -> tracking.shipment.recovered.v1


@dataclass(frozen=True, slots=True)
class DelayState:
    """What the desk has been told about a shipment's lateness (persisted per shipment).

    ``notified_eta`` is the ETA carried by the last ``delayed`` notice: a new notice
    goes out only when the ETA is at least one worsening step beyond it.
    ``evaluated_at`` is the "now" of the last evaluation; an older fix arriving late
    does not roll the state back.
    """

    delayed: bool = False
    notified_eta: datetime | None = None
    delay_minutes: int = 0  # current delay vs promised_at, rounded up to whole minutes
    reason: DelayReason | None = None
    eta: datetime | None = None  # the latest ETA, notified or not
    evaluated_at: datetime | None = None
    notified_at: datetime | None = None  # the "now" of the last `delayed` notice


@dataclass(frozen=True, slots=True)
class DelayDecision:
    state: DelayState
    event: DelayEvent

    @property
    def emits(self) -> bool:
        return self.event is not DelayEvent.NONE


def delay_minutes(eta: datetime, promised_at: datetime) -> int:
    """Minutes late against the promised time (0 when on time), rounded up."""
    seconds = (eta - promised_at).total_seconds()
    return max(0, math.ceil(seconds / 60.0))


def evaluate_delay(
    *,
    previous: DelayState,
    eta: datetime,
    promised_at: datetime,
    now: datetime,
    inferred_reason: DelayReason,
    note_reason: DelayReason | str | None = None,
    cfg: EtaConfig = DEFAULT_ETA_CONFIG,
) -> DelayDecision:
    """The delay state machine; returns the new state and the one event (if any) to emit.

    * on time -> on time: nothing.
    * on time -> late (ETA > promised_at + grace): ``delayed`` (first detection).
    * late -> later by >= worsen_step beyond the last *notified* ETA, and at least
      renotify_min after the last notice: ``delayed`` again.
    * late -> late otherwise (small worsening, improvement, new reason): nothing, but
      the state keeps the current ETA, delay minutes and reason for queries.
    * late -> on time (ETA <= promised_at + grace - recovery_margin): ``recovered``.
    * ``now`` older than the previous evaluation (an out-of-order fix): nothing changes.
    """
    now = _require_aware(now, "now")
    eta = _require_aware(eta, "eta")
    promised_at = _require_aware(promised_at, "promised_at")
    if previous.evaluated_at is not None and now < previous.evaluated_at:
        return DelayDecision(previous, DelayEvent.NONE)

    reason = effective_delay_reason(inferred_reason, note_reason)
    late_after = promised_at + _minutes(cfg.grace_minutes)
    minutes = delay_minutes(eta, promised_at)

    if not previous.delayed:
        if eta > late_after:
            state = DelayState(True, eta, minutes, reason, eta, now, notified_at=now)
            return DelayDecision(state, DelayEvent.DELAYED)
        return DelayDecision(DelayState(False, None, 0, None, eta, now), DelayEvent.NONE)

    if eta <= late_after - _minutes(cfg.recovery_margin_minutes):
        return DelayDecision(DelayState(False, None, 0, None, eta, now), DelayEvent.RECOVERED)

    notified = previous.notified_eta
    rested = previous.notified_at is None or now - previous.notified_at >= _minutes(cfg.renotify_min_minutes)
    if notified is None or (eta - notified >= _minutes(cfg.worsen_step_minutes) and rested):
        return DelayDecision(DelayState(True, eta, minutes, reason, eta, now, notified_at=now), DelayEvent.DELAYED)
    return DelayDecision(DelayState(True, notified, minutes, reason, eta, now, notified_at=previous.notified_at),
                         DelayEvent.NONE)


# An evaluation that only refreshes the ETA is written when the ETA moved by this much or the
# stored one is this old (see delay_state_worth_saving).
ETA_SAVE_STEP = timedelta(minutes=1)
ETA_SAVE_MAX_AGE = timedelta(minutes=1)


def delay_state_worth_saving(previous: DelayState, new: DelayState) -> bool:
    """Whether an evaluation's state must be written to the shipment.

    Everything the delay rules decide on (delayed, the notified ETA and time, the delay
    minutes, the reason) is written whenever it changes. An evaluation that only refreshes the
    ETA and its time is written when the ETA moved by at least `ETA_SAVE_STEP` or the stored
    evaluation is `ETA_SAVE_MAX_AGE` old. Why: a device reporting every second re-evaluates its
    shipments every second, and rewriting each shipment's row for an ETA that moved by seconds
    was most of the database's work on the device feed; what the desk sees stays at most a
    minute behind. The rules lose nothing: the stored `evaluated_at` (which makes an older
    "now" change nothing) lags by at most that minute, and an older fix never advances its
    vehicle, so it is not evaluated at all."""
    if (new.delayed, new.notified_eta, new.delay_minutes, new.reason, new.notified_at) != (
            previous.delayed, previous.notified_eta, previous.delay_minutes, previous.reason, previous.notified_at):
        return True
    if new.eta is None or previous.eta is None or new.evaluated_at is None or previous.evaluated_at is None:
        return (new.eta, new.evaluated_at) != (previous.eta, previous.evaluated_at)
    return abs(new.eta - previous.eta) >= ETA_SAVE_STEP or new.evaluated_at - previous.evaluated_at >= ETA_SAVE_MAX_AGE


def is_stale(last_fix_at: datetime | None, now: datetime, cfg: EtaConfig = DEFAULT_ETA_CONFIG) -> bool:
    """A vehicle is stale when its newest fix is ``no_signal_minutes`` old, or it never reported."""
    now = _require_aware(now, "now")
    if last_fix_at is None:
        return True
    return now - _require_aware(last_fix_at, "last_fix_at") >= _minutes(cfg.no_signal_minutes)


def stale_event_due(
    *,
    last_fix_at: datetime | None,
    now: datetime,
    flagged_for_fix_at: datetime | None,
    cfg: EtaConfig = DEFAULT_ETA_CONFIG,
) -> bool:
    """Whether to emit ``tracking.vehicle.stale.v1`` now: once per silence.

    A silence is identified by the fix it follows, so the caller stores
    ``flagged_for_fix_at = last_fix_at`` when it emits; any newer fix starts a new
    silence with no reset step needed. A vehicle that never reported has no silence
    to announce (the 08:00 report shows it as stale).
    """
    if last_fix_at is None or not is_stale(last_fix_at, now, cfg):
        return False
    return flagged_for_fix_at is None or _require_aware(flagged_for_fix_at, "flagged_for_fix_at") != (
        _require_aware(last_fix_at, "last_fix_at")
    )


# ---------------------------------------------------------------------------
# Scans, split shipments, status
# ---------------------------------------------------------------------------


class ScanType(StrEnum):
    DEPARTED = "departed"
    ARRIVED_TRANSFER = "arrived_transfer"
    DEPARTED_TRANSFER = "departed_transfer"
    ARRIVED = "arrived"
    OUT_FOR_DELIVERY = "out_for_delivery"


class ShipmentStatus(StrEnum):
    REGISTERED = "registered"
    IN_TRANSIT = "in_transit"
    ARRIVED = "arrived"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    EXCEPTION = "exception"  # displayed only, while an exception is open; never stored as base


@dataclass(frozen=True, slots=True)
class Route:
    """Origin, transfer stations in order, destination (station codes)."""

    origin: str
    destination: str
    via: tuple[str, ...] = ()

    @property
    def transfers(self) -> int:
        return len(self.via)

    @property
    def stations(self) -> tuple[str, ...]:
        return (self.origin, *self.via, self.destination)


def pending_via(route: Route, reached: Iterable[str]) -> tuple[str, ...]:
    """Transfer stations still ahead: those after the last reached one, in route order.

    Reaching a later transfer implies the earlier ones were passed (a missed scan must
    not put the truck back on a detour in the ETA).
    """
    reached_set = set(reached)
    last = -1
    for i, code in enumerate(route.via):
        if code in reached_set:
            last = i
    return route.via[last + 1 :]


@dataclass(frozen=True, slots=True)
class Scan:
    type: ScanType
    station: str
    at: datetime
    pieces: int | None = None  # None on a batch scan means "all remaining pieces"
    vehicle_id: str | None = None


@dataclass(frozen=True, slots=True)
class ScanState:
    """What the scans so far say about a shipment (the base status, never ``exception``).

    ``final`` becomes true, and ``arrived_at`` is set to that scan's time, when the
    ``arrived`` batches add up to ``pieces_total`` (split shipments: the last batch).
    """

    pieces_total: int
    status: ShipmentStatus = ShipmentStatus.REGISTERED
    pieces_arrived: int = 0
    departed_at: datetime | None = None
    last_scan_at: datetime | None = None
    reached_via: tuple[str, ...] = ()
    final: bool = False
    arrived_at: datetime | None = None


def _scan_error(code: str, message: str, scan: Scan) -> DomainError:
    return DomainError(
        code, message, {"type": str(scan.type), "station": scan.station, "at": scan.at.isoformat()}
    )


def apply_scan(state: ScanState, scan: Scan, route: Route) -> ScanState:
    """Validate ``scan`` against the shipment and return the new derived state.

    Raises :class:`DomainError` (the API answers 409) with one of:
    ``already_delivered``, ``already_arrived``, ``time_before_previous_scan``,
    ``station_not_on_route``, ``invalid_pieces``, ``pieces_exceed_waybill``,
    ``scan_before_departure``, ``scan_before_arrival``, ``departure_not_at_origin``,
    ``transfer_not_on_route``, ``arrival_not_at_destination``.
    """
    at = _require_aware(scan.at, "at")
    if state.status is ShipmentStatus.DELIVERED:
        raise _scan_error("already_delivered", "the shipment has already been delivered", scan)
    if state.last_scan_at is not None and at < state.last_scan_at:
        raise _scan_error(
            "time_before_previous_scan",
            f"scan time is before the previous scan ({state.last_scan_at.isoformat()})",
            scan,
        )
    if scan.station not in route.stations:
        raise _scan_error(
            "station_not_on_route", f"station {scan.station} is not on this shipment's route", scan
        )
    if scan.pieces is not None:
        if scan.pieces <= 0:
            raise _scan_error("invalid_pieces", "pieces must be at least 1", scan)
        if scan.pieces > state.pieces_total:
            raise _scan_error(
                "pieces_exceed_waybill",
                f"{scan.pieces} pieces scanned but the waybill has {state.pieces_total}",
                scan,
            )
    departed = state.departed_at is not None
    new = replace(state, last_scan_at=at)

    if scan.type is ScanType.DEPARTED:
        if scan.station != route.origin:
            raise _scan_error("departure_not_at_origin", f"departure must be scanned at {route.origin}", scan)
        if state.final:
            raise _scan_error("already_arrived", "every piece has already arrived", scan)
        # Further `departed` scans are later batches of a split shipment.
        status = ShipmentStatus.IN_TRANSIT if state.status is ShipmentStatus.REGISTERED else state.status
        return replace(new, status=status, departed_at=state.departed_at or at)

    if not departed:
        raise _scan_error("scan_before_departure", f"{scan.type} scanned before the shipment departed", scan)

    if scan.type in (ScanType.ARRIVED_TRANSFER, ScanType.DEPARTED_TRANSFER):
        if scan.station not in route.via:
            raise _scan_error(
                "transfer_not_on_route", f"{scan.station} is not a transfer station of this route", scan
            )
        # A departed_transfer without its arrival scan still proves the goods got there.
        reached = (
            state.reached_via if scan.station in state.reached_via else (*state.reached_via, scan.station)
        )
        return replace(new, reached_via=reached)

    if scan.station != route.destination:
        raise _scan_error(
            "arrival_not_at_destination", f"{scan.type} must be scanned at {route.destination}", scan
        )

    if scan.type is ScanType.ARRIVED:
        if state.final:
            raise _scan_error("already_arrived", "every piece has already arrived", scan)
        batch = scan.pieces if scan.pieces is not None else state.pieces_total - state.pieces_arrived
        arrived = state.pieces_arrived + batch
        if arrived > state.pieces_total:
            raise _scan_error(
                "pieces_exceed_waybill",
                f"{arrived} pieces would have arrived but the waybill has {state.pieces_total}",
                scan,
            )
        final = arrived == state.pieces_total
        if final:
            status = (
                ShipmentStatus.OUT_FOR_DELIVERY
                if state.status is ShipmentStatus.OUT_FOR_DELIVERY
                else ShipmentStatus.ARRIVED
            )
        else:
            # Part of the goods is still on the road: keep tracking it as in transit.
            status = (
                state.status if state.status is ShipmentStatus.OUT_FOR_DELIVERY else ShipmentStatus.IN_TRANSIT
            )
        return replace(
            new,
            status=status,
            pieces_arrived=arrived,
            final=final,
            arrived_at=at if final else None,
            reached_via=route.via,
        )

    # OUT_FOR_DELIVERY: at least one batch must be at the destination to go out.
    if state.pieces_arrived == 0:
        raise _scan_error("scan_before_arrival", "out_for_delivery scanned before any piece arrived", scan)
    return replace(new, status=ShipmentStatus.OUT_FOR_DELIVERY)


def replay_scans(route: Route, pieces_total: int, scans: Iterable[Scan]) -> ScanState:
    """Fold recorded scans (oldest first) into the state; raises on the first impossible one."""
    state = ScanState(pieces_total=pieces_total)
    for scan in scans:
        state = apply_scan(state, scan, route)
    return state


def apply_delivery(state: ScanState, signed_at: datetime, pieces: int) -> ScanState:
    """Record the signed delivery: pieces must have arrived and the time must follow the scans."""
    at = _require_aware(signed_at, "signed_at")
    if state.status is ShipmentStatus.DELIVERED:
        raise DomainError("already_delivered", "the shipment has already been delivered")
    if pieces <= 0:
        raise DomainError("invalid_pieces", "pieces must be at least 1", {"pieces": pieces})
    if pieces > state.pieces_total:
        raise DomainError(
            "pieces_exceed_waybill",
            f"{pieces} pieces signed but the waybill has {state.pieces_total}",
            {"pieces": pieces, "pieces_total": state.pieces_total},
        )
    if state.pieces_arrived == 0:
        raise DomainError("delivery_before_arrival", "no piece has arrived at the destination yet")
    if state.last_scan_at is not None and at < state.last_scan_at:
        raise DomainError(
            "time_before_previous_scan",
            "signed_at is before the last scan",
            {"last_scan_at": state.last_scan_at.isoformat()},
        )
    return replace(state, status=ShipmentStatus.DELIVERED, last_scan_at=at)


def displayed_status(base: ShipmentStatus, open_exceptions: int) -> ShipmentStatus:
    """The status shown to users: ``exception`` while any exception is open, else the base."""
    return ShipmentStatus.EXCEPTION if open_exceptions > 0 else base


# ---------------------------------------------------------------------------
# Signing: identity checks
# ---------------------------------------------------------------------------


class IdType(StrEnum):
    """Valid identity documents for pickup. Photocopies are never valid: no type for them."""

    ID_CARD = "id_card"  # 居民身份证
    OFFICER_CARD = "officer_card"  # 军官证
    HOUSEHOLD_REGISTER = "household_register"  # 户口本
    DRIVING_LICENCE = "driving_licence"  # 驾驶证
    PASSPORT = "passport"  # 护照
    HK_MACAO_PERMIT = "hk_macao_permit"  # 港澳居民来往内地通行证
    TAIWAN_PERMIT = "taiwan_permit"  # 台湾居民来往大陆通行证


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"


def resident_id_check_char(first17: str) -> str:
    """GB 11643-1999 check character for the first 17 digits (ISO 7064 MOD 11-2)."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("need exactly 17 ASCII digits")
    return _ID_CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def is_plausible_resident_id(number: str) -> bool:
    """18 characters, 17 digits + digit/X, a real birth date, and a correct checksum."""
    text = number.strip().upper()
    if not re.fullmatch(r"[0-9]{17}[0-9X]", text):
        return False
    try:
        date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return False
    return resident_id_check_char(text[:17]) == text[17]


def normalise_name(name: str) -> str:
    """NFC and surrounding whitespace only: 杨民敬 and 杨明静 must stay different."""
    return unicodedata.normalize("NFC", name).strip()


@dataclass(frozen=True, slots=True)
class Delegate:
    """A person picking up for the consignee (委托提货)."""

    name: str
    id_number: str | None
    consignee_id_number: str | None


@dataclass(frozen=True, slots=True)
class Consignee:
    name: str
    company: str | None = None


def _identity_mismatch(reason: str, message: str) -> DomainError:
    return DomainError("identity_mismatch", message, {"reason": reason})


def check_signing(
    *,
    consignee: Consignee,
    signer_name: str,
    signer_id_type: IdType | str,
    signer_id_number: str | None,
    delegate: Delegate | None,
    company_stamp: bool,
    pieces: int,
    pieces_total: int,
) -> None:
    """Raise unless the goods may be released to this signer (nothing is recorded on failure).

    Every identity problem is ``identity_mismatch`` with ``details.reason`` saying which rule:
    ``id_type_not_accepted``, ``id_number_missing``, ``id_number_implausible``,
    ``name_mismatch``, ``delegate_id_numbers_missing``, ``delegate_name_mismatch``,
    ``company_stamp_missing``. Pieces beyond the waybill -> ``pieces_exceed_waybill``.
    """
    try:
        id_type = IdType(signer_id_type)
    except ValueError:
        raise _identity_mismatch(
            "id_type_not_accepted",
            f"{signer_id_type!r} is not an accepted identity document (photocopies are never valid); "
            f"accepted: {', '.join(t.value for t in IdType)}",
        ) from None
    if not signer_id_number or not signer_id_number.strip():
        raise _identity_mismatch("id_number_missing", "the signer's ID number is required")
    if id_type is IdType.ID_CARD and not is_plausible_resident_id(signer_id_number):
        raise _identity_mismatch(
            "id_number_implausible",
            "the resident ID number is not valid (18 characters, checksum per GB 11643)",
        )

    signer = normalise_name(signer_name)
    if not signer:
        raise _identity_mismatch("name_mismatch", "the signer's name is required")
    if signer != normalise_name(consignee.name):
        if delegate is None:
            raise _identity_mismatch(
                "name_mismatch",
                f"signer {signer!r} does not match the consignee {normalise_name(consignee.name)!r} exactly; "
                "release needs the shipper's consignee change or confirmation from the consignee's phone",
            )
        if not (delegate.id_number or "").strip() or not (delegate.consignee_id_number or "").strip():
            raise _identity_mismatch(
                "delegate_id_numbers_missing",
                "delegated pickup needs both the delegate's and the consignee's ID numbers",
            )
        if normalise_name(delegate.name) != signer:
            raise _identity_mismatch(
                "delegate_name_mismatch",
                f"signer {signer!r} is neither the consignee nor the named delegate "
                f"{normalise_name(delegate.name)!r}",
            )
    if consignee.company is not None and not company_stamp:
        raise _identity_mismatch(
            "company_stamp_missing",
            f"consignee company {consignee.company!r} requires its stamp "
            "(on the receipt or on an authorisation letter)",
        )
    if pieces <= 0:
        raise DomainError("invalid_pieces", "pieces must be at least 1", {"pieces": pieces})
    if pieces > pieces_total:
        raise DomainError(
            "pieces_exceed_waybill",
            f"{pieces} pieces signed but the waybill has {pieces_total}",
            {"pieces": pieces, "pieces_total": pieces_total},
        )


# ---------------------------------------------------------------------------
# ID number protection
# ---------------------------------------------------------------------------


def _normalise_id_number(number: str) -> str:
    # Case and spacing must not produce two hashes for one person (…002x vs …002X).
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", number)).upper()


def hash_id_number(number: str, key: bytes) -> str:
    """Keyed hash (HMAC-SHA256, hex) of an ID number, for lookups without storing it."""
    if not key:
        raise ValueError("an HMAC key is required")
    return hmac.new(key, _normalise_id_number(number).encode(), hashlib.sha256).hexdigest()


def last4(number: str) -> str:
    """The last four characters of the normalised ID number (all of it if shorter)."""
    return _normalise_id_number(number)[-4:]


def masked_id(last_four: str, length: int = 18) -> str:
    """Render a stored last-4 as a masked ID, e.g. ``**************1234``."""
    return "*" * max(0, length - len(last_four)) + last_four


# ---------------------------------------------------------------------------
# Reports: the 08:00 in-transit check, the weekly exception summary, CSV
# ---------------------------------------------------------------------------

HANDLING_LABELS_ZH: Mapping[str, str] = {
    "dangerous": "危险品",
    "fragile": "易碎",
    "keep_upright": "不能倒放",
    "moisture_sensitive": "怕受潮",
}


@dataclass(frozen=True, slots=True)
class VehicleSnapshot:
    """A vehicle and its newest fix, as the repository reads it."""

    vehicle_id: str
    plate: str | None = None
    carrier: str | None = None
    driver_name: str | None = None
    driver_phone: str | None = None
    last_fix_at: datetime | None = None
    lat: float | None = None
    lon: float | None = None
    speed_kmh: float | None = None


@dataclass(frozen=True, slots=True)
class OnBoardShipment:
    """An in-transit shipment and what the driver must be told about its cargo."""

    waybill_no: str
    vehicle_id: str
    destination: str
    promised_at: datetime
    eta: datetime | None = None
    delayed: bool = False
    dangerous: bool = False
    fragile: bool = False
    keep_upright: bool = False
    moisture_sensitive: bool = False

    @property
    def handling_flags(self) -> tuple[str, ...]:
        return tuple(flag for flag in HANDLING_LABELS_ZH if getattr(self, flag))


@dataclass(frozen=True, slots=True)
class InTransitRow:
    vehicle: VehicleSnapshot
    fix_age_minutes: int | None  # None when the vehicle never reported
    stale: bool
    shipments: tuple[OnBoardShipment, ...]

    @property
    def handling_flags(self) -> tuple[str, ...]:
        """Every special requirement on board, once each, in a fixed order."""
        on_board = {f for s in self.shipments for f in s.handling_flags}
        return tuple(f for f in HANDLING_LABELS_ZH if f in on_board)


def build_in_transit_report(
    vehicles: Iterable[VehicleSnapshot],
    shipments: Iterable[OnBoardShipment],
    now: datetime,
    cfg: EtaConfig = DEFAULT_ETA_CONFIG,
) -> list[InTransitRow]:
    """One row per vehicle carrying in-transit shipments, stale vehicles first, then by id.

    A shipment whose vehicle is unknown still gets a row (a bare vehicle, stale): a
    report that silently drops cargo is worse than one that shows a gap.
    """
    now = _require_aware(now, "now")
    by_id = {v.vehicle_id: v for v in vehicles}
    on_board: dict[str, list[OnBoardShipment]] = defaultdict(list)
    for s in shipments:
        on_board[s.vehicle_id].append(s)
    rows: list[InTransitRow] = []
    for vehicle_id, loads in on_board.items():
        vehicle = by_id.get(vehicle_id, VehicleSnapshot(vehicle_id=vehicle_id))
        age = None
        if vehicle.last_fix_at is not None:
            age = int((now - _require_aware(vehicle.last_fix_at, "last_fix_at")).total_seconds() // 60)
        rows.append(
            InTransitRow(
                vehicle=vehicle,
                fix_age_minutes=age,
                stale=is_stale(vehicle.last_fix_at, now, cfg),
                shipments=tuple(sorted(loads, key=lambda s: s.waybill_no)),
            )
        )
    rows.sort(key=lambda r: (not r.stale, r.vehicle.vehicle_id))
    return rows


IN_TRANSIT_CSV_COLUMNS = (
    "vehicle_id",
    "plate",
    "carrier",
    "driver_name",
    "driver_phone",
    "last_fix_at",
    "fix_age_minutes",
    "stale",
    "lat",
    "lon",
    "speed_kmh",
    "waybill_no",
    "destination",
    "promised_at",
    "eta",
    "delayed",
    "dangerous",
    "fragile",
    "keep_upright",
    "moisture_sensitive",
    "handling",
)


def in_transit_csv_records(rows: Iterable[InTransitRow]) -> list[dict[str, Any]]:
    """Flatten report rows to one record per (vehicle, shipment) for CSV printing."""
    records: list[dict[str, Any]] = []
    for row in rows:
        v = row.vehicle
        for s in row.shipments:
            records.append(
                {
                    "vehicle_id": v.vehicle_id,
                    "plate": v.plate,
                    "carrier": v.carrier,
                    "driver_name": v.driver_name,
                    "driver_phone": v.driver_phone,
                    "last_fix_at": v.last_fix_at,
                    "fix_age_minutes": row.fix_age_minutes,
                    "stale": row.stale,
                    "lat": v.lat,
                    "lon": v.lon,
                    "speed_kmh": v.speed_kmh,
                    "waybill_no": s.waybill_no,
                    "destination": s.destination,
                    "promised_at": s.promised_at,
                    "eta": s.eta,
                    "delayed": s.delayed,
                    "dangerous": s.dangerous,
                    "fragile": s.fragile,
                    "keep_upright": s.keep_upright,
                    "moisture_sensitive": s.moisture_sensitive,
                    "handling": "、".join(HANDLING_LABELS_ZH[f] for f in s.handling_flags),
                }
            )
    return records


class ExceptionKind(StrEnum):
    DAMAGE = "damage"  # 货损
    SHORTAGE = "shortage"  # 货差
    WET = "wet"
    CONTAMINATED = "contaminated"
    LOST = "lost"
    MISMATCH = "mismatch"  # waybill data does not match the goods
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ExceptionRecord:
    exception_id: str
    waybill_no: str
    kind: ExceptionKind
    station: str
    pieces: int
    reported_at: datetime
    resolved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ExceptionSummaryRow:
    station: str
    kind: ExceptionKind
    count: int
    pieces: int
    open_at_end: int  # still unresolved at the end of the period
    waybills: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExceptionSummary:
    start: datetime
    end: datetime
    rows: tuple[ExceptionSummaryRow, ...]
    by_kind: Mapping[str, int] = field(default_factory=dict)
    by_station: Mapping[str, int] = field(default_factory=dict)
    total: int = 0


def business_week(day: date) -> tuple[datetime, datetime]:
    """The Monday-to-Monday week (Asia/Shanghai) containing ``day``, as UTC datetimes."""
    monday = day - timedelta(days=day.weekday())
    start = datetime.combine(monday, time(0), tzinfo=BUSINESS_TZ)
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=BUSINESS_TZ)
    return start.astimezone(UTC), end.astimezone(UTC)


def summarise_exceptions(
    records: Iterable[ExceptionRecord], *, start: datetime, end: datetime
) -> ExceptionSummary:
    """The weekly exception summary: exceptions reported in ``[start, end)`` by station and kind."""
    start, end = _require_aware(start, "start"), _require_aware(end, "end")
    if end <= start:
        raise DomainError("invalid_period", "the period's end must be after its start")
    groups: dict[tuple[str, ExceptionKind], list[ExceptionRecord]] = defaultdict(list)
    for r in records:
        if start <= _require_aware(r.reported_at, "reported_at") < end:
            groups[(r.station, ExceptionKind(r.kind))].append(r)
    rows = tuple(
        ExceptionSummaryRow(
            station=station,
            kind=kind,
            count=len(items),
            pieces=sum(r.pieces for r in items),
            open_at_end=sum(1 for r in items if r.resolved_at is None or r.resolved_at >= end),
            waybills=tuple(sorted({r.waybill_no for r in items})),
        )
        for (station, kind), items in sorted(groups.items())
    )
    by_kind: dict[str, int] = defaultdict(int)
    by_station: dict[str, int] = defaultdict(int)
    for row in rows:
        by_kind[row.kind.value] += row.count
        by_station[row.station] += row.count
    return ExceptionSummary(start, end, rows, dict(by_kind), dict(by_station), sum(r.count for r in rows))


EXCEPTION_CSV_COLUMNS = ("station", "kind", "count", "pieces", "open_at_end", "waybills")


def exception_csv_records(summary: ExceptionSummary) -> list[dict[str, Any]]:
    return [
        {
            "station": r.station,
            "kind": r.kind,
            "count": r.count,
            "pieces": r.pieces,
            "open_at_end": r.open_at_end,
            "waybills": "|".join(r.waybills),
        }
        for r in summary.rows
    ]


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        # The desk prints these: show business time, still RFC 3339 with its offset.
        return value.astimezone(BUSINESS_TZ).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    text = str(value)
    # Spreadsheet formula injection: a cell starting with = + - @ would run in Excel.
    if text[:1] in ("=", "+", "-", "@") and not re.fullmatch(r"[+-]?[0-9]+(\.[0-9]+)?", text):
        return "'" + text
    return text


def render_csv(records: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Render records as CSV text with a header line (encode as UTF-8; see :func:`csv_bytes`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([_csv_cell(record.get(c)) for c in columns])
    return out.getvalue()


def csv_bytes(text: str, *, excel_bom: bool = False) -> bytes:
    """UTF-8 bytes of CSV text; ``excel_bom`` prepends a BOM so Excel shows Chinese correctly."""
    return ("\ufeff" if excel_bom else "").encode() + text.encode("utf-8")
