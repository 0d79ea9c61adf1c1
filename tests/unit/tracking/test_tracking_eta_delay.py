"""ETA, delay reasons and the delay state machine, as tables that read like the desk's rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.tracking.domain.config import EtaConfig
from services.tracking.domain.delay import (
    DelayEvent,
    DelayReason,
    DelayState,
    delay_decision_changed,
    delay_minutes,
    delay_state_worth_saving,
    effective_delay_reason,
    evaluate_delay,
)
from services.tracking.domain.eta import effective_speed_kmh, estimate_eta, estimate_eta_from_fixes
from services.tracking.domain.fixes import Fix
from services.tracking.domain.geo import GeoPoint, haversine_km
from services.tracking.domain.scans import Route, pending_via
from services.tracking.domain.stale import is_stale, stale_event_due
from services.tracking.domain.track import evaluation_due, infer_delay_reason, recent_average_speed_kmh
from shared.errors import DomainError

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
CFG = EtaConfig()
KM_PER_DEG_EQUATOR = haversine_km(GeoPoint(0, 0), GeoPoint(0, 1))

SHANGHAI = GeoPoint(31.2304, 121.4737)
NANJING = GeoPoint(32.0603, 118.7969)
WUXI = GeoPoint(31.4912, 120.3119)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def fix(at_min: float, speed: float | None = 60.0, lat: float = 31.0, lon: float = 121.0) -> Fix:
    return Fix(device_id="dev-1", at=T0 + minutes(at_min), lat=lat, lon=lon, speed_kmh=speed)


# --- geography --------------------------------------------------------------------


def test_haversine_shanghai_to_nanjing_is_about_270_km() -> None:
    assert haversine_km(SHANGHAI, NANJING) == pytest.approx(270, abs=5)
    assert haversine_km(SHANGHAI, SHANGHAI) == 0


def test_one_degree_of_longitude_on_the_equator() -> None:
    assert pytest.approx(111.195, abs=0.01) == KM_PER_DEG_EQUATOR


# --- recent speed -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "fixes", "expected"),
    [
        ("mean of reported speeds in the last 30 min", [fix(-20, 60), fix(-10, 80), fix(0, 70)], 70.0),
        ("fixes older than the window are ignored", [fix(-45, 5), fix(-10, 80), fix(0, 80)], 80.0),
        ("fixes after now do not exist yet (replay)", [fix(-10, 50), fix(0, 50), fix(5, 120)], 50.0),
        ("no fix in the window", [fix(-90, 60)], None),
        ("single fix without speed", [fix(0, None)], None),
    ],
)
def test_recent_average_speed(case: str, fixes: list[Fix], expected: float | None) -> None:
    assert recent_average_speed_kmh(fixes, T0, CFG) == expected, case


def test_recent_speed_falls_back_to_distance_over_time_when_no_speed_is_reported() -> None:
    # 1 degree of longitude on the equator in 60 min... but the window is 30 min: 0.5 deg in 30 min.
    fixes = [fix(-30, None, lat=0, lon=0), fix(0, None, lat=0, lon=0.5)]
    assert recent_average_speed_kmh(fixes, T0, CFG) == pytest.approx(KM_PER_DEG_EQUATOR, rel=1e-6)


@pytest.mark.parametrize(
    ("recent", "expected"),
    [(None, 60.0), (80.0, 80.0), (10.0, 30.0), (0.0, 30.0)],
    ids=["no speed -> default cruise", "fast", "slow -> bounded below", "stopped -> bounded below"],
)
def test_effective_speed(recent: float | None, expected: float) -> None:
    assert effective_speed_kmh(recent, CFG) == expected


# --- ETA ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "straight_km", "transfers", "speed", "expected_minutes"),
    [
        # 100 km great circle x 1.3 = 130 road km at 65 km/h = 120 min
        ("direct, moving", 100, 0, 65.0, 120.0),
        ("direct, no speed known: default 60 km/h", 100, 0, None, 130.0),
        ("direct, crawling: bounded at 30 km/h", 100, 0, 5.0, 260.0),
        ("one transfer pending adds 45 min dwell", 100, 1, 65.0, 165.0),
        ("two transfers pending", 100, 2, 65.0, 210.0),
        ("already at the destination", 0, 0, 65.0, 0.0),
    ],
)
def test_eta_table(case: str, straight_km: float, transfers: int, speed: float | None, expected_minutes: float) -> None:
    # Points along the equator so the great-circle distance is exact; transfer stations
    # lie on the way so they add dwell but no distance.
    deg = straight_km / KM_PER_DEG_EQUATOR
    via = [GeoPoint(0, deg * (i + 1) / (transfers + 1)) for i in range(transfers)]
    est = estimate_eta(
        position=GeoPoint(0, 0), fix_at=T0, pending_via=via, destination=GeoPoint(0, deg),
        recent_speed_kmh=speed, cfg=CFG,
    )
    assert (est.eta - T0).total_seconds() / 60 == pytest.approx(expected_minutes, abs=1 / 60), case
    assert est.pending_transfers == transfers
    assert est.computed_from == T0


def test_eta_routes_through_pending_transfers_not_straight_to_destination() -> None:
    direct = estimate_eta(position=SHANGHAI, fix_at=T0, pending_via=[], destination=WUXI, recent_speed_kmh=60)
    detour = estimate_eta(position=SHANGHAI, fix_at=T0, pending_via=[NANJING], destination=WUXI, recent_speed_kmh=60)
    assert detour.remaining_km == pytest.approx(
        (haversine_km(SHANGHAI, NANJING) + haversine_km(NANJING, WUXI)) * 1.3
    )
    assert detour.eta > direct.eta + minutes(45)


def test_eta_from_fixes_uses_the_newest_fix_even_if_received_out_of_order() -> None:
    newest = Fix("d", T0 + minutes(10), 0.0, 0.0, 60.0)
    older = Fix("d", T0, 0.0, -0.5, 60.0)
    est = estimate_eta_from_fixes([newest, older], pending_via=[], destination=GeoPoint(0, 1))
    assert est.computed_from == newest.at


def test_eta_without_any_fix_is_an_error() -> None:
    with pytest.raises(DomainError) as err:
        estimate_eta_from_fixes([], pending_via=[], destination=GeoPoint(0, 1))
    assert err.value.code == "no_position"


@pytest.mark.parametrize(
    ("reached", "expected"),
    [((), ("NJ01", "CZ01")), (("NJ01",), ("CZ01",)), (("CZ01",), ()), (("NJ01", "CZ01"), ())],
    ids=["none reached", "first reached", "later reached implies earlier passed", "all reached"],
)
def test_pending_via(reached: tuple[str, ...], expected: tuple[str, ...]) -> None:
    route = Route("SH01", "WX02", ("NJ01", "CZ01"))
    assert pending_via(route, reached) == expected


def test_naive_fix_time_is_refused() -> None:
    with pytest.raises(DomainError) as err:
        estimate_eta(position=SHANGHAI, fix_at=datetime(2026, 1, 1), pending_via=[], destination=WUXI,
                     recent_speed_kmh=None)
    assert err.value.code == "naive_datetime"


# --- delay reasons ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "fixes", "expected"),
    [
        ("moving normally", [fix(-20, 60), fix(-10, 55), fix(0, 58)], DelayReason.SLOW_PROGRESS),
        ("stopped for 25 min", [fix(-40, 60), fix(-25, 0), fix(-10, 1), fix(0, 0)], DelayReason.VEHICLE_STOPPED),
        ("stopped for 20 min exactly", [fix(-30, 60), fix(-20, 0), fix(0, 0.5)], DelayReason.VEHICLE_STOPPED),
        ("stopped for only 10 min", [fix(-20, 60), fix(-10, 0), fix(0, 0)], DelayReason.SLOW_PROGRESS),
        ("stopped then moving again", [fix(-40, 0), fix(-25, 0), fix(0, 40)], DelayReason.SLOW_PROGRESS),
        ("no fix for 2 h", [fix(-120, 60)], DelayReason.NO_SIGNAL),
        ("no fix for 3 h (was stopped)", [fix(-200, 0), fix(-180, 0)], DelayReason.NO_SIGNAL),
        ("never reported", [], DelayReason.NO_SIGNAL),
        ("last fix 1h59 ago, moving", [fix(-119, 60)], DelayReason.SLOW_PROGRESS),
        (
            "no speed reported, same place for 30 min",
            [fix(-30, None, 31.0, 121.0), fix(-15, None, 31.0001, 121.0), fix(0, None, 31.0, 121.0001)],
            DelayReason.VEHICLE_STOPPED,
        ),
        (
            "no speed reported, moved 10 km",
            [fix(-30, None, 31.0, 121.0), fix(0, None, 31.09, 121.0)],
            DelayReason.SLOW_PROGRESS,
        ),
    ],
)
def test_infer_delay_reason(case: str, fixes: list[Fix], expected: DelayReason) -> None:
    assert infer_delay_reason(fixes, T0, CFG) is expected, case


def test_staff_note_reason_overrides_the_inferred_one() -> None:
    assert effective_delay_reason(DelayReason.VEHICLE_STOPPED, "breakdown") is DelayReason.BREAKDOWN
    assert effective_delay_reason(DelayReason.SLOW_PROGRESS, None) is DelayReason.SLOW_PROGRESS
    for bad in ("no_signal", "alien_abduction"):
        with pytest.raises(DomainError) as err:
            effective_delay_reason(DelayReason.SLOW_PROGRESS, bad)
        assert err.value.code == "invalid_reason"


# --- the delay state machine -------------------------------------------------------

PROMISED = T0 + minutes(600)


def test_a_worse_eta_soon_after_a_notice_waits_for_the_rest_period() -> None:
    """A stopping truck's ETA jumps with every fix; the customer hears again only after an hour."""
    state = DelayState()
    events = []
    for step in range(0, 61, 2):  # a fix every 2 minutes, the ETA 10 minutes worse each time
        decision = evaluate_delay(previous=state, eta=PROMISED + minutes(20 + 5 * step), promised_at=PROMISED,
                                  now=T0 + minutes(step), inferred_reason=DelayReason.VEHICLE_STOPPED, cfg=CFG)
        state = decision.state
        if decision.event is not DelayEvent.NONE:
            events.append((step, decision.event))
    assert events == [(0, DelayEvent.DELAYED), (60, DelayEvent.DELAYED)]


