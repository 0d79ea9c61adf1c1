"""Quiet hours, throttling and the send decision, with the clock always passed in."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifier.domain.decisions import decide
from services.notifier.domain.preferences import DEFAULT_QUIET_HOURS, QuietHours, quiet_until
from services.notifier.domain.throttling import throttle
from services.notifier.domain.vocabulary import REASON_QUIET_HOURS, REASON_ROLLED_UP, Channel, Status

SH = ZoneInfo("Asia/Shanghai")
LUNCH = QuietHours(time(12, 0), time(14, 0), "Asia/Shanghai")  # does not cross midnight


def at(day: int, hour: int, minute: int = 0, tz: ZoneInfo = SH) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=tz)


# ---------------------------------------------------------------- quiet_until


def test_default_is_22_to_08_shanghai() -> None:
    assert QuietHours(time(22, 0), time(8, 0), "Asia/Shanghai") == DEFAULT_QUIET_HOURS


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(28, 21, 59), None),
        (at(28, 22, 0), at(29, 8, 0)),  # the start is quiet
        (at(28, 23, 30), at(29, 8, 0)),  # before midnight: ends tomorrow
        (at(29, 0, 0), at(29, 8, 0)),  # after midnight: ends today
        (at(29, 7, 59), at(29, 8, 0)),
        (at(29, 8, 0), None),  # the end is not quiet
        (at(29, 12, 0), None),
    ],
)
def test_window_crossing_midnight(now: datetime, expected: datetime | None) -> None:
    assert quiet_until(now, DEFAULT_QUIET_HOURS) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(28, 11, 59), None),
        (at(28, 12, 0), at(28, 14, 0)),
        (at(28, 13, 59), at(28, 14, 0)),
        (at(28, 14, 0), None),
        (at(28, 23, 0), None),
    ],
)
def test_window_not_crossing_midnight(now: datetime, expected: datetime | None) -> None:
    assert quiet_until(now, LUNCH) == expected


def test_now_in_another_zone_is_judged_in_the_windows_zone() -> None:
    # 15:00 UTC is 23:00 in Shanghai.
    now = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
    until = quiet_until(now, DEFAULT_QUIET_HOURS)
    assert until == at(29, 8, 0)
    assert until is not None and until.tzinfo is not None


def test_an_empty_window_is_never_quiet() -> None:
    assert quiet_until(at(28, 3, 0), QuietHours(time(3, 0), time(3, 0))) is None


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        quiet_until(datetime(2026, 11, 28, 23, 0), DEFAULT_QUIET_HOURS)


def test_dst_fall_back_repeated_end_time() -> None:
    # New York, 2026-11-01: 01:00–02:00 happens twice. Quiet 22:00–01:30. At 01:10 in the
    # second pass (EST) the first 01:30 (EDT) is already over: wait for the second one.
    ny = ZoneInfo("America/New_York")
    qh = QuietHours(time(22, 0), time(1, 30), "America/New_York")
    now = datetime(2026, 11, 1, 1, 10, tzinfo=ny, fold=1)
    until = quiet_until(now, qh)
    assert until is not None and until > now
    assert until - now == timedelta(minutes=20)


ZONES = st.sampled_from(["Asia/Shanghai", "UTC", "America/New_York", "Europe/London", "Australia/Sydney"])
TIMES = st.times().map(lambda t: t.replace(second=0, microsecond=0))
INSTANTS = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC))


@settings(max_examples=400, deadline=None)
@given(now=INSTANTS, start=TIMES, end=TIMES, tz=ZONES)
def test_quiet_until_always_lands_outside_the_window(now: datetime, start: time, end: time, tz: str) -> None:
    qh = QuietHours(start, end, tz)
    until = quiet_until(now, qh)
    if until is not None:
        assert until > now
        assert until - now <= timedelta(days=2)
        assert quiet_until(until, qh) is None


@settings(max_examples=200, deadline=None)
@given(now=INSTANTS)
def test_default_window_never_defers_past_the_next_8_am(now: datetime) -> None:
    until = quiet_until(now, DEFAULT_QUIET_HOURS)
    if until is not None:
        local = until.astimezone(SH)
        assert (local.hour, local.minute) == (8, 0)
        assert until - now <= timedelta(hours=10)


# ---------------------------------------------------------------- throttle


def test_throttle_allows_up_to_the_limit() -> None:
    now = at(28, 10, 0)
    assert throttle([], now=now, limit=3).send
    assert throttle([now, now], now=now, limit=3).send
    verdict = throttle([now, now, now], now=now, limit=3)
    assert not verdict.send
    assert verdict.into is None  # no open summary yet: a new one
    assert verdict.due == now + timedelta(hours=1)


def test_throttle_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        throttle([], now=at(28, 10, 0), limit=0)


# ---------------------------------------------------------------- decide


def _decide(channel: Channel, urgent: bool, now: datetime, sent: int = 0) -> tuple[Status, datetime, str | None]:
    d = decide(
        channel=channel,
        urgent=urgent,
        now=now,
        quiet_hours=DEFAULT_QUIET_HOURS,
        slots=[now] * sent,
        throttle_limit=5,
    )
    return d.status, d.not_before, d.reason


def test_non_urgent_sms_at_night_is_deferred_to_8am() -> None:
    assert _decide(Channel.SMS, False, at(28, 23, 0)) == (Status.DEFERRED, at(29, 8, 0), REASON_QUIET_HOURS)


def test_urgent_sms_at_night_goes_out() -> None:
    assert _decide(Channel.SMS, True, at(28, 23, 0)) == (Status.QUEUED, at(28, 23, 0), None)


def test_email_is_never_deferred() -> None:
    assert _decide(Channel.EMAIL, False, at(28, 23, 0)) == (Status.QUEUED, at(28, 23, 0), None)


def test_daytime_sms_is_queued() -> None:
    assert _decide(Channel.SMS, False, at(28, 10, 0)) == (Status.QUEUED, at(28, 10, 0), None)


def test_throttle_wins_over_everything_even_urgent_and_holds_for_a_summary_never_drops() -> None:
    # Held for the summary, due when the hour has room: 10:00 + 1 h.
    assert _decide(Channel.SMS, True, at(28, 10, 0), sent=5) == (Status.DEFERRED, at(28, 11, 0), REASON_ROLLED_UP)
    assert _decide(Channel.SMS, False, at(28, 23, 0), sent=5) == (Status.DEFERRED, at(29, 0, 0), REASON_ROLLED_UP)


def test_status_values_match_the_contract() -> None:
    assert {s.value for s in Status} == {"queued", "sent", "failed", "suppressed", "deferred"}
