"""SLA policies, business-hours arithmetic, pauses and breach detection.

Default desk hours: 08:00–18:00 Asia/Shanghai, every day. Shanghai is UTC+8 with no
DST, so 08:00 local = 00:00 UTC and 18:00 local = 10:00 UTC; the expected values
below are worked out by hand from that.
"""

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.complaints.domain.hours import (
    DEFAULT_BUSINESS_HOURS,
    BusinessHours,
    add_business_minutes,
    business_minutes_between,
)
from services.complaints.domain.sla import (
    DEFAULT_SLA_POLICIES,
    DEFAULT_SLA_POLICY,
    Pause,
    SlaKind,
    SlaPolicy,
    breaches,
    breaches_to_emit,
    due_at,
    elapsed_sla_minutes,
    find_sla_policy,
    first_response_due,
    resolution_due,
)
from services.complaints.domain.tickets import Action, TicketStatus, apply_action, open_ticket
from services.complaints.domain.vocabulary import Category, Priority
from shared.errors import DomainError

CST = timezone(timedelta(hours=8))
WEEKDAYS_ONLY = BusinessHours(weekdays=frozenset(range(5)))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST)


# --- policies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "first", "resolution"),
    [
        (Category.DELAY, 5, 24 * 60),
        (Category.DAMAGE, 5, 72 * 60),
        (Category.LOSS, 5, 72 * 60),
        (Category.QUOTE, 5, 8 * 60),
        (Category.BILLING, 5, 72 * 60),
        (Category.ATTITUDE, 5, 48 * 60),
        (Category.OTHER, 5, 48 * 60),
    ],
)
def test_seed_defaults(category, first, resolution):
    policy = find_sla_policy(DEFAULT_SLA_POLICIES, category, Priority.NORMAL)
    assert (policy.first_response_minutes, policy.resolution_minutes) == (first, resolution)


def test_lookup_falls_back_from_specific_to_general():
    exact = SlaPolicy(Category.DAMAGE, Priority.URGENT, 2, 600)
    by_category = SlaPolicy(Category.DAMAGE, None, 5, 4320)
    by_priority = SlaPolicy(None, Priority.URGENT, 3, 900)
    default = SlaPolicy(None, None, 10, 2000)
    policies = [default, by_priority, by_category, exact]
    assert find_sla_policy(policies, Category.DAMAGE, Priority.URGENT) is exact
    assert find_sla_policy(policies, Category.DAMAGE, Priority.LOW) is by_category
    assert find_sla_policy(policies, Category.DELAY, Priority.URGENT) is by_priority
    assert find_sla_policy(policies, Category.DELAY, Priority.LOW) is default
    assert find_sla_policy([], Category.DELAY, Priority.LOW) is DEFAULT_SLA_POLICY


@pytest.mark.parametrize(("first", "resolution"), [(0, 10), (-5, 10), (5, 0), (30, 10), (True, 10)])
def test_policy_refuses_nonsense_targets(first, resolution):
    with pytest.raises(DomainError) as caught:
        SlaPolicy(Category.DELAY, None, first, resolution)
    assert caught.value.code == "invalid_sla_policy"


# --- business hours ------------------------------------------------------------------------------


def test_business_hours_validation():
    with pytest.raises(ValueError):
        BusinessHours(start=time(18), end=time(8))
    with pytest.raises(ValueError):
        BusinessHours(weekdays=frozenset())
    with pytest.raises(ValueError):
        BusinessHours(weekdays=frozenset({7}))
    with pytest.raises(Exception):  # noqa: B017 - ZoneInfoNotFoundError
        BusinessHours(tz="Mars/Olympus")


def test_within_hours_is_plain_addition():
    assert add_business_minutes(local(2026, 11, 30, 9, 0), 5) == utc(2026, 11, 30, 1, 5)


def test_utc_and_local_inputs_agree_and_results_are_utc():
    from_utc = add_business_minutes(utc(2026, 11, 30, 1, 0), 90)
    from_local = add_business_minutes(local(2026, 11, 30, 9, 0), 90)
    assert from_utc == from_local == utc(2026, 11, 30, 2, 30)
    assert from_utc.utcoffset() == timedelta(0)


def test_call_after_closing_is_due_after_next_opening():
    # 23:00 Shanghai: nothing runs until 08:00, then 5 minutes.
    assert add_business_minutes(local(2026, 11, 29, 23, 0), 5) == local(2026, 11, 30, 8, 5)
    # 06:00 early morning: same day's opening.
    assert add_business_minutes(local(2026, 11, 30, 6, 0), 5) == local(2026, 11, 30, 8, 5)