def test_delay_story_first_detection_worsening_steps_and_recovery() -> None:
    """ETAs in minutes after promised_at, one fix every 40 minutes, and the single event each must produce."""
    story = [
        # eta - promised, expected event, why
        (0, DelayEvent.NONE, "on time"),
        (15, DelayEvent.NONE, "within the 15 min grace"),
        (20, DelayEvent.DELAYED, "late: first detection"),
        (40, DelayEvent.NONE, "worsened by 20 < 30 beyond the notified ETA"),
        (49, DelayEvent.NONE, "worsened by 29 < 30"),
        (50, DelayEvent.DELAYED, "worsened by 30 >= 30: notify again"),
        (30, DelayEvent.NONE, "improved but still late: no notice"),
        (75, DelayEvent.NONE, "25 beyond the last notified ETA"),
        (80, DelayEvent.DELAYED, "30 beyond the last notified ETA"),
        (15, DelayEvent.RECOVERED, "back within grace"),
        (10, DelayEvent.NONE, "still on time"),
        (16, DelayEvent.DELAYED, "late again: a new first detection"),
    ]
    state = DelayState()
    for step, (late_by, expected, why) in enumerate(story):
        now = T0 + minutes(40 * step)
        decision = evaluate_delay(
            previous=state, eta=PROMISED + minutes(late_by), promised_at=PROMISED, now=now,
            inferred_reason=DelayReason.SLOW_PROGRESS, cfg=CFG,
        )
        assert decision.event is expected, f"step {step}: {why}"
        state = decision.state
        assert state.delayed == (late_by > 15 if expected is not DelayEvent.RECOVERED else False)


