"""What the feeds send, read into fixes: the OsmAnd / Traccar Client protocol (query string,
form or JSON body), Traccar's JSON position forwarding, and the positions API's batch body.

A problem with what a device sent is an `Invalid` naming the field (`missing_field`,
`invalid_field`, `naive_timestamp`); each feed answers it as its protocol wants (the OsmAnd
route with 400, see `feeds.ingest.parse_osmand_request`)."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

import orjson

from services.tracking.domain.fixes import Fix
from services.tracking.domain.times import utc
from services.tracking.feeds.models import Incoming, PositionBatch, PositionIn
from shared.clock import NaiveTime, require_aware
from shared.errors import Invalid
from shared.types import is_identifier

KNOTS_TO_KMH = 1.852
MPS_TO_KMH = 3.6


# Epoch values at or above this are milliseconds: 1e11 s is the year 5138, while
# 1e11 ms is 1973, so no real fix is ambiguous.
_EPOCH_MS_THRESHOLD = 100_000_000_000
_EPOCH_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _bad_field(name: str, problem: str) -> Invalid:
    return Invalid("invalid_field", f"{name}: {problem}", {"field": name})


def _missing(name: str) -> Invalid:
    return Invalid("missing_field", f"{name} is required", {"field": name})


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
        return _aware(value, name, name)
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
    return _aware(parsed, name, f"{name} {text!r}")


def _aware(value: datetime, name: str, shown: str) -> datetime:
    try:
        return require_aware(value, name).astimezone(UTC)
    except NaiveTime:
        raise Invalid("naive_timestamp", f"{shown} has no timezone offset", {"field": name}) from None


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
        at = utc(received_at, "received_at")
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


# --- the POST /v1/positions body -------------------------------------------------------

_POSITION_KEYS = frozenset(PositionIn.model_fields)
# The one shape of time the fast path reads: RFC 3339 with 'T', seconds, at most 6 fraction digits and
# 'Z' or ±HH:MM, every field range spelled out (datetime.fromisoformat would read "+10:60" as +11:00),
# the year within shared.types' business range (1970-2999), as `Instant` checks it.
_INSTANT = (r"(?:19[7-9][0-9]|2[0-9]{3})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
            r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
            r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])")
_INSTANT_LINES = re.compile(rf"{_INSTANT}(?:\n{_INSTANT})*", re.ASCII)
_NUMBER = frozenset((int, float))  # exact types: a bool (which pydantic's lax mode reads as 1.0) is left to it
_NUMBER_OR_NULL = frozenset((int, float, type(None)))


def parse_position_batch_fast(raw: bytes) -> list[Incoming] | None:
    """The `POST /v1/positions` body as fixes, when it has the common well-formed shape; else None.

    Why: this is the GPS hot path (batches of 500 to 5,000 fixes), where pydantic's validation,
    building `Incoming` from its models and the range checks on them were a large share of the
    service's CPU (docs/BENCHMARKS.md). Here orjson reads the body and it is checked column by
    column, with C-level calls (type sets, one regex over the distinct times) instead of Python
    code per item.

    It accepts only a strict subset of what `PositionBatch` accepts (no numbers as strings, no epoch
    times, no other time shapes...) and for it yields what the pydantic path yields (ints made floats;
    the same instant and UTC offset, as a `datetime.timezone`). Anything else, valid or not, gives
    None and the caller takes the pydantic path (`parse_json_body(PositionBatch, raw)`), the one that
    answers the contract's 422 errors. Ranges and the time limit are checked by `ingest_batch`
    (`domain.fixes.validate_position_batch`) whichever path parsed the body."""
    try:
        body = orjson.loads(raw)
        if type(body) is not dict or body.keys() != {"positions"}:
            return None
        positions = body["positions"]
        if (type(positions) is not list or not positions or set(map(type, positions)) != {dict}
                or not set().union(*positions) <= _POSITION_KEYS):
            return None
        # one column per field; a missing required field raises KeyError
        vehicle_ids = [p["vehicle_id"] for p in positions]
        times = [p["at"] for p in positions]
        lats = _floats([p["lat"] for p in positions], _NUMBER)
        lons = _floats([p["lon"] for p in positions], _NUMBER)
        speeds = _floats([p.get("speed_kmh") for p in positions], _NUMBER_OR_NULL)
        headings = _floats([p.get("heading") for p in positions], _NUMBER_OR_NULL)
        if lats is None or lons is None or speeds is None or headings is None:
            return None
        # each vehicle id once (a batch holds few vehicles); anything but a string raises TypeError
        if not all(map(is_identifier, set(vehicle_ids))):
            return None
        # each distinct time once (a feed's vehicles share their seconds), all in one match, a line
        # each (a call per item costs more than its match): the count of line breaks proves no time
        # holds one, so every time is one whole line
        distinct = set(times)  # TypeError: a time that is a list or an object
        lines = "\n".join(distinct)
        if lines.count("\n") != len(distinct) - 1 or _INSTANT_LINES.fullmatch(lines) is None:
            return None
        # ValueError: a day the month lacks, year 0
        instants = dict(zip(distinct, map(datetime.fromisoformat, distinct), strict=True))
        ats = list(map(instants.__getitem__, times))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    absent = repeat(None)  # altitude, accuracy, battery: not in the batch API (the columns are of equal length)
    return list(map(_new_incoming, zip(vehicle_ids, ats, lats, lons, speeds, headings, absent, absent, absent,
                                       strict=False)))


_new_incoming = functools.partial(tuple.__new__, Incoming)  # Incoming._make without its Python frame per item


def _floats(values: list[Any], allowed: frozenset[type]) -> list[Any] | None:
    """`values` as pydantic makes them (ints become floats), or None if one is not of an allowed type."""
    types = set(map(type, values))
    if not types <= allowed:
        return None
    return [None if v is None else float(v) for v in values] if int in types else values


def batch_items(batch: PositionBatch) -> list[Incoming]:
    """The fixes of a batch parsed by pydantic (the fallback of `parse_position_batch_fast`)."""
    return [Incoming(p.vehicle_id, p.at, p.lat, p.lon, p.speed_kmh, p.heading) for p in batch.positions]
