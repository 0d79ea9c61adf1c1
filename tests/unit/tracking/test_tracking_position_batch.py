"""`POST /v1/positions` fast parser (feeds.parse_position_batch_fast) against the pydantic path.

The fast parser may decline any body (None: the route then takes pydantic), but a body it reads
must be one pydantic accepts, read to the same fixes: same values and types, same instant and UTC
offset. Bodies are rendered as raw JSON text, so that they can hold what a JSON encoder would not
write: duplicate keys, number literals like 1e999 or 20-digit integers, escaped characters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import currently_in_test_context, event, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.tracking.domain.fixes import (
    DEFAULT_POSITION_LIMITS,
    positions_within_limits,
    validate_position_batch,
)
from services.tracking.feeds.models import Incoming, PositionBatch
from services.tracking.feeds.parsing import batch_items, parse_position_batch_fast
from shared.errors import DomainError

# --- the oracle ---------------------------------------------------------------------------


def pydantic_items(raw: bytes) -> list[Incoming] | None:
    """What the route's full path makes of a body: the fixes, or None for its 422."""
    try:
        return batch_items(PositionBatch.model_validate_json(raw))
    except ValidationError:
        return None


def assert_same_fixes(fast: list[Incoming], full: list[Incoming]) -> None:
    assert len(fast) == len(full)
    for a, b in zip(fast, full, strict=True):
        assert type(a) is Incoming and len(a) == len(Incoming._fields)
        assert a.vehicle_id == b.vehicle_id and type(a.vehicle_id) is str
        # the same instant and the same offset (aware datetimes compare equal across offsets)
        assert a.at == b.at and a.at.utcoffset() == b.at.utcoffset() and a.at.isoformat() == b.at.isoformat()
        for x, y in ((a.lat, b.lat), (a.lon, b.lon), (a.speed_kmh, b.speed_kmh), (a.heading, b.heading)):
            assert type(x) is type(y) and repr(x) == repr(y)  # repr: -0.0 is not 0.0
        assert a[6:] == b[6:] == (None, None, None)


def check(raw: bytes) -> list[Incoming] | None:
    """The property: the fast parser declines, or agrees with pydantic on a body pydantic accepts."""
    fast = parse_position_batch_fast(raw)
    full = pydantic_items(raw)
    if currently_in_test_context():  # hypothesis statistics: how often each branch is taken
        event("fast path" if fast is not None else "declined" if full is not None else "declined, pydantic 422")
    if fast is not None:
        assert full is not None, f"the fast parser accepted a body pydantic rejects: {raw!r}"
        assert_same_fixes(fast, full)
    return fast


# --- raw JSON -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text written as is (a number literal, a broken value)."""

    text: str


@dataclass(frozen=True)
class Obj:
    """A JSON object as its list of members: keys may repeat."""

    pairs: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Style:
    ascii_only: bool = True
    sep: str = ","


def render(value: Any, style: Style = Style()) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=style.ascii_only)
    if isinstance(value, Obj):
        return "{" + style.sep.join(f"{render(k, style)}:{render(v, style)}" for k, v in value.pairs) + "}"
    if isinstance(value, list):
        return "[" + style.sep.join(render(v, style) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value)  # None, bools, ints


def body(items: list[Any], style: Style = Style()) -> bytes:
    return render(Obj((("positions", items),)), style).encode()


def item(vehicle_id: Any = "TRUCK-001", at: Any = "2026-11-28T10:00:00Z", lat: Any = 31.2304,
         lon: Any = 121.4737, **more: Any) -> Obj:
    return Obj((("vehicle_id", vehicle_id), ("at", at), ("lat", lat), ("lon", lon), *more.items()))


# --- strategies ---------------------------------------------------------------------------

vehicle_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}", fullmatch=True)
odd_vehicle_ids = st.one_of(
    st.sampled_from(["", "-V1", "_V1", "V1\n", "\nV1", "V 1", "V1 ", "Vé", "V٣", "V" * 65, "V" * 64, "V1\x00", "V/1"]),
    st.text(max_size=70),
    st.integers(0, 10**6), st.booleans(), st.none(), st.just([]), st.just(Obj(())),
)