@pytest.mark.parametrize(
    ("case", "previous", "late_by", "expected_event", "expected_notified", "expected_minutes"),
    [
        ("on time stays quiet", DelayState(), -30, DelayEvent.NONE, None, 0),
        ("late on first detection", DelayState(), 45, DelayEvent.DELAYED, 45, 45),
        (
            "worsening by less than the step",
            DelayState(True, PROMISED + minutes(45), 45, DelayReason.SLOW_PROGRESS),
            70, DelayEvent.NONE, 45, 70,
        ),
        (
            "worsening by more than the step",
            DelayState(True, PROMISED + minutes(45), 45, DelayReason.SLOW_PROGRESS),
            90, DelayEvent.DELAYED, 90, 90,
        ),
        (
            "recovered",
            DelayState(True, PROMISED + minutes(45), 45, DelayReason.SLOW_PROGRESS),
            5, DelayEvent.RECOVERED, None, 0,
        ),
    ],
)
def test_delay_transition_table(
    case: str, previous: DelayState, late_by: int, expected_event: DelayEvent,
    expected_notified: int | None, expected_minutes: int,
) -> None:
    decision = evaluate_delay(previous=previous, eta=PROMISED + minutes(late_by), promised_at=PROMISED, now=T0,
                              inferred_reason=DelayReason.SLOW_PROGRESS)
    assert decision.event is expected_event, case
    notified = decision.state.notified_eta
    assert (None if notified is None else (notified - PROMISED) // minutes(1)) == expected_notified, case
    assert decision.state.delay_minutes == expected_minutes, case
    assert decision.emits == (expected_event is not DelayEvent.NONE)


def test_delayed_carries_the_reason_and_a_note_overrides_it() -> None:
    first = evaluate_delay(previous=DelayState(), eta=PROMISED + minutes(60), promised_at=PROMISED, now=T0,
                           inferred_reason=DelayReason.VEHICLE_STOPPED)
    assert first.state.reason is DelayReason.VEHICLE_STOPPED
    noted = evaluate_delay(previous=first.state, eta=PROMISED + minutes(61), promised_at=PROMISED,
                           now=T0 + minutes(1), inferred_reason=DelayReason.VEHICLE_STOPPED,
                           note_reason=DelayReason.TRAFFIC_JAM)
    # A new reason alone is no reason to message the customer again; the query shows it.
    assert noted.event is DelayEvent.NONE
    assert noted.state.reason is DelayReason.TRAFFIC_JAM


def test_out_of_order_fix_does_not_roll_the_state_back() -> None:
    late = evaluate_delay(previous=DelayState(), eta=PROMISED + minutes(60), promised_at=PROMISED,
                          now=T0 + minutes(10), inferred_reason=DelayReason.SLOW_PROGRESS)
    older = evaluate_delay(previous=late.state, eta=PROMISED, promised_at=PROMISED, now=T0 + minutes(5),
                           inferred_reason=DelayReason.SLOW_PROGRESS)
    assert older.event is DelayEvent.NONE
    assert older.state == late.state


def test_replaying_the_same_feed_gives_the_same_events() -> None:
    etas = [0, 20, 35, 55, 70, 10, 30, 65]

    def run() -> list[DelayEvent]:
        state, events = DelayState(), []
        for i, late_by in enumerate(etas):
            d = evaluate_delay(previous=state, eta=PROMISED + minutes(late_by), promised_at=PROMISED,
                               now=T0 + minutes(i), inferred_reason=DelayReason.SLOW_PROGRESS)
            state = d.state
            events.append(d.event)
        return events

    assert run() == run()


def test_recovery_margin_prevents_flapping_when_configured() -> None:
    cfg = EtaConfig(recovery_margin_minutes=10)
    late = evaluate_delay(previous=DelayState(), eta=PROMISED + minutes(20), promised_at=PROMISED, now=T0,
                          inferred_reason=DelayReason.SLOW_PROGRESS, cfg=cfg)
    wobble = evaluate_delay(previous=late.state, eta=PROMISED + minutes(14), promised_at=PROMISED,
                            now=T0 + minutes(1), inferred_reason=DelayReason.SLOW_PROGRESS, cfg=cfg)
    assert wobble.event is DelayEvent.NONE
    back = evaluate_delay(previous=wobble.state, eta=PROMISED + minutes(5), promised_at=PROMISED,
                          now=T0 + minutes(2), inferred_reason=DelayReason.SLOW_PROGRESS, cfg=cfg)
    assert back.event is DelayEvent.RECOVERED


@pytest.mark.parametrize(("late_seconds", "expected"), [(-600, 0), (0, 0), (1, 1), (60, 1), (61, 2), (3600, 60)])
def test_delay_minutes_round_up(late_seconds: int, expected: int) -> None:
    assert delay_minutes(PROMISED + timedelta(seconds=late_seconds), PROMISED) == expected


def test_end_to_end_stopped_truck_becomes_late_with_reason_vehicle_stopped() -> None:
    """Shanghai -> Wuxi, truck parked on the road: the ETA slides past promised + grace."""
    promised = T0 + minutes(240)
    fixes: list[Fix] = []
    state = DelayState()
    events: list[tuple[int, DelayEvent, DelayReason | None]] = []
    for m in range(0, 241, 5):
        # Moving for 30 min, then parked 40 km out of Shanghai.
        speed = 70.0 if m < 30 else 0.0
        lon = SHANGHAI.lon - min(m, 30) / 30 * 0.42
        f = Fix("dev-1", T0 + minutes(m), SHANGHAI.lat, lon, speed)
        fixes.append(f)
        est = estimate_eta_from_fixes(fixes, pending_via=[], destination=WUXI)
        reason = infer_delay_reason(fixes, f.at)
        d = evaluate_delay(previous=state, eta=est.eta, promised_at=promised, now=f.at, inferred_reason=reason)
        state = d.state
        if d.emits:
            events.append((m, d.event, d.state.reason))
    assert events, "a parked truck must eventually be reported late"
    assert all(e is DelayEvent.DELAYED for _, e, _ in events)
    # Parked at minute 30; late only once the bounded-speed ETA passes promised + grace.
    assert events[0][0] >= 50
    assert events[0][2] is DelayReason.VEHICLE_STOPPED
    # Each re-notification is at least 30 min of ETA later: ETA grows 5 min per 5-min fix here.
    gaps = [b[0] - a[0] for a, b in zip(events, events[1:], strict=False)]
    assert all(g >= 30 for g in gaps)


# --- stale vehicles ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("age_min", "expected"), [(None, True), (0, False), (119, False), (120, True), (300, True)]
)
def test_is_stale(age_min: int | None, expected: bool) -> None:
    last = None if age_min is None else T0 - minutes(age_min)
    assert is_stale(last, T0, CFG) is expected


