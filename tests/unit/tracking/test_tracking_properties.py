"""Property tests: invariants that must hold for any input, not just the tables."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.tracking.domain.config import EtaConfig
from services.tracking.domain.delay import DelayEvent, DelayReason, DelayState, evaluate_delay
from services.tracking.domain.eta import estimate_eta
from services.tracking.domain.fixes import position_problems, validate_position_batch
from services.tracking.domain.geo import EARTH_RADIUS_KM, GeoPoint, haversine_km
from services.tracking.domain.scans import Route, Scan, ScanState, ScanType, apply_scan
from services.tracking.domain.signing import is_plausible_resident_id, resident_id_check_char
from services.tracking.feeds.models import Incoming
from shared.errors import DomainError

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
PROMISED = T0 + timedelta(hours=6)

lats = st.floats(min_value=-90, max_value=90, allow_nan=False)
lons = st.floats(min_value=-180, max_value=180, allow_nan=False)
points = st.builds(GeoPoint, lats, lons)
speeds = st.none() | st.floats(min_value=0, max_value=200, allow_nan=False)


@given(points, points)
def test_haversine_is_symmetric_and_non_negative(a: GeoPoint, b: GeoPoint) -> None:
    d = haversine_km(a, b)
    assert d >= 0
    assert d == haversine_km(b, a)  # the same operations on negated differences: bit for bit
    assert d <= math.pi * EARTH_RADIUS_KM * (1 + 2**-50)  # half the circumference (asin is clamped at 1)


# How far a computed haversine distance can be from the true great-circle distance.
#
# haversine_km computes d = 2R·asin(√h) = R·acos(1 − 2h), h = sin²(Δφ/2) + cos φ1·cos φ2·sin²(Δλ/2).
# h ∈ [0, 1] is a sum of two terms in [0, 1], each a handful of correctly rounded operations
# on arguments themselves rounded once or twice (degrees → radians, the differences); the
# arguments' errors are at most a few units in the last place of π and h's partial derivatives
# are at most 1, so the computed h is off by Δh ≤ 32·u, u = 2⁻⁵³ (a generous count of the
# roundings). acos is ½-Hölder, |acos x − acos y| ≤ (π/√2)·√|x − y| (tight at x = 1, y = −1), so
#     |d_computed − d_true| ≤ R·(π/√2)·√(2Δh) = π·R·√Δh ≈ 1.2 m   (rounding of asin, √ and ·R: < 1 µm).
# Far from antipodes the error is many orders smaller (acos is then Lipschitz: R·Δh/√(h(1 − h))),
# but near them it really is of that order: for antipodal a and c *every* b gives
# d(a, b) + d(b, c) = πR = d(a, c), so the inequality is an equality there and it is the error
# of three distances, ~1e-4 km in practice, that decides — a 1e-6 km slack was dishonest.
HAVERSINE_ERROR_KM = math.pi * EARTH_RADIUS_KM * math.sqrt(32 * 2.0**-53)

# The service area: mainland China's bounding box. No two of its points are more than 6,580 km
# apart (its diagonal), so h ≤ sin²(6580 km / 2R) < 0.25, where 2·asin(√h) is well conditioned
# (relative condition number ≤ 0.6): the error is a few units in the last place of d plus R times
# the arguments' absolute errors (~1e-15 rad), far below 1e-9 km.
china_lats = st.floats(min_value=18.0, max_value=54.0)
china_lons = st.floats(min_value=73.0, max_value=135.0)
china_points = st.builds(GeoPoint, china_lats, china_lons)
SERVICE_AREA_ERROR_KM = 1e-9


@given(points, points, points)
@example(GeoPoint(-33.516659219375434, 57.553176916038694), GeoPoint(-79.84066544092215, -48.818463897249075),
         GeoPoint(33.51665777771856, -122.4468230839613))  # near-antipodal a, c: off by 1.6e-4 km
@example(GeoPoint(0.0, 0.0), GeoPoint(0.0, 1e-9), GeoPoint(0.0, 180.0))
def test_haversine_triangle_inequality(a: GeoPoint, b: GeoPoint, c: GeoPoint) -> None:
    """Anywhere on the globe, within the error of the three computed distances (see above)."""
    assert haversine_km(a, c) <= haversine_km(a, b) + haversine_km(b, c) + 3 * HAVERSINE_ERROR_KM


@given(china_points, china_points, china_points)
def test_haversine_triangle_inequality_in_the_service_area(a: GeoPoint, b: GeoPoint, c: GeoPoint) -> None:
    """Where the fleet drives, the inequality holds to a micrometre: no antipodes there."""
    assert haversine_km(a, c) <= haversine_km(a, b) + haversine_km(b, c) + SERVICE_AREA_ERROR_KM


@given(
    near=st.floats(min_value=0, max_value=20, allow_nan=False),
    extra=st.floats(min_value=0, max_value=20, allow_nan=False),
    speed=speeds,
    transfers=st.integers(min_value=0, max_value=3),
)
def test_eta_is_monotone_in_distance(near: float, extra: float, speed: float | None, transfers: int) -> None:
    """Farther from the destination (same speed, same transfers) never arrives earlier."""
    dest = GeoPoint(0, 20)
    via = [dest] * transfers  # transfers at the destination: dwell only, no extra distance

    def eta(start_lon: float) -> datetime:
        return estimate_eta(position=GeoPoint(0, start_lon), fix_at=T0, pending_via=via, destination=dest,
                            recent_speed_kmh=speed).eta

    farther, nearer = 20 - near - extra, 20 - near
    assert eta(farther) >= eta(nearer)
    assert eta(nearer) >= T0


@given(speed_a=speeds, speed_b=speeds)
def test_eta_never_earlier_at_lower_speed(speed_a: float | None, speed_b: float | None) -> None:
    cfg = EtaConfig()
    slow, fast = sorted([speed_a or 0.0, speed_b or 0.0])
    args = {"position": GeoPoint(0, 0), "fix_at": T0, "pending_via": [], "destination": GeoPoint(0, 2), "cfg": cfg}
    assert estimate_eta(recent_speed_kmh=slow, **args).eta >= estimate_eta(recent_speed_kmh=fast, **args).eta


@settings(max_examples=300)
@given(st.lists(st.integers(min_value=-120, max_value=600), min_size=1, max_size=60))
def test_no_notice_storm(etas_late_by: list[int]) -> None:
    """Between two `delayed` events with no `recovered` in between, the ETA worsened by >= the step;
    and `recovered` only ever follows a `delayed`."""
    cfg = EtaConfig()
    state = DelayState()
    last_delayed_eta: datetime | None = None
    delayed_open = False
    for i, late_by in enumerate(etas_late_by):
        eta = PROMISED + timedelta(minutes=late_by)
        decision = evaluate_delay(previous=state, eta=eta, promised_at=PROMISED, now=T0 + timedelta(minutes=i),
                                  inferred_reason=DelayReason.SLOW_PROGRESS, cfg=cfg)
        if decision.event is DelayEvent.DELAYED:
            if delayed_open:
                assert last_delayed_eta is not None
                assert eta - last_delayed_eta >= timedelta(minutes=cfg.worsen_step_minutes)
            assert eta > PROMISED + timedelta(minutes=cfg.grace_minutes)
            last_delayed_eta, delayed_open = eta, True
        elif decision.event is DelayEvent.RECOVERED:
            assert delayed_open
            assert eta <= PROMISED + timedelta(minutes=cfg.grace_minutes)
            delayed_open = False
        assert decision.state.delayed == delayed_open
        state = decision.state


@given(st.from_regex(r"[0-9]{6}(19[5-9][0-9]|200[0-9])(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])[0-9]{3}", fullmatch=True))
def test_resident_id_checksum_round_trip(first17: str) -> None:
    check = resident_id_check_char(first17)
    assert is_plausible_resident_id(first17 + check)
    for wrong in "0123456789X":
        if wrong != check:
            assert not is_plausible_resident_id(first17 + wrong)


scan_types = st.sampled_from(list(ScanType))
stations = st.sampled_from(["SH01", "NJ01", "WX02", "HZ01"])


@given(st.lists(st.tuples(scan_types, stations, st.none() | st.integers(min_value=-1, max_value=12)), max_size=12))
def test_scans_never_exceed_the_waybill_and_final_means_complete(steps: list) -> None:
    """Whatever scans arrive, accepted ones keep pieces_arrived <= total and final <=> complete."""
    route = Route("SH01", "WX02", ("NJ01",))
    state = ScanState(pieces_total=10)
    for i, (kind, station, pieces) in enumerate(steps):
        try:
            state = apply_scan(state, Scan(kind, station, T0 + timedelta(minutes=i), pieces), route)
        except DomainError:
            continue
        assert 0 <= state.pieces_arrived <= state.pieces_total
        assert state.final == (state.pieces_arrived == state.pieces_total)
        assert (state.arrived_at is not None) == state.final


any_float = st.floats(allow_nan=True, allow_infinity=True)
edgy = st.sampled_from([-360.0, -180.0, -90.0, 0.0, 90.0, 180.0, 200.0, 360.0, 400.0]) | any_float


@settings(max_examples=400)
@given(lat=edgy, lon=edgy, speed=st.none() | edgy, heading=st.none() | edgy,
       ahead=st.floats(min_value=-600, max_value=600, allow_nan=False),
       tz=st.sampled_from([UTC, timezone(timedelta(hours=8)), None]))
def test_batch_check_agrees_with_the_position_rules(lat: float, lon: float, speed: float | None,
                                                    heading: float | None, ahead: float,
                                                    tz: timezone | None) -> None:
    """The batch check's one-expression fast path accepts exactly what `position_problems` accepts."""
    at = (T0 + timedelta(minutes=ahead)).astimezone(tz) if tz is not None else T0.replace(tzinfo=None)
    problems = position_problems(lat=lat, lon=lon, at=at, now=T0, speed_kmh=speed, heading=heading)
    try:
        validate_position_batch([Incoming("V1", at, lat, lon, speed, heading)], now=T0)
    except DomainError as err:
        assert problems, err.details
        assert [d["field"] for d in err.details] == [p.field for p in problems]
    else:
        assert not problems
