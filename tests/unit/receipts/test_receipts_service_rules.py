"""The service layer's pure helpers: clock from facts, days overdue, settings, error mapping."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.receipts.api import api_error
from services.receipts.domain import DEFAULT_DEADLINES, DomainError, InvalidTransition, ReceiptAction, ReceiptStatus
from services.receipts.service import _clock_changes, days_overdue
from services.receipts.settings import ReceiptsSettings

SH = ZoneInfo("Asia/Shanghai")


def row(**kw):
    base = {"arrived_at": None, "delivered_at": None, "due_at": None, "final_due_at": None, "transfers": 0}
    return {**base, **kw}


def facts(arrived=None, delivered=None):
    return {"final_arrived_at": arrived, "delivered_at": delivered}


def test_the_clock_starts_at_the_final_arrival_else_at_the_delivery() -> None:
    arrived = datetime(2026, 3, 31, 23, 30, tzinfo=SH)
    delivered = datetime(2026, 4, 2, 9, 0, tzinfo=SH)
    changes = _clock_changes(row(), facts(arrived, delivered), DEFAULT_DEADLINES)
    assert changes["due_at"] == datetime(2026, 4, 11, tzinfo=SH)
    assert changes["chase_done"] is False
    only_delivered = _clock_changes(row(), facts(None, delivered), DEFAULT_DEADLINES)
    assert only_delivered["due_at"] == datetime(2026, 4, 13, tzinfo=SH)
    assert "arrived_at" not in only_delivered  # still unknown


def test_unchanged_facts_change_nothing() -> None:
    arrived = datetime(2026, 3, 1, 8, tzinfo=SH)
    first = _clock_changes(row(transfers=2), facts(arrived), DEFAULT_DEADLINES)
    assert first["final_due_at"] == datetime(2026, 3, 27, tzinfo=SH)
    again = _clock_changes(row(transfers=2, **{k: v for k, v in first.items() if k != "chase_done"}),
                           facts(arrived), DEFAULT_DEADLINES)
    assert again == {}


@pytest.mark.parametrize(("as_of", "days"), [
    (datetime(2026, 4, 10, 23, 59, tzinfo=SH), 0),
    (datetime(2026, 4, 11, 0, 0, tzinfo=SH), 1),
    (datetime(2026, 4, 11, 23, 59, tzinfo=SH), 1),
    (datetime(2026, 4, 13, 1, 0, tzinfo=SH), 3),
])
def test_days_overdue_count_local_days(as_of: datetime, days: int) -> None:
    assert days_overdue(datetime(2026, 4, 11, tzinfo=SH), as_of, DEFAULT_DEADLINES) == days


def test_settings_refuse_decreasing_deadlines_and_keep_money_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LCS_ENV", "dev")
    monkeypatch.setenv("LCS_RECEIPT_LATE_PENALTY_CNY", "49.90")
    s = ReceiptsSettings()
    assert str(s.penalties().late_cny) == "49.90"
    assert s.deadlines().final_limit_days == 25
    monkeypatch.setenv("LCS_RECEIPT_ONE_TRANSFER_DAYS", "30")
    with pytest.raises(ValidationError):
        ReceiptsSettings()


def test_domain_errors_map_to_the_contracts_statuses() -> None:
    refused = InvalidTransition(current=ReceiptStatus.MAILED, action=ReceiptAction.CANCEL)
    assert api_error(refused).status == 409
    assert api_error(refused).details["current"] == "mailed"
    assert api_error(DomainError("cancel_requires_cod", "x")).status == 409
    assert api_error(DomainError("inspection_inconsistent", "x")).status == 422
    assert api_error(DomainError("not_found", "x")).status == 404
    assert api_error(DomainError("forbidden", "x")).status == 403