def test_stale_event_is_due_once_per_silence() -> None:
    last_fix = T0
    # Not yet stale.
    assert not stale_event_due(last_fix_at=last_fix, now=T0 + minutes(60), flagged_for_fix_at=None)
    # Silence reaches 2 h: due once.
    assert stale_event_due(last_fix_at=last_fix, now=T0 + minutes(120), flagged_for_fix_at=None)
    # Already flagged for this silence: not again, however long it lasts.
    assert not stale_event_due(last_fix_at=last_fix, now=T0 + minutes(500), flagged_for_fix_at=last_fix)
    # A new fix ended the silence; the next silence is announced again.
    new_fix = T0 + minutes(600)
    assert not stale_event_due(last_fix_at=new_fix, now=new_fix + minutes(30), flagged_for_fix_at=last_fix)
    assert stale_event_due(last_fix_at=new_fix, now=new_fix + minutes(130), flagged_for_fix_at=last_fix)
    # A vehicle that never reported has no silence to announce.
    assert not stale_event_due(last_fix_at=None, now=T0, flagged_for_fix_at=None)


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        EtaConfig(min_speed_kmh=0)
    with pytest.raises(ValueError):
        EtaConfig(grace_minutes=-1)


# --- which evaluations are written --------------------------------------------------


ON_TIME = DelayState(False, None, 0, None, eta=T0 + minutes(300), evaluated_at=T0)
LATE = DelayState(True, T0 + minutes(400), 40, DelayReason.TRAFFIC_JAM, eta=T0 + minutes(400), evaluated_at=T0,
                  notified_at=T0)