OFFSETS = ["Z", "+00:00", "-00:00", "+08:00", "-05:30", "+05:45", "+14:00", "-12:00", "+23:59", "-23:59"]
offsets = st.sampled_from(OFFSETS) | st.builds(
    lambda sign, h, m: f"{sign}{h:02d}:{m:02d}", st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59))
# the years shared.types.Instant accepts (1970-2999); the years outside are among `odd_times`
datetimes = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2999, 12, 31, 23, 59, 59, 999999))


@st.composite
def instants(draw: st.DrawFn) -> str:
    """Times in the fast path's shape: YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)."""
    t = draw(datetimes)
    digits = draw(st.integers(0, 6))
    fraction = f".{t.microsecond:06d}"[: digits + 1] if digits else ""
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}{fraction}" \
           f"{draw(offsets)}"


@st.composite
def mutated(draw: st.DrawFn, text: st.SearchStrategy[str]) -> str:
    """A string with one character replaced, dropped or inserted."""
    s = draw(text)
    i = draw(st.integers(0, len(s)))
    c = draw(st.sampled_from("0123456789-:.+TZtz _,\n٣") | st.characters())
    return draw(st.sampled_from([s[:i] + c + s[i + 1:], s[:i] + s[i + 1:], s[:i] + c + s[i:]]))


odd_times = st.one_of(
    st.sampled_from([
        "2026-11-28T10:00:00", "2026-11-28 10:00:00Z", "20261128T100000Z", "2026-11-28T10:00:00z",
        "2026-11-28t10:00:00Z", "2026-11-28T10:00Z", "2026-11-28T10:00:00.1234567Z", "2026-11-28T10:00:00.Z",
        "2026-11-28T10:00:00,5Z", "2026-11-28T10:00:00+0800", "2026-11-28T10:00:00+08", "2026-11-28T10:00:00+24:00",
        "2026-11-28T10:00:00+10:60", "2026-11-28T10:00:00+08:00:00", "2026-11-28T24:00:00Z", "2026-11-28T23:59:60Z",
        "2026-02-29T10:00:00Z", "2024-02-29T10:00:00Z", "2026-04-31T10:00:00Z", "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-11-28T10:00:00Z\n", " 2026-11-28T10:00:00Z",
        "2026-11-28T10:00:00+08:00[Asia/Shanghai]", "+2026-11-28T10:00:00Z", "2026-11-28", "1795860000", "",
        "２０２６-11-28T10:00:00Z", "2026-11-28T10:00:00\u2212" + "08:00", "2026-11-28T10:00:00-00:00",
        "1969-12-31T23:59:59Z", "1969-12-31T23:59:59-01:00", "3000-01-01T00:00:00Z", "2999-12-31T23:59:59-14:00",
    ]),
    st.from_regex(r"-?[0-9]{1,5}-[0-9]{1,2}-[0-9]{1,2}([Tt _][0-9]{1,2}(:[0-9]{2}(:[0-9]{2}([.,][0-9]{0,9})?)?)?)?"
                  r"(Z|z|[+-][0-9]{2}(:?[0-9]{2}(:[0-9]{2})?)?)?", fullmatch=True),
    mutated(instants()),
    st.integers(0, 4_000_000_000), st.floats(0, 4e9), st.booleans(), st.none(),
)

plain_numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(-400, 400, allow_nan=False),
    st.integers(-(2**64), 2**64),
    st.integers(-1000, 1000),
)
number_literals = st.one_of(
    plain_numbers.map(lambda n: Raw(repr(n))),
    st.integers().map(lambda n: Raw(str(n))),  # any size: beyond 64 bits too
    st.builds(lambda m, e: Raw(f"{m}e{e}"), st.integers(-(10**20), 10**20), st.integers(-400, 400)),
    st.sampled_from([Raw(s) for s in ("1e999", "-1e999", "1E2", "0.1e1", "1e+2", "-0", "-0.0", "1e-400", "5e-324",
                                      "90.00000000000000000001", "1.7976931348623157e308", "1.7976931348623159e308",
                                      "123456789012345678901234567890", "18446744073709551616",
                                      "-9223372036854775809", "9007199254740993")]),
)
odd_numbers = st.one_of(
    st.booleans(), st.none(), st.just([]), st.just(Obj(())),
    plain_numbers.map(str), st.sampled_from(["1e999", "NaN", "nan", "Infinity", "-inf", " 31.2", "31,2", "0x1F", ""]),
    st.sampled_from([Raw("[31.2]"), Raw('{"v":1}')]),
)
EXTRA_KEYS = ["foo", "Lat", "speed", "altitude", "vehicleId", "lat ", "", "positions", "battery", "accuracy"]


