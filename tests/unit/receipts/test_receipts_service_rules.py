"""Rules the use cases lean on: clock from facts, days overdue, settings, and the statuses
the contract answers for each refusal."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.receipts.domain.access import authorise
from services.receipts.domain.deadlines import DEFAULT_DEADLINES, clock_changes
from services.receipts.domain.inspection import InspectionResult, validate_inspection
from services.receipts.domain.lifecycle import InvalidTransition, Payment, ReceiptAction, ReceiptStatus, transition
from services.receipts.domain.overdue import days_overdue
from services.receipts.settings import ReceiptsSettings
from shared.auth import Principal
from shared.errors import DomainError, NotFound

SH = ZoneInfo("Asia/Shanghai")


def row(**kw):
    base = {"arrived_at": None, "delivered_at": None, "due_at": None, "final_due_at": None, "transfers": 0}
    return {**base, **kw}


def facts(arrived=None, delivered=None):
    return {"final_arrived_at": arrived, "delivered_at": delivered}


def test_the_clock_starts_at_the_final_arrival_else_at_the_delivery() -> None:
    arrived = datetime(2026, 3, 31, 23, 30, tzinfo=SH)
    delivered = datetime(2026, 4, 2, 9, 0, tzinfo=SH)
    changes = clock_changes(row(), facts(arrived, delivered), DEFAULT_DEADLINES)
    assert changes["due_at"] == datetime(2026, 4, 11, tzinfo=SH)
    assert changes["chase_done"] is False
    only_delivered = clock_changes(row(), facts(None, delivered), DEFAULT_DEADLINES)
    assert only_delivered["due_at"] == datetime(2026, 4, 13, tzinfo=SH)
    assert "arrived_at" not in only_delivered  # still unknown


def test_unchanged_facts_change_nothing() -> None:
    arrived = datetime(2026, 3, 1, 8, tzinfo=SH)
    first = clock_changes(row(transfers=2), facts(arrived), DEFAULT_DEADLINES)
    assert first["final_due_at"] == datetime(2026, 3, 27, tzinfo=SH)
    again = clock_changes(row(transfers=2, **{k: v for k, v in first.items() if k != "chase_done"}),
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


def _refusal(call) -> DomainError:  # type: ignore[no-untyped-def]
    with pytest.raises(DomainError) as info:
        call()
    return info.value


def test_domain_errors_carry_the_contracts_statuses() -> None:
    refused = InvalidTransition(current=ReceiptStatus.MAILED, action=ReceiptAction.CANCEL)
    assert refused.status == 409 and refused.code == "invalid_transition"
    assert refused.details["current"] == "mailed"
    cod = _refusal(lambda: transition(ReceiptStatus.SIGNED, ReceiptAction.CANCEL, payment=Payment.PREPAID))
    assert (cod.code, cod.status) == ("cancel_requires_cod", 409)
    inconsistent = _refusal(lambda: validate_inspection(InspectionResult.ABNORMAL, []))
    assert (inconsistent.code, inconsistent.status) == ("inspection_inconsistent", 422)
    assert NotFound.of("receipt", "WB1").status == 404
    branch = Principal(sub="b", role="branch", branch="SH01")
    forbidden = _refusal(lambda: authorise(branch, side="origin", station="WX02", what="hand this receipt over"))
    assert (forbidden.code, forbidden.status) == ("forbidden", 403)