@pytest.mark.parametrize(
    ("case", "previous", "new", "written"),
    [
        ("an ETA seconds later, a second later: not worth a write",
         ON_TIME, DelayState(False, None, 0, None, T0 + minutes(300.5), T0 + timedelta(seconds=1)), False),
        ("the ETA moved by a minute", ON_TIME, DelayState(False, None, 0, None, T0 + minutes(301), T0 + minutes(0.1)),
         True),
        ("the ETA moved a minute earlier", ON_TIME, DelayState(False, None, 0, None, T0 + minutes(299), T0), True),
        ("the stored evaluation is a minute old",
         ON_TIME, DelayState(False, None, 0, None, T0 + minutes(300), T0 + minutes(1)), True),
        ("late now: the rules' fields changed",
         ON_TIME, DelayState(True, T0 + minutes(300), 5, DelayReason.TRAFFIC_JAM, T0 + minutes(300), T0), True),
        ("the delay grew by a minute", LATE, DelayState(True, LATE.notified_eta, 41, DelayReason.TRAFFIC_JAM,
                                                         T0 + minutes(400.5), T0 + timedelta(seconds=5),
                                                         notified_at=T0), True),
        ("a new reason", LATE, DelayState(True, LATE.notified_eta, 40, DelayReason.NO_SIGNAL, LATE.eta, T0,
                                          notified_at=T0), True),
        ("late, same delay, seconds later", LATE, DelayState(True, LATE.notified_eta, 40, DelayReason.TRAFFIC_JAM,
                                                             T0 + minutes(400.2), T0 + timedelta(seconds=5),
                                                             notified_at=T0), False),
        ("never evaluated before", DelayState(), DelayState(False, None, 0, None, T0, T0), True),
        ("identical", ON_TIME, ON_TIME, False),
    ],
)
def test_delay_state_worth_saving(case: str, previous: DelayState, new: DelayState, written: bool) -> None:
    assert delay_state_worth_saving(previous, new) is written, case


