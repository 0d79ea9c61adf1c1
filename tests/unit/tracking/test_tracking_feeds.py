"""GPS feeds: OsmAnd query/form and JSON forms, Traccar forwarding, position validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.tracking.domain.config import EtaConfig
from services.tracking.domain.delay import DelayReason
from services.tracking.domain.fixes import (
    Fix,
    position_problems,
    validate_fix,
    validate_position_batch,
)
from services.tracking.domain.track import infer_delay_reason, recent_average_speed_kmh, sample_track
from services.tracking.feeds.models import Incoming
from services.tracking.feeds.parsing import (
    parse_osmand,
    parse_osmand_json,
    parse_osmand_params,
    parse_timestamp,
    parse_traccar_forward,
)
from shared.errors import DomainError

AT = datetime(2026, 11, 28, 2, 30, tzinfo=UTC)
EPOCH_S = int(AT.timestamp())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (EPOCH_S, AT),
        (str(EPOCH_S), AT),
        (EPOCH_S * 1000, AT),  # milliseconds, told apart by magnitude
        (str(EPOCH_S * 1000 + 500), AT + timedelta(milliseconds=500)),
        (f"{EPOCH_S}.25", AT + timedelta(milliseconds=250)),
        ("2026-11-28T10:30:00+08:00", AT),
        ("2026-11-28T02:30:00Z", AT),
        ("2026-11-28T02:30:00.000+0000", AT),  # Traccar's own format
    ],
)
def test_timestamp_forms(raw: object, expected: datetime) -> None:
    parsed = parse_timestamp(raw)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("2026-11-28T10:30:00", "naive_timestamp"),
        ("2026-11-28 10:30", "naive_timestamp"),
        ("yesterday", "invalid_field"),
        (True, "invalid_field"),
        (None, "invalid_field"),
    ],
)
def test_bad_timestamps(raw: object, code: str) -> None:
    with pytest.raises(DomainError) as err:
        parse_timestamp(raw)
    assert err.value.code == code


def test_osmand_query_string_with_knots() -> None:
    fix = parse_osmand_params({
        "id": "862345", "lat": "31.2304", "lon": "121.4737", "timestamp": str(EPOCH_S),
        "speed": "10", "bearing": "270.5", "altitude": "12", "accuracy": "8", "batt": "76",
    })
    assert fix == Fix(device_id="862345", at=AT, lat=31.2304, lon=121.4737, speed_kmh=pytest.approx(18.52),
                      heading=270.5, altitude=12.0, accuracy=8.0, battery=76.0)


@pytest.mark.parametrize(
    ("params", "field", "value"),
    [
        ({"deviceid": "abc"}, "device_id", "abc"),
        ({"heading": "90"}, "heading", 90.0),
        ({"timestamp": str(EPOCH_S * 1000)}, "at", AT),
        ({"timestamp": "2026-11-28T10:30:00+08:00"}, "at", AT),
        ({"speed": "0"}, "speed_kmh", 0.0),
        ({"speed": "-1"}, "speed_kmh", None),  # unknown
        ({"valid": "false"}, "valid", False),
        ({"lat": [ "1", "31.5"]}, "lat", 31.5),  # repeated key: last wins
    ],
)
def test_osmand_query_variants(params: dict, field: str, value: object) -> None:
    base = {"id": "862345", "lat": "31.2304", "lon": "121.4737", "timestamp": str(EPOCH_S)}
    if "deviceid" in params:
        base.pop("id")
    fix = parse_osmand_params({**base, **params})
    assert getattr(fix, field) == value


def test_osmand_location_parameter() -> None:
    fix = parse_osmand_params({"id": "1", "location": "31.5,121.5", "timestamp": EPOCH_S})
    assert (fix.lat, fix.lon) == (31.5, 121.5)


def test_osmand_missing_timestamp_uses_the_receive_time_only_when_given() -> None:
    params = {"id": "1", "lat": "31", "lon": "121"}
    assert parse_osmand_params(params, received_at=AT).at == AT
    with pytest.raises(DomainError) as err:
        parse_osmand_params(params)
    assert err.value.code == "missing_field"


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"lat": "31", "lon": "121", "timestamp": EPOCH_S}, "missing_field", "id"),
        ({"id": "1", "lon": "121", "timestamp": EPOCH_S}, "missing_field", "lat"),
        ({"id": "1", "lat": "north", "lon": "121", "timestamp": EPOCH_S}, "invalid_field", "lat"),
        ({"id": "1", "lat": "nan", "lon": "121", "timestamp": EPOCH_S}, "invalid_field", "lat"),
        ({"id": "1", "lat": "31", "lon": "121", "timestamp": "2026-11-28T10:30:00"}, "naive_timestamp", "timestamp"),
        ({"id": "1", "lat": "31", "lon": "121", "timestamp": EPOCH_S, "speed": "fast"}, "invalid_field", "speed"),
        ({"id": "1", "lat": "31", "lon": "121", "timestamp": EPOCH_S, "valid": "maybe"}, "invalid_field", "valid"),
    ],
)
def test_osmand_errors(params: dict, code: str, field: str) -> None:
    with pytest.raises(DomainError) as err:
        parse_osmand_params(params)
    assert (err.value.code, err.value.details["field"]) == (code, field)


TRACCAR_CLIENT_JSON = {
    "location": {
        "timestamp": "2026-11-28T02:30:00.000Z",
        "coords": {"latitude": 31.2304, "longitude": 121.4737, "accuracy": 5, "speed": 10.0, "heading": 90,
                   "altitude": 15},
        "is_moving": True,
        "odometer": 0,
        "event": "motionchange",
        "battery": {"level": 0.55, "is_charging": False},
        "activity": {"type": "in_vehicle"},
        "extras": {},
    },
    "device_id": "48241179",
}


def test_osmand_json_body_speed_in_metres_per_second() -> None:
    fix = parse_osmand_json(TRACCAR_CLIENT_JSON)
    assert fix.device_id == "48241179"
    assert fix.at == AT
    assert fix.speed_kmh == pytest.approx(36.0)  # 10 m/s
    assert (fix.heading, fix.altitude, fix.accuracy, fix.battery) == (90.0, 15.0, 5.0, 55.0)


def test_parse_osmand_dispatches_between_the_two_forms() -> None:
    assert parse_osmand(TRACCAR_CLIENT_JSON).device_id == "48241179"
    assert parse_osmand({"id": "9", "lat": "1", "lon": "2", "timestamp": EPOCH_S}).device_id == "9"


def test_osmand_json_negative_values_mean_unknown() -> None:
    body = {**TRACCAR_CLIENT_JSON, "location": {**TRACCAR_CLIENT_JSON["location"], "coords": {
        "latitude": 31.0, "longitude": 121.0, "speed": -1, "heading": -1, "accuracy": -1}}}
    fix = parse_osmand_json(body)
    assert (fix.speed_kmh, fix.heading, fix.accuracy) == (None, None, None)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("device_id"), "device_id"),
        (lambda b: b["location"].pop("timestamp"), "location.timestamp"),
        (lambda b: b["location"]["coords"].pop("latitude"), "location.coords.latitude"),
    ],
)
def test_osmand_json_missing_fields(mutate: object, field: str) -> None:
    import copy

    body = copy.deepcopy(TRACCAR_CLIENT_JSON)
    mutate(body)  # type: ignore[operator]
    with pytest.raises(DomainError) as err:
        parse_osmand_json(body)
    assert err.value.details["field"] == field


TRACCAR_FORWARD = {
    "position": {
        "id": 18336, "deviceId": 7, "protocol": "teltonika", "fixTime": "2026-11-28T02:30:00.000+0000",
        "latitude": 31.2304, "longitude": 121.4737, "speed": 20.0, "course": 180.0, "altitude": 4.0,
        "accuracy": 0.0, "valid": True, "attributes": {"batteryLevel": 80, "ignition": True},
    },
    "device": {"id": 7, "uniqueId": "356307042441013", "name": "沪A12345"},
}


def test_traccar_forward() -> None:
    fix = parse_traccar_forward(TRACCAR_FORWARD)
    assert fix.device_id == "356307042441013"  # uniqueId, not Traccar's own deviceId
    assert fix.at == AT
    assert fix.speed_kmh == pytest.approx(37.04)  # knots
    assert (fix.heading, fix.altitude, fix.battery, fix.valid) == (180.0, 4.0, 80.0, True)


def test_traccar_forward_epoch_millis_and_invalid_flag() -> None:
    body = {**TRACCAR_FORWARD, "position": {**TRACCAR_FORWARD["position"], "fixTime": EPOCH_S * 1000,
                                            "valid": False}}
    fix = parse_traccar_forward(body)
    assert fix.at == AT and fix.valid is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"device": TRACCAR_FORWARD["device"]}, "position"),
        ({"position": TRACCAR_FORWARD["position"], "device": {"id": 7}}, "device.uniqueId"),
        ({"position": {**TRACCAR_FORWARD["position"], "fixTime": None}, "device": TRACCAR_FORWARD["device"]},
         "position.fixTime"),
    ],
)
def test_traccar_forward_missing(body: dict, field: str) -> None:
    with pytest.raises(DomainError) as err:
        parse_traccar_forward(body)
    assert (err.value.code, err.value.details["field"]) == ("missing_field", field)


# --- position validation ----------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "bad_fields"),
    [
        ({}, []),
        ({"lat": 90.0, "lon": -180.0, "heading": 360.0, "speed_kmh": 0.0}, []),
        ({"lat": 90.1}, ["lat"]),
        ({"lon": 181.0}, ["lon"]),
        ({"speed_kmh": -1.0}, ["speed_kmh"]),
        ({"speed_kmh": 301.0}, ["speed_kmh"]),
        ({"heading": 361.0}, ["heading"]),
        ({"at": AT + timedelta(minutes=5)}, []),
        ({"at": AT + timedelta(minutes=6)}, ["at"]),
        ({"at": datetime(2026, 11, 28, 2, 30)}, ["at"]),
        ({"lat": float("nan"), "lon": float("inf")}, ["lat", "lon"]),
    ],
)
def test_position_rules(changes: dict, bad_fields: list[str]) -> None:
    values = {"lat": 31.0, "lon": 121.0, "at": AT, "speed_kmh": 60.0, "heading": 90.0, **changes}
    problems = position_problems(now=AT, **values)
    assert [p.field for p in problems] == bad_fields


def test_validate_fix_raises_invalid_position() -> None:
    fix = Fix("d", AT, 95.0, 121.0)
    with pytest.raises(DomainError) as err:
        validate_fix(fix, now=AT)
    assert err.value.code == "invalid_position"
    assert validate_fix(Fix("d", AT, 31.0, 121.0), now=AT).lat == 31.0


def test_batch_rejects_everything_and_names_the_bad_index() -> None:
    items = [Incoming("V1", AT, 31.0, 121.0, 60.0, 0.0) for _ in range(5)]
    items[3] = Incoming("V1", AT, 31.0, 200.0, 60.0, 0.0)
    with pytest.raises(DomainError) as err:
        validate_position_batch(items, now=AT)
    assert err.value.code == "invalid_position"
    assert err.value.details == [{"index": 3, "field": "lon", "problem": "longitude must be within [-180, 180]"}]
    assert "position 3" in err.value.message
    validate_position_batch(items[:3], now=AT)  # the good ones alone pass


def test_batch_size_limit() -> None:
    item = Incoming("V1", AT, 31.0, 121.0)
    with pytest.raises(DomainError) as err:
        validate_position_batch([item] * 5001, now=AT)
    assert err.value.code == "batch_too_large"
    validate_position_batch([item] * 5000, now=AT)


# --- the sampled track the delay rules read ---------------------------------------------


def test_sample_track_keeps_one_live_fix_a_minute_and_one_late_fix_a_minute() -> None:
    cfg = EtaConfig(track_sample_seconds=60)
    times = [AT + timedelta(seconds=s) for s in range(0, 181)]  # a 1 Hz feed for 3 minutes
    flags, last = sample_track(times, None, cfg)
    assert [t for t, f in zip(times, flags, strict=True) if f] == [AT, AT + timedelta(seconds=60),
                                                                  AT + timedelta(seconds=120),
                                                                  AT + timedelta(seconds=180)]
    assert last == AT + timedelta(seconds=180)
    # the next batch continues from the vehicle's newest sample, not from its own first fix
    flags, last = sample_track([AT + timedelta(seconds=200), AT + timedelta(seconds=240)], last, cfg)
    assert flags == [False, True] and last == AT + timedelta(seconds=240)
    # fixes a minute or more older than the newest sample (a device's offline buffer): one a minute
    # of them too; the newest sample's time again is not
    buffered = [AT + timedelta(seconds=s) for s in (5, 6, 64, 65, 170, 181)]
    flags, last = sample_track([*buffered, AT + timedelta(seconds=240)], last, cfg)
    assert flags == [True, False, False, True, True, False, False] and last == AT + timedelta(seconds=240)
    # late by less than a minute (a forwarder's concurrent batches, seconds out of order): that
    # minute is the newest sample's own, so none of them is sampled; a live fix still is
    flags, last = sample_track([AT + timedelta(seconds=s) for s in (200, 215, 239, 300)], last, cfg)
    assert flags == [False, False, False, True] and last == AT + timedelta(seconds=300)


def test_sample_track_zero_reads_every_fix() -> None:
    times = [AT + timedelta(seconds=s) for s in (0, 1, 2, 2, 3)]
    flags, last = sample_track(times, AT - timedelta(seconds=1), EtaConfig(track_sample_seconds=0))
    assert flags == [True] * 5 and last == AT + timedelta(seconds=3)


def test_the_sampled_track_tells_the_same_story_as_the_dense_one() -> None:
    """A truck at 1 Hz that drives 40 minutes at 70 km/h, then stands for 25: the rules read
    from the one-a-minute sample give the same speed and reason as from every fix."""
    cfg = EtaConfig()
    dense = [Fix("D1", AT + timedelta(seconds=s), 31.0 + s * 1e-5, 121.0, 70.0 if s < 2400 else 0.0)
             for s in range(0, 3900)]
    flags, _ = sample_track([f.at for f in dense], None, cfg)
    sampled = [f for f, keep in zip(dense, flags, strict=True) if keep]
    if sampled[-1] is not dense[-1]:
        sampled.append(dense[-1])  # the newest fix is always read
    assert len(sampled) <= 3900 // 60 + 2
    now = dense[-1].at
    assert infer_delay_reason(sampled, now, cfg) == infer_delay_reason(dense, now, cfg) == DelayReason.VEHICLE_STOPPED
    assert recent_average_speed_kmh(sampled, now, cfg) == pytest.approx(recent_average_speed_kmh(dense, now, cfg),
                                                                      abs=3.0)


def test_an_incoming_fix_is_its_copy_record() -> None:
    """ingest COPYs `(*incoming, sampled)` as is: the tuple's order is the table's column list."""
    from services.tracking.feeds.repository import POSITION_COLUMNS

    assert (*Incoming._fields, "sampled") == POSITION_COLUMNS