@st.composite
def well_formed_items(draw: st.DrawFn) -> Obj:
    pairs: list[tuple[str, Any]] = [("vehicle_id", draw(vehicle_ids)), ("at", draw(instants())),
                                    ("lat", draw(plain_numbers)), ("lon", draw(plain_numbers))]
    for key in ("speed_kmh", "heading"):
        choice = draw(st.sampled_from(["absent", "null", "number"]))
        if choice != "absent":
            pairs.append((key, None if choice == "null" else draw(plain_numbers)))
    return Obj(tuple(draw(st.permutations(pairs))))


@st.composite
def near_valid_items(draw: st.DrawFn) -> Obj:
    """A well-formed item, its numbers as any literal, then up to three things wrong with it."""
    pairs = [(k, draw(number_literals) if k in ("lat", "lon", "speed_kmh", "heading") and v is not None
              and draw(st.booleans()) else v) for k, v in draw(well_formed_items()).pairs]
    for _ in range(draw(st.integers(0, 3))):
        what = draw(st.sampled_from(["value", "drop", "extra", "duplicate"]))
        if what == "value" and pairs:
            i = draw(st.integers(0, len(pairs) - 1))
            key = pairs[i][0]
            bad = {"vehicle_id": odd_vehicle_ids, "at": odd_times}.get(key, odd_numbers | number_literals)
            pairs[i] = (key, draw(bad))
        elif what == "drop" and pairs:
            del pairs[draw(st.integers(0, len(pairs) - 1))]
        elif what == "extra":
            pairs.insert(draw(st.integers(0, len(pairs))), (draw(st.sampled_from(EXTRA_KEYS)),
                                                           draw(odd_numbers | number_literals)))
        elif what == "duplicate":  # the same key twice: both parsers keep the last one
            key = draw(st.sampled_from(["vehicle_id", "at", "lat", "lon", "speed_kmh", "heading"]))
            value = draw(st.one_of(odd_numbers, number_literals, odd_times, vehicle_ids, instants()))
            pairs.insert(draw(st.integers(0, len(pairs))), (key, value))
    return Obj(tuple(pairs))


styles = st.builds(Style, st.booleans(), st.sampled_from([",", ", ", ",\n  "]))


@st.composite
def near_valid_bodies(draw: st.DrawFn) -> bytes:
    items: list[Any] = draw(st.lists(st.one_of(well_formed_items(), near_valid_items()), min_size=1, max_size=6))
    style = draw(styles)
    shape = draw(st.sampled_from(["plain"] * 6 + ["not a dict", "extra key", "twice", "empty", "not a list",
                                                  "list body", "broken"]))
    if shape == "not a dict":
        items[draw(st.integers(0, len(items) - 1))] = draw(st.one_of(odd_numbers, st.just(Raw("[]"))))
    if shape == "extra key":
        return render(Obj((("positions", items), (draw(st.sampled_from(EXTRA_KEYS[:-3])), 1))), style).encode()
    if shape == "twice":  # the last "positions" counts, for both parsers
        other = draw(st.lists(near_valid_items(), max_size=2))
        return render(Obj((("positions", other), ("positions", items))), style).encode()
    if shape == "empty":
        return body([], style)
    if shape == "not a list":
        return render(Obj((("positions", items[0]),)), style).encode()
    if shape == "list body":
        return render([Obj((("positions", items),))], style).encode()
    raw = body(items, style)
    if shape == "broken":
        cut = draw(st.integers(0, len(raw)))
        return draw(st.sampled_from([raw[:cut], raw[:cut] + b"," + raw[cut:], b"\xef\xbb\xbf" + raw, raw + b"x"]))
    return raw