def test_overnight_and_month_boundary():
    # 17:58 on 30 Nov: 2 minutes today, 3 minutes on 1 Dec.
    assert add_business_minutes(local(2026, 11, 30, 17, 58), 5) == local(2026, 12, 1, 8, 3)
    # Year boundary: 31 Dec 17:00 + 2 h = 1 h on 31 Dec + 1 h on 1 Jan.
    assert add_business_minutes(local(2026, 12, 31, 17, 0), 120) == local(2027, 1, 1, 9, 0)


def test_target_ending_at_closing_is_due_at_closing():
    assert add_business_minutes(local(2026, 11, 30, 17, 0), 60) == local(2026, 11, 30, 18, 0)


def test_multi_day_resolution_target():
    # 24 business hours = 10 h/day: 9 h left on day 1 (09:00-18:00), 10 h on day 2, 5 h on day 3.
    assert add_business_minutes(local(2026, 11, 30, 9, 0), 24 * 60) == local(2026, 12, 2, 13, 0)


def test_weekends_skipped_when_configured():
    friday = local(2026, 11, 27, 17, 58)
    assert friday.weekday() == 4
    assert add_business_minutes(friday, 5, WEEKDAYS_ONLY) == local(2026, 11, 30, 8, 3)
    # Every-day desk (the default) works Saturday.
    assert add_business_minutes(friday, 5) == local(2026, 11, 28, 8, 3)
    # Opened on Sunday: counted from Monday's opening.
    assert add_business_minutes(local(2026, 11, 29, 12, 0), 5, WEEKDAYS_ONLY) == local(2026, 11, 30, 8, 5)


def test_holidays_skipped():
    hours = BusinessHours(holidays=frozenset({date(2027, 1, 1)}))
    assert add_business_minutes(local(2026, 12, 31, 17, 59), 2, hours) == local(2027, 1, 2, 8, 1)


def test_round_the_clock_when_hours_is_none():
    assert add_business_minutes(local(2026, 11, 29, 23, 0), 5, None) == local(2026, 11, 29, 23, 5)
    assert business_minutes_between(local(2026, 11, 29, 23, 0), local(2026, 11, 30, 1, 0), None) == 120


def test_zero_minutes_is_now_even_outside_hours():
    night = local(2026, 11, 29, 23, 0)
    assert add_business_minutes(night, 0) == night


def test_business_minutes_between():
    # 17:00 → next day 09:00 = 60 + 60 minutes.
    assert business_minutes_between(local(2026, 11, 30, 17, 0), local(2026, 12, 1, 9, 0)) == 120
    # Friday 17:00 → Monday 09:00 on a weekday desk: 60 + 60.
    assert business_minutes_between(local(2026, 11, 27, 17, 0), local(2026, 11, 30, 9, 0), WEEKDAYS_ONLY) == 120
    # Entirely at night.
    assert business_minutes_between(local(2026, 11, 30, 19, 0), local(2026, 11, 30, 23, 0)) == 0
    # Reversed interval is never negative.
    assert business_minutes_between(local(2026, 11, 30, 12, 0), local(2026, 11, 30, 10, 0)) == 0
    # Seconds give fractional minutes.
    assert business_minutes_between(local(2026, 11, 30, 9, 0), local(2026, 11, 30, 9, 0, 30)) == 0.5


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        add_business_minutes(datetime(2026, 11, 30, 9, 0), 5)
    with pytest.raises(ValueError):
        business_minutes_between(datetime(2026, 11, 30, 9, 0), local(2026, 11, 30, 10, 0))


def test_negative_minutes_are_refused():
    with pytest.raises(ValueError):
        add_business_minutes(local(2026, 11, 30, 9, 0), -1)


# --- pauses ---------------------------------------------------------------------------------------


def test_elapsed_subtracts_paused_business_time_once():
    opened = local(2026, 11, 30, 9, 0)
    now = local(2026, 11, 30, 12, 0)  # 180 business minutes
    pauses = [
        Pause(local(2026, 11, 30, 10, 0), local(2026, 11, 30, 11, 0)),
        (local(2026, 11, 30, 10, 30), local(2026, 11, 30, 11, 15)),  # overlaps: 10:00-11:15 total
    ]
    assert elapsed_sla_minutes(opened, now, pauses) == 180 - 75


def test_elapsed_with_open_pause_and_pause_at_night():
    opened = local(2026, 11, 30, 17, 0)
    now = local(2026, 12, 1, 9, 0)  # 60 + 60 business minutes
    night_pause = [Pause(local(2026, 11, 30, 20, 0), local(2026, 12, 1, 7, 0))]
    assert elapsed_sla_minutes(opened, now, night_pause) == 120  # nights are free anyway
    still_waiting = [Pause(local(2026, 11, 30, 17, 30), None)]
    assert elapsed_sla_minutes(opened, now, still_waiting) == 30


