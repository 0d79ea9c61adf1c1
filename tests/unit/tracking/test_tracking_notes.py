"""What a staff note's reason changes (domain.notes), and that the API's enums are the rules'."""

from __future__ import annotations

import typing
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.tracking.desk.models import ExceptionKindName, HandlingFlag, NoteReason
from services.tracking.domain.delay import NOTE_REASONS, DelayEvent, DelayReason, DelayState, evaluate_delay
from services.tracking.domain.exceptions import ExceptionKind
from services.tracking.domain.notes import stored_note_reason, with_note_reason
from services.tracking.domain.reports import HANDLING_LABELS_ZH
from shared.errors import DomainError

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
PROMISED = T0 + timedelta(hours=2)
LATE = DelayState(delayed=True, notified_eta=PROMISED + timedelta(hours=1), delay_minutes=60,
                  reason=DelayReason.SLOW_PROGRESS, eta=PROMISED + timedelta(hours=1), evaluated_at=T0, notified_at=T0)


def test_a_note_reason_replaces_a_delayed_shipments_reason_at_once() -> None:
    assert with_note_reason(LATE, "traffic_jam") == replace(LATE, reason=DelayReason.TRAFFIC_JAM)


def test_a_note_reason_leaves_a_shipment_on_time_alone_and_its_first_notice_carries_it() -> None:
    on_time = DelayState(eta=PROMISED, evaluated_at=T0)
    assert with_note_reason(on_time, DelayReason.WEATHER) == on_time
    late = evaluate_delay(previous=on_time, eta=PROMISED + timedelta(hours=1), promised_at=PROMISED,
                          now=T0 + timedelta(minutes=5), inferred_reason=DelayReason.SLOW_PROGRESS,
                          note_reason=stored_note_reason("weather"))
    assert late.event is DelayEvent.DELAYED and late.state.reason is DelayReason.WEATHER


@pytest.mark.parametrize("bad", ["no_signal", "aliens", ""])
def test_a_note_cannot_give_an_inferred_or_unknown_reason(bad: str) -> None:
    with pytest.raises(DomainError) as err:
        with_note_reason(LATE, bad)
    assert err.value.code == "invalid_reason" and err.value.status == 422


@pytest.mark.parametrize(("stored", "expected"), [
    (None, None), ("", None), ("traffic_jam", DelayReason.TRAFFIC_JAM), ("slow_progress", None), ("junk", None)])
def test_a_stored_note_reason_is_read_without_refusing_the_evaluation(stored: str | None,
                                                                      expected: DelayReason | None) -> None:
    assert stored_note_reason(stored) is expected


def test_the_api_enums_are_the_rules() -> None:
    assert set(typing.get_args(NoteReason)) == {r.value for r in NOTE_REASONS}
    assert set(typing.get_args(ExceptionKindName)) == {k.value for k in ExceptionKind}
    assert set(typing.get_args(HandlingFlag)) == set(HANDLING_LABELS_ZH)