# --- properties ---------------------------------------------------------------------------


@settings(max_examples=600, deadline=None)
@given(near_valid_bodies())
def test_the_fast_parser_declines_or_reads_what_pydantic_reads(raw: bytes) -> None:
    check(raw)


@settings(max_examples=300, deadline=None)
@given(st.lists(well_formed_items(), min_size=1, max_size=20), styles)
def test_well_formed_bodies_take_the_fast_path(items: list[Obj], style: Style) -> None:
    raw = body(items, style)
    assert check(raw) is not None


@settings(max_examples=1000, deadline=None)
@given(st.one_of(instants(), odd_times))
def test_any_time_is_read_as_pydantic_reads_it_or_declined(at: Any) -> None:
    check(body([item(at=at)]))


@settings(max_examples=600, deadline=None)
@given(st.one_of(number_literals, odd_numbers), st.sampled_from(["lat", "lon", "speed_kmh", "heading"]))
def test_any_number_is_read_as_pydantic_reads_it_or_declined(value: Any, field: str) -> None:
    pairs = [(k, value if k == field else v) for k, v in item(speed_kmh=60.0, heading=90.0).pairs]
    check(body([Obj(tuple(pairs))]))


@settings(max_examples=300, deadline=None)
@given(st.one_of(vehicle_ids, odd_vehicle_ids))
def test_any_vehicle_id_is_read_as_pydantic_reads_it_or_declined(vehicle_id: Any) -> None:
    check(body([item(vehicle_id=vehicle_id), item()]))


# --- cases --------------------------------------------------------------------------------

def test_a_common_batch_is_read_to_fixes() -> None:
    raw = body([item("TRUCK-001", "2026-11-28T10:00:00Z", 31.2, 121, speed_kmh=60, heading=None),
                item("TRUCK-002", "2026-11-28T18:00:00.5+08:00", -0.0, 121.5),
                item("TRUCK-001", "2026-11-28T05:00:00.000001-05:00", 31, 121, heading=359.5, speed_kmh=0.0)])
    fast = parse_position_batch_fast(raw)
    assert fast == [
        Incoming("TRUCK-001", datetime(2026, 11, 28, 10, tzinfo=UTC), 31.2, 121.0, 60.0, None),
        Incoming("TRUCK-002", datetime(2026, 11, 28, 10, 0, 0, 500000, tzinfo=UTC), -0.0, 121.5),
        Incoming("TRUCK-001", datetime(2026, 11, 28, 10, 0, 0, 1, tzinfo=UTC), 31.0, 121.0, 0.0, 359.5),
    ]
    assert [f.at.utcoffset() for f in fast] == [timedelta(0), timedelta(hours=8), timedelta(hours=-5)]
    assert all(type(v) is float for f in fast for v in (f.lat, f.lon))  # ints become floats, as pydantic makes them
    assert_same_fixes(fast, pydantic_items(raw) or [])


def test_the_test_clients_own_bodies_take_the_fast_path() -> None:
    """What httpx / the integration tests send: isoformat() times with +00:00 and microseconds."""
    at = datetime(2026, 11, 28, 2, 30, 15, 123456, tzinfo=UTC)
    raw = json.dumps({"positions": [{"vehicle_id": "V1", "at": at.isoformat(), "lat": 31.2, "lon": 121.4,
                                     "speed_kmh": None, "heading": 280.0}]}).encode()
    assert parse_position_batch_fast(raw) == [Incoming("V1", at, 31.2, 121.4, None, 280.0)]


def test_key_order_escapes_and_repeated_keys_read_as_pydantic_reads_them() -> None:
    raw = (b'{"positions": [{"lon": 121.4, "lat": "x", "at": "2026-11-28T10:00:00\\u002b08:00",'
           b' "vehicle_id": "\\u0056\\u0031", "lat": 31.2}]}')
    fast = check(raw)
    assert fast == [Incoming("V1", datetime(2026, 11, 28, 2, tzinfo=UTC), 31.2, 121.4)]