def test_elapsed_before_opening_is_zero_and_pause_before_opening_is_clipped():
    opened = local(2026, 11, 30, 9, 0)
    assert elapsed_sla_minutes(opened, opened - timedelta(hours=1)) == 0
    pauses = [Pause(local(2026, 11, 30, 8, 0), local(2026, 11, 30, 9, 30))]
    assert elapsed_sla_minutes(opened, local(2026, 11, 30, 10, 0), pauses) == 30


def test_due_at_pushed_by_pause():
    opened = local(2026, 11, 30, 9, 0)
    pauses = [Pause(local(2026, 11, 30, 9, 2), local(2026, 11, 30, 9, 40))]
    # 2 minutes run before the pause, 3 after it.
    assert due_at(opened, 5, pauses) == local(2026, 11, 30, 9, 43)
    # A pause spanning the night: the remainder runs the next morning.
    pauses = [Pause(local(2026, 11, 30, 17, 0), local(2026, 12, 1, 10, 0))]
    assert due_at(opened, 10 * 60, pauses) == local(2026, 12, 1, 12, 0)


def test_due_at_is_unset_while_paused_and_fixed_if_reached_before_pause():
    opened = local(2026, 11, 30, 9, 0)
    assert due_at(opened, 60, [Pause(local(2026, 11, 30, 9, 30), None)]) is None
    # Deadline 10:00 was reached before the 11:00 pause: pausing cannot undo it.
    assert due_at(opened, 60, [Pause(local(2026, 11, 30, 11, 0), None)]) == local(2026, 11, 30, 10, 0)


def test_pause_ending_before_it_starts_is_refused():
    with pytest.raises(ValueError):
        due_at(local(2026, 11, 30, 9, 0), 5, [Pause(local(2026, 11, 30, 10, 0), local(2026, 11, 30, 9, 30))])


# --- breaches -------------------------------------------------------------------------------------

OPENED = local(2026, 11, 30, 9, 0)


def _ticket(category: Category = Category.DELAY):
    policy = find_sla_policy(DEFAULT_SLA_POLICIES, category, Priority.NORMAL)
    return open_ticket(opened_at=OPENED, policy=policy)


def test_ticket_due_times_follow_policy():
    state = _ticket()
    assert first_response_due(state) == local(2026, 11, 30, 9, 5)
    # 24 business hours from Monday 09:00 → Wednesday 13:00 (see the multi-day test).
    assert resolution_due(state) == local(2026, 12, 2, 13, 0)
    quote = _ticket(Category.QUOTE)
    assert resolution_due(quote) == local(2026, 11, 30, 17, 0)  # 8 business hours


def test_first_response_breached_only_after_due():
    state = _ticket()
    assert breaches(state, local(2026, 11, 30, 9, 5)) == frozenset()
    assert breaches(state, local(2026, 11, 30, 9, 5, 1)) == {SlaKind.FIRST_RESPONSE}


def test_response_in_time_is_never_a_breach_and_late_response_stays_one():
    on_time = apply_action(_ticket(), Action.RESPOND, local(2026, 11, 30, 9, 4))
    assert breaches(on_time, local(2026, 11, 30, 15, 0)) == frozenset()
    late = apply_action(_ticket(), Action.RESPOND, local(2026, 11, 30, 9, 7))
    assert breaches(late, local(2026, 11, 30, 15, 0)) == {SlaKind.FIRST_RESPONSE}
    # Evaluated before the late response happened (a monitor running behind): still no breach then.
    assert breaches(late, local(2026, 11, 30, 9, 5)) == frozenset()


def test_resolution_breach_and_pause_while_waiting_customer():
    state = apply_action(_ticket(), Action.RESPOND, local(2026, 11, 30, 9, 3))
    due = resolution_due(state)
    assert breaches(state, due + timedelta(seconds=1)) == {SlaKind.RESOLUTION}

    waiting = apply_action(state, Action.ASK_CUSTOMER, local(2026, 11, 30, 10, 0))
    assert waiting.status is TicketStatus.WAITING_CUSTOMER
    assert resolution_due(waiting) is None
    assert breaches(waiting, due + timedelta(days=5)) == frozenset()  # clock stopped

    # The customer answers a business day later: the deadline moves by the paused business time.
    resumed = apply_action(waiting, Action.CUSTOMER_REPLY, local(2026, 12, 1, 10, 0))
    assert resolution_due(resumed) == local(2026, 12, 3, 13, 0)
    assert breaches(resumed, local(2026, 12, 3, 13, 0)) == frozenset()
    assert breaches(resumed, local(2026, 12, 3, 13, 1)) == {SlaKind.RESOLUTION}


def test_resolved_in_time_is_not_breached_later():
    state = apply_action(_ticket(), Action.RESPOND, local(2026, 11, 30, 9, 3))
    state = apply_action(state, Action.RESOLVE, local(2026, 12, 1, 9, 0), resolution="货物已签收")
    assert breaches(state, local(2027, 1, 1, 0, 0)) == frozenset()