@pytest.mark.parametrize(
    ("case", "after_s", "last", "interval", "due"),
    [
        ("never evaluated", 0, None, 15.0, True),
        ("a second later", 1, 0, 15.0, False),
        ("14.9 s later", 14.9, 0, 15.0, False),
        ("exactly the interval", 15, 0, 15.0, True),
        ("a device reporting every 30 s", 30, 0, 15.0, True),
        ("interval 0: every fix", 1, 0, 0.0, True),
    ],
)
def test_evaluation_due(case: str, after_s: float, last: float | None, interval: float, due: bool) -> None:
    cfg = EtaConfig(evaluation_interval_seconds=interval)
    last_at = None if last is None else T0 + timedelta(seconds=last)
    assert evaluation_due(T0 + timedelta(seconds=after_s), last_at, cfg) is due, case


# --- a decision is what an event makes (on_board vs the shipment's row) ----------------------

@given(st.lists(st.tuples(st.integers(min_value=-30, max_value=600), st.integers(min_value=-5, max_value=90),
                          st.sampled_from(list(DelayReason))), min_size=1, max_size=25))
def test_a_delay_decision_changes_exactly_with_an_event(steps: list[tuple[int, int, DelayReason]]) -> None:
    """Along any run of evaluations (the ETA against the promise, time moving on or a late fix
    going back, the inferred reason), `delay_decision_changed` holds exactly when an event goes
    out: the shipment's own row, written with decisions only, never misses one, and an ETA
    refresh never writes it. What the state keeps between events changes on board only."""
    promised = T0 + minutes(240)
    state, now = DelayState(), T0
    for late_by, step, reason in steps:
        now += minutes(step)
        decision = evaluate_delay(previous=state, eta=promised + minutes(late_by), promised_at=promised, now=now,
                                  inferred_reason=reason, cfg=CFG)
        assert delay_decision_changed(state, decision.state) == decision.emits
        if not decision.emits:  # what changes between events is written on board when worth it
            assert decision.state.delayed == state.delayed
        state = decision.state