@pytest.mark.parametrize(("raw", "pydantic_accepts"), [
    # the contract accepts these, the fast path leaves them to pydantic
    (body([item(lat="31.2")]), True),  # a number as a string
    (body([item(lat=True)]), True),  # a bool as a number (pydantic's lax mode)
    (body([item(at=1795860000)]), True),  # epoch seconds
    (body([item(at="1795860000")]), True),
    (body([item(at="2026-11-28 10:00:00Z")]), True),
    (body([item(at="2026-11-28t10:00:00z")]), True),
    (body([item(at="2026-11-28T10:00Z")]), True),
    (body([item(at="2026-11-28T10:00:00.1234567Z")]), True),
    (body([item(at="2026-11-28T10:00:00+0800")]), True),
    (body([item(lat=Raw("1e999"))]), True),  # inf for pydantic (refused later by the range rule); orjson refuses it
    (body([item(lat=Raw("1" + "0" * 400))]), True),
    # the contract refuses these (422), the fast path too
    (body([item(at="2026-11-28T10:00:00")]), False),  # no offset
    (body([item(at="20261128T100000Z")]), False),
    (body([item(at="2026-11-28T10:00:00+24:00")]), False),
    (body([item(at="2026-11-28T10:00:00+10:60")]), False),  # fromisoformat alone would read +11:00
    (body([item(at="2026-11-28T23:59:60Z")]), False),
    (body([item(at="2026-02-30T10:00:00Z")]), False),
    (body([item(at="2026-11-28T10:00:00Z\n")]), False),
    (body([item(at=None)]), False),
    (body([item(vehicle_id="V1\n")]), False),  # Python's `$` would match before the "\n"
    (body([item(vehicle_id="V" * 65)]), False),
    (body([item(vehicle_id="-V1")]), False),
    (body([item(vehicle_id=123)]), False),
    (body([item(lat=None)]), False),
    (body([item(lat=[31.2])]), False),
    (body([item(lat="x")]), False),
    (body([item(altitude=12.0)]), False),  # extra="forbid"
    (body([Obj(item().pairs[:3])]), False),  # no lon
    (body([]), False),
    (body([1]), False),
    (render(Obj((("positions", [item()]), ("extra", 1)))).encode(), False),
    (render(Obj((("positions", item()),))).encode(), False),
    (render([Obj((("positions", [item()]),))]).encode(), False),
    (b"", False),
    (b"{", False),
    (b"\xef\xbb\xbf" + body([item()]), False),
    (body([item()]) + b"x", False),
    (body([item(vehicle_id=Raw('"V\\ud800"'))]), False),  # a lone surrogate
])
def test_unusual_bodies_are_left_to_pydantic(raw: bytes, pydantic_accepts: bool) -> None:
    assert parse_position_batch_fast(raw) is None
    assert (pydantic_items(raw) is not None) is pydantic_accepts