def test_breaches_emitted_once():
    state = _ticket()
    emitted: set[SlaKind] = set()
    announcements = []
    for minute in range(0, 24 * 60 * 3, 7):  # a monitor ticking through three days
        now = OPENED + timedelta(minutes=minute)
        new = breaches_to_emit(breaches(state, now), emitted)
        announcements.extend(new)
        emitted.update(new)
    assert announcements == [SlaKind.FIRST_RESPONSE, SlaKind.RESOLUTION]


def test_breaches_to_emit_order_is_stable():
    both = {SlaKind.RESOLUTION, SlaKind.FIRST_RESPONSE}
    assert breaches_to_emit(both, ()) == (SlaKind.FIRST_RESPONSE, SlaKind.RESOLUTION)
    assert breaches_to_emit(both, [SlaKind.FIRST_RESPONSE]) == (SlaKind.RESOLUTION,)
    assert breaches_to_emit(both, both) == ()


# --- properties ---------------------------------------------------------------------------------

HOURS = st.sampled_from(
    [
        None,
        DEFAULT_BUSINESS_HOURS,
        WEEKDAYS_ONLY,
        BusinessHours(start=time(8, 30), end=time(17, 45), weekdays=frozenset({0, 2, 4, 6})),
        # A zone with DST, to show the arithmetic is done in UTC, not in wall time.
        BusinessHours(tz="Europe/Berlin", start=time(9), end=time(17, 30), weekdays=frozenset(range(5)),
                      holidays=frozenset({date(2026, 12, 25), date(2027, 3, 29)})),
    ]
)
INSTANTS = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
MINUTES = st.integers(min_value=0, max_value=30 * 24 * 60)
PAUSES = st.lists(
    st.tuples(
        st.integers(min_value=-600, max_value=20_000),  # start, minutes after opening
        st.one_of(st.none(), st.integers(min_value=0, max_value=5_000)),  # length; None = open
    ),
    max_size=4,
)


def _pauses(opened: datetime, spec) -> list[Pause]:
    return [
        Pause(opened + timedelta(minutes=start), None if length is None else
              opened + timedelta(minutes=start + length))
        for start, length in spec
    ]


@settings(max_examples=300, deadline=None)
@given(start=INSTANTS, minutes=MINUTES, hours=HOURS)
def test_deadline_never_before_start_and_round_trips(start, minutes, hours):
    deadline = add_business_minutes(start, minutes, hours)
    assert deadline >= start
    assert business_minutes_between(start, deadline, hours) == minutes


@settings(max_examples=200, deadline=None)
@given(start=INSTANTS, a=MINUTES, b=MINUTES, hours=HOURS)
def test_adding_minutes_is_additive(start, a, b, hours):
    assert add_business_minutes(add_business_minutes(start, a, hours), b, hours) >= start
    combined = add_business_minutes(start, a + b, hours)
    stepwise = add_business_minutes(add_business_minutes(start, a, hours), b, hours)
    if a and b:
        assert combined == stepwise
    assert business_minutes_between(start, stepwise, hours) == a + b


@settings(max_examples=300, deadline=None)
@given(opened=INSTANTS, minutes=MINUTES, hours=HOURS, base=PAUSES, extra=PAUSES)
def test_adding_pauses_never_makes_a_deadline_earlier(opened, minutes, hours, base, extra):
    before = due_at(opened, minutes, _pauses(opened, base), hours)
    after = due_at(opened, minutes, _pauses(opened, base + extra), hours)
    if before is None:
        assert after is None  # still paused before the target
    elif after is not None:
        assert after >= before
    unpaused = due_at(opened, minutes, [], hours)
    assert unpaused == add_business_minutes(opened, minutes, hours)
    if before is not None:
        assert before >= unpaused


@settings(max_examples=300, deadline=None)
@given(opened=INSTANTS, minutes=MINUTES, hours=HOURS, spec=PAUSES)
def test_elapsed_at_due_time_equals_the_target(opened, minutes, hours, spec):
    pauses = _pauses(opened, spec)
    deadline = due_at(opened, minutes, pauses, hours)
    if deadline is not None:
        assert elapsed_sla_minutes(opened, deadline, pauses, hours) == minutes


@settings(max_examples=200, deadline=None)
@given(opened=INSTANTS, a=MINUTES, b=MINUTES, hours=HOURS, spec=PAUSES)
def test_elapsed_never_decreases_and_never_exceeds_business_time(opened, a, b, hours, spec):
    pauses = _pauses(opened, spec)
    early, late = opened + timedelta(minutes=min(a, b)), opened + timedelta(minutes=max(a, b))
    assert 0 <= elapsed_sla_minutes(opened, early, pauses, hours) <= elapsed_sla_minutes(
        opened, late, pauses, hours
    ) <= business_minutes_between(opened, late, hours)
