"""The public tracking page's rules (services/web/domain/public.py), without I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.web.domain.public import after_failure, eta_text, masked_digits, waybill_hash, waybill_suffix

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
LOCK = timedelta(minutes=30)


def test_the_fifth_wrong_guess_locks_the_waybill_for_30_minutes() -> None:
    state = None
    for n in range(4):
        state = after_failure(state, T0 + timedelta(minutes=n), limit=5, lock=LOCK)
        assert not state.locked(T0 + timedelta(minutes=n)) and state.failures == n + 1
    state = after_failure(state, T0 + timedelta(minutes=4), limit=5, lock=LOCK)
    assert state.locked(T0 + timedelta(minutes=4))
    assert state.locked(T0 + timedelta(minutes=33, seconds=59))
    assert state.wait_seconds(T0 + timedelta(minutes=4)) == 30 * 60
    assert not state.locked(T0 + timedelta(minutes=34))


def test_wrong_guesses_spread_over_more_than_the_window_do_not_lock() -> None:
    state = None
    for n in range(10):
        state = after_failure(state, T0 + n * timedelta(minutes=8), limit=5, lock=LOCK)
        assert not state.locked(T0 + n * timedelta(minutes=8))


def test_after_the_lock_the_count_starts_afresh() -> None:
    state = None
    for n in range(5):
        state = after_failure(state, T0, limit=5, lock=LOCK)
    assert state is not None and state.locked(T0)
    later = after_failure(state, T0 + LOCK, limit=5, lock=LOCK)
    assert later.failures == 1 and not later.locked(T0 + LOCK)


def test_the_audit_log_keeps_only_masked_parts() -> None:
    assert waybill_suffix("SH2026112800001") == "…0001" and waybill_suffix(None) is None
    assert masked_digits("1234") == "****" and masked_digits(None) is None
    assert waybill_hash("SH1") != waybill_hash("SH2") and len(waybill_hash("SH1")) == 32


def test_the_eta_reads_as_a_day_and_half_day() -> None:
    assert eta_text(date(2026, 12, 2), "pm", "zh-CN") == "12月2日 下午"
    assert eta_text(date(2026, 12, 2), "am", "en") == "2 Dec, morning"