def test_a_big_batch_is_read_whole() -> None:
    t0 = datetime(2026, 11, 28, 2, tzinfo=UTC)
    items = [item(f"TRUCK-{i % 7}", (t0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"), 31 + i / 1e4,
                  121.0, speed_kmh=i % 90, heading=float(i % 360)) for i in range(5001)]
    fast = check(body(items))
    assert fast is not None and len(fast) == 5001 and fast[-1].at == t0 + timedelta(seconds=5000)


# --- the range rules see the same fixes ---------------------------------------------------

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def domain_error(items: list[Incoming]) -> tuple[str, str, Any] | None:
    try:
        validate_position_batch(items, NOW, DEFAULT_POSITION_LIMITS, max_items=5000)
    except DomainError as err:
        return err.code, err.message, err.details
    return None


@pytest.mark.parametrize("bad", [
    {"lat": 95}, {"lon": -190.5}, {"speed_kmh": -1}, {"speed_kmh": 900.0}, {"heading": 400},
    {"at": "2026-11-28T20:30:00+08:00"},  # 30 minutes ahead of NOW
    {"at": "2026-11-28T12:30:00Z", "lat": 91.0, "heading": 361},
])
def test_a_bad_item_is_reported_alike_whichever_parser_read_it(bad: dict[str, Any]) -> None:
    items = [item("V1", f"2026-11-28T1{i}:00:00+08:00" if i % 2 else f"2026-11-28T0{i}:00:00Z", 31.2, 121.4,
                  speed_kmh=60, heading=90) for i in range(5)]
    items[3] = Obj(tuple((k, bad.get(k, v)) for k, v in items[3].pairs))
    raw = body(items)
    fast, full = parse_position_batch_fast(raw), pydantic_items(raw)
    assert fast is not None and full is not None
    error = domain_error(fast)
    assert error is not None and error == domain_error(full)
    assert error[0] == "invalid_position" and error[2][0]["index"] == 3


def test_an_oversized_batch_is_reported_alike() -> None:
    raw = body([item(at=f"2026-11-28T0{i % 10}:00:00Z") for i in range(5001)])
    fast, full = parse_position_batch_fast(raw), pydantic_items(raw)
    assert fast is not None and full is not None
    assert domain_error(fast) == domain_error(full) == (
        "batch_too_large", "at most 5000 positions per request", {"max_items": 5000, "received": 5001})


# --- the column-wise check in front of validate_position_batch ----------------------------

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
_edge_floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                         st.sampled_from([-180.0, -90.0, 0.0, 90.0, 180.0, 300.0, 360.0, -0.0, 1e-9]))
_times = st.one_of(
    st.datetimes(min_value=datetime(2026, 11, 27), max_value=datetime(2026, 11, 29), timezones=st.just(UTC)),
    st.datetimes(min_value=datetime(2026, 11, 27), max_value=datetime(2026, 11, 29)),  # naive
    st.sampled_from([NOW + timedelta(minutes=5), NOW + timedelta(minutes=5, microseconds=1)]))
# mostly in range, so that a batch with one bad value among good ones is common
_item = st.builds(lambda at, lat, lon, speed, heading: Incoming("V1", at, lat, lon, speed, heading),
                  _times, st.one_of(st.floats(-90, 90), _edge_floats), st.one_of(st.floats(-180, 180), _edge_floats),
                  st.one_of(st.none(), st.floats(0, 300), _edge_floats),
                  st.one_of(st.none(), st.floats(0, 360), _edge_floats))


def _columns(items: list[Incoming]) -> tuple[Any, ...]:
    _, ats, lats, lons, speeds, headings, *_ = zip(*items, strict=True)
    return ats, lats, lons, speeds, headings


_OK = Incoming("V1", NOW - timedelta(minutes=1), 31.2, 121.4, 60.0, 90.0)
_NAN = float("nan")


@settings(max_examples=400)
@given(st.lists(_item, min_size=1, max_size=8))
@example([_OK, _OK._replace(lat=_NAN)])  # min and max step over a NaN that is not first
@example([_OK, _OK._replace(lon=_NAN)])
@example([_OK, _OK._replace(speed_kmh=_NAN)])
@example([_OK, _OK._replace(heading=_NAN)])
@example([_OK, _OK._replace(at=datetime(2026, 11, 28, 11, 0))])  # naive among aware
@example([_OK._replace(at=datetime(2026, 11, 28, 11, 0))])  # all naive
def test_the_column_check_passes_only_batches_the_item_check_passes(items: list[Incoming]) -> None:
    passed = positions_within_limits(*_columns(items), NOW)
    try:
        validate_position_batch(items, NOW)
        valid = True
    except DomainError:
        valid = False
    if passed:
        assert valid
    event(f"column check {'passed' if passed else 'declined'}, items {'valid' if valid else 'invalid'}")


@given(st.lists(st.builds(lambda at, lat, lon, speed, heading: Incoming("V1", at, lat, lon, speed, heading),
                          st.datetimes(min_value=datetime(2026, 11, 27), max_value=datetime(2026, 11, 28, 12, 5),
                                       timezones=st.just(UTC)),
                          st.floats(-90, 90), st.floats(-180, 180), st.one_of(st.none(), st.floats(0, 300)),
                          st.one_of(st.none(), st.floats(0, 360))), min_size=1, max_size=8))
def test_the_column_check_passes_every_valid_batch(items: list[Incoming]) -> None:
    validate_position_batch(items, NOW)
    assert positions_within_limits(*_columns(items), NOW)
