"""Properties that must hold for any input: deadlines, the state machine, chasing, the report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from services.receipts.domain.deadlines import DeadlineConfig, due_at, final_due_at, return_days
from services.receipts.domain.lifecycle import (
    TRANSITIONS,
    CancelNotAllowed,
    InvalidTransition,
    Payment,
    ReceiptAction,
    ReceiptStatus,
    transition,
)
from services.receipts.domain.overdue import OverdueStage, is_overdue, overdue_stage, stages_to_emit
from services.receipts.domain.reports import ReceiptFact, monthly_report

SHANGHAI = ZoneInfo("Asia/Shanghai")
ZONES = st.sampled_from([SHANGHAI, UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata"),
                         timezone(timedelta(hours=-11))])
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=ZONES, allow_imaginary=False
)
transfers = st.integers(min_value=0, max_value=6)


@given(instants, transfers, transfers)
def test_due_at_is_monotone_in_transfers(arrived: datetime, a: int, b: int):
    lo, hi = sorted((a, b))
    assert due_at(arrived, lo) <= due_at(arrived, hi)


@given(instants, transfers)
def test_due_at_is_the_end_of_a_shanghai_day_n_days_after_arrival(arrived: datetime, t: int):
    n = return_days(t)
    due = due_at(arrived, t)
    local = due.astimezone(SHANGHAI)
    assert (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)
    # Day 0 is the local arrival date, so the allowance is between N and N+1 full days.
    assert timedelta(days=n) < due - arrived <= timedelta(days=n + 1)
    assert local.date() - arrived.astimezone(SHANGHAI).date() == timedelta(days=n + 1)


@given(instants, transfers)
def test_final_limit_exists_only_for_two_or_more_transfers_and_is_never_earlier(arrived: datetime, t: int):
    final = final_due_at(arrived, t)
    if t < 2:
        assert final is None
    else:
        assert final is not None and final >= due_at(arrived, t)


@given(instants, st.integers(0, 23), st.integers(0, 59))
def test_the_hour_of_arrival_never_matters_within_a_shanghai_day(arrived: datetime, hour: int, minute: int):
    same_day = arrived.astimezone(SHANGHAI).replace(hour=hour, minute=minute)
    assert due_at(same_day, 1) == due_at(arrived, 1)


@given(
    st.integers(0, 30), st.integers(0, 30), st.integers(0, 30), st.integers(0, 10),
    instants, transfers,
)
def test_any_consistent_config_keeps_the_order(d1: int, d2: int, d3: int, d4: int, arrived: datetime, t: int):
    a, b, c = sorted((d1, d2, d3))
    cfg = DeadlineConfig(direct_days=a, one_transfer_days=b, two_plus_transfer_days=c, final_limit_days=c + d4)
    assert due_at(arrived, 0, cfg) <= due_at(arrived, 1, cfg) <= due_at(arrived, 2, cfg)
    final = final_due_at(arrived, max(t, 2), cfg)
    assert final is not None and final >= due_at(arrived, max(t, 2), cfg)


@settings(max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(list(ReceiptAction)), st.sampled_from(list(Payment))), max_size=40))
def test_random_action_sequences_only_move_along_table_edges(steps: list[tuple[ReceiptAction, Payment]]):
    status = ReceiptStatus.AWAITING_DELIVERY
    for action, payment in steps:
        try:
            new = transition(status, action, payment=payment)
        except CancelNotAllowed:
            assert action is ReceiptAction.CANCEL and payment is not Payment.COD
            continue
        except InvalidTransition as err:
            assert (status, action) not in TRANSITIONS
            assert err.current is status
            continue
        assert TRANSITIONS[(status, action)] is new
        if action is ReceiptAction.CANCEL:
            assert payment is Payment.COD
        status = new


@given(
    st.sampled_from(list(ReceiptStatus)), instants, transfers,
    st.lists(st.integers(0, 60 * 24 * 40), min_size=1, max_size=30),
)
def test_chasing_never_emits_a_stage_twice(status: ReceiptStatus, arrived: datetime, t: int, minutes: list[int]):
    due, final = due_at(arrived, t), final_due_at(arrived, t)
    emitted: set[str] = set()
    events: list[OverdueStage] = []
    for m in sorted(minutes):  # scans happen in time order, at arbitrary moments
        as_of = arrived + timedelta(minutes=m)
        new = stages_to_emit(emitted, overdue_stage(status, due_at=due, final_due_at=final, as_of=as_of))
        emitted.update(new)
        events.extend(new)
    assert len(events) == len(set(events))
    assert events == sorted(events, key=[OverdueStage.DUE, OverdueStage.FINAL].index)
    if OverdueStage.FINAL in events:
        assert t >= 2
    if events:
        assert is_overdue(status, due, arrived + timedelta(minutes=max(minutes)))


month_days = st.integers(1, 30)


@st.composite
def november_facts(draw: st.DrawFn) -> ReceiptFact:
    due = datetime(2026, 11, draw(month_days), tzinfo=SHANGHAI)
    maybe_time = st.one_of(st.none(), st.integers(-20 * 24, 45 * 24).map(lambda h: due + timedelta(hours=h)))
    return ReceiptFact(
        waybill_no="W",
        region=draw(st.sampled_from(["A", "B", "C"])),
        status=draw(st.sampled_from(list(ReceiptStatus))),
        due_at=due,
        required=draw(st.booleans()),
        returned_at=draw(maybe_time),
        abnormal_at=draw(maybe_time),
        lost_at=draw(maybe_time),
        declared_value_cny=draw(st.one_of(st.none(), st.decimals(0, 10_000, places=2))),
    )


@given(st.lists(november_facts(), max_size=60), st.one_of(st.none(), instants))
def test_report_rows_always_add_up(facts: list[ReceiptFact], as_of: datetime | None):
    rows = monthly_report("2026-11", facts, as_of=as_of)
    counted = [f for f in facts if f.required and f.status is not ReceiptStatus.CANCELLED]
    assert sum(r.required for r in rows) == len(counted)
    for r in rows:
        assert r.required == r.returned_on_time + r.returned_late + r.outstanding + r.lost
        assert r.abnormal_caught_late <= r.abnormal <= r.required
        assert r.penalty_cny == r.late_penalty_cny + r.abnormal_penalty_cny + r.lost_penalty_cny
        assert r.penalty_cny >= Decimal(0)
        assert r.late_penalty_cny == 50 * (r.late_penalty_cny / 50).to_integral_value()
