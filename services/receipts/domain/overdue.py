"""Overdue receipts (see `deadlines` for the rule that sets ``due_at``): late at read time,
and the chase stages, each announced once per receipt (``receipts.receipt.overdue.v1``)."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from datetime import datetime
from enum import StrEnum

from services.receipts.domain.deadlines import DeadlineConfig
from services.receipts.domain.lifecycle import RETURNED_STATUSES, ReceiptStatus
from services.receipts.domain.times import aware


class OverdueStage(StrEnum):
    """Chase stages; each is announced once per receipt (``receipts.receipt.overdue.v1``)."""

    DUE = "due"  # past the 10/15/20-day return deadline
    FINAL = "final"  # past the 25-day final limit (two or more transfers only)


def is_overdue(status: ReceiptStatus, due_at: datetime | None, as_of: datetime) -> bool:
    """Whether the receipt is late at ``as_of``: not yet back at the origin and ``as_of >= due_at``.

    Returned (received / handed_over / written_off) and cancelled receipts are never
    overdue; without a ``due_at`` (goods not fully arrived) the clock has not started.
    """
    aware("as_of", as_of)
    status = ReceiptStatus(status)
    if due_at is None or status in RETURNED_STATUSES or status is ReceiptStatus.CANCELLED:
        return False
    aware("due_at", due_at)
    return as_of >= due_at


def overdue_stage(
    status: ReceiptStatus, *, due_at: datetime | None, final_due_at: datetime | None, as_of: datetime
) -> OverdueStage | None:
    """The chase stage reached at ``as_of``: ``None``, ``due`` or ``final`` (final limit passed)."""
    if not is_overdue(status, due_at, as_of):
        return None
    if final_due_at is not None:
        aware("final_due_at", final_due_at)
        if as_of >= final_due_at:
            return OverdueStage.FINAL
    return OverdueStage.DUE


_STAGE_ORDER = (OverdueStage.DUE, OverdueStage.FINAL)


def stages_to_emit(already_emitted: AbstractSet[str], stage: OverdueStage | None) -> list[OverdueStage]:
    """Stages to announce now so each receipt emits ``receipts.receipt.overdue.v1`` once per stage.

    Every stage up to and including ``stage`` that was not emitted yet, in order: if
    the daily scan first sees a receipt already past its final limit (a missed day, a
    late ``arrived`` event), both ``due`` and ``final`` go out, so no stage is skipped.
    """
    if stage is None:
        return []
    reached = _STAGE_ORDER[: _STAGE_ORDER.index(OverdueStage(stage)) + 1]
    return [s for s in reached if s.value not in already_emitted]


def days_overdue(deadline: datetime, as_of: datetime, cfg: DeadlineConfig) -> int:
    """Local days late: the first day after the last allowed one counts as one day overdue."""
    if as_of < deadline:
        return 0
    return (as_of.astimezone(cfg.tz).date() - deadline.astimezone(cfg.tz).date()).days + 1


# Not back at the origin and not cancelled: the statuses the chase and `overdue` look at.
CHASED_STATUSES: tuple[str, ...] = tuple(
    s.value for s in ReceiptStatus if s not in RETURNED_STATUSES and s is not ReceiptStatus.CANCELLED)
