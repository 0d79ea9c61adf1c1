"""Overdue at read time and the daily chase: each stage announced once per receipt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.receipts.domain.deadlines import due_at, final_due_at
from services.receipts.domain.lifecycle import ReceiptStatus
from services.receipts.domain.overdue import OverdueStage, is_overdue, overdue_stage, stages_to_emit
from shared.errors import DomainError

CST = timezone(timedelta(hours=8))
DUE = datetime(2026, 11, 22, tzinfo=CST)
FINAL = datetime(2026, 11, 27, tzinfo=CST)
TICK = timedelta(microseconds=1)

NOT_RETURNED = ["awaiting_delivery", "signed", "abnormal", "qualified", "mailed", "lost"]
NEVER_OVERDUE = ["received", "handed_over", "written_off", "cancelled"]


@pytest.mark.parametrize("status", NOT_RETURNED)
def test_not_returned_receipts_become_overdue_at_the_due_instant(status: str):
    s = ReceiptStatus(status)
    assert not is_overdue(s, DUE, DUE - TICK)
    assert is_overdue(s, DUE, DUE)
    assert is_overdue(s, DUE, DUE + timedelta(days=400))


@pytest.mark.parametrize("status", NEVER_OVERDUE)
def test_returned_and_cancelled_receipts_are_never_overdue(status: str):
    assert not is_overdue(ReceiptStatus(status), DUE, DUE + timedelta(days=400))


def test_no_deadline_yet_means_not_overdue():
    assert not is_overdue(ReceiptStatus.AWAITING_DELIVERY, None, DUE)
    assert overdue_stage(ReceiptStatus.SIGNED, due_at=None, final_due_at=None, as_of=DUE) is None


def test_as_of_must_be_aware():
    with pytest.raises(DomainError):
        is_overdue(ReceiptStatus.SIGNED, DUE, datetime(2026, 12, 1))


def test_overdue_at_an_instant_given_in_another_offset():
    just_before_in_utc = (DUE - TICK).astimezone(UTC)
    assert not is_overdue(ReceiptStatus.SIGNED, DUE, just_before_in_utc)
    assert is_overdue(ReceiptStatus.SIGNED, DUE, DUE.astimezone(UTC))


def test_stages_with_a_final_limit():
    def stage(as_of: datetime) -> OverdueStage | None:
        return overdue_stage(ReceiptStatus.MAILED, due_at=DUE, final_due_at=FINAL, as_of=as_of)

    assert stage(DUE - TICK) is None
    assert stage(DUE) == "due"
    assert stage(FINAL - TICK) is OverdueStage.DUE
    assert stage(FINAL) == "final"


def test_direct_receipts_never_reach_the_final_stage():
    assert overdue_stage(ReceiptStatus.SIGNED, due_at=DUE, final_due_at=None, as_of=DUE + timedelta(days=90)) == "due"


def test_returned_receipt_has_no_stage_even_past_final():
    assert overdue_stage(ReceiptStatus.RECEIVED, due_at=DUE, final_due_at=FINAL, as_of=FINAL) is None


def daily_scan(status: ReceiptStatus, arrived: datetime, transfers: int, days: int, start_day: int = 0):
    """Simulate the daily 09:00 chase scan; return the stages emitted, in order."""
    due, final = due_at(arrived, transfers), final_due_at(arrived, transfers)
    emitted: set[str] = set()
    events: list[str] = []
    first = datetime.combine(arrived.astimezone(CST).date(), datetime.min.time(), tzinfo=CST)
    for day in range(start_day, days):
        as_of = first + timedelta(days=day, hours=9)
        for s in stages_to_emit(emitted, overdue_stage(status, due_at=due, final_due_at=final, as_of=as_of)):
            emitted.add(s)
            events.append(f"{s}@{day}")
    return events


def test_daily_scan_emits_each_stage_once_two_transfers():
    arrived = datetime(2026, 11, 1, 14, tzinfo=CST)
    # due: end of day 20 → first seen overdue by the scan of day 21; final at day 26.
    assert daily_scan(ReceiptStatus.MAILED, arrived, 2, days=60) == ["due@21", "final@26"]


def test_daily_scan_emits_due_once_for_direct_receipts():
    arrived = datetime(2026, 11, 1, 14, tzinfo=CST)
    assert daily_scan(ReceiptStatus.LOST, arrived, 0, days=60) == ["due@11"]


def test_a_late_first_scan_emits_both_stages_in_order():
    arrived = datetime(2026, 11, 1, 14, tzinfo=CST)
    assert daily_scan(ReceiptStatus.SIGNED, arrived, 3, days=40, start_day=30) == ["due@30", "final@30"]


def test_returned_receipts_are_not_chased():
    arrived = datetime(2026, 11, 1, 14, tzinfo=CST)
    assert daily_scan(ReceiptStatus.HANDED_OVER, arrived, 2, days=60) == []


@pytest.mark.parametrize(
    ("already", "stage", "expected"),
    [
        (set(), None, []),
        (set(), OverdueStage.DUE, ["due"]),
        ({"due"}, OverdueStage.DUE, []),
        ({"due"}, OverdueStage.FINAL, ["final"]),
        (set(), OverdueStage.FINAL, ["due", "final"]),
        ({"due", "final"}, OverdueStage.FINAL, []),
        (frozenset({"final"}), OverdueStage.FINAL, ["due"]),
    ],
)
def test_stages_to_emit(already: set[str], stage: OverdueStage | None, expected: list[str]):
    assert stages_to_emit(already, stage) == expected
