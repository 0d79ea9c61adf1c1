"""Callbacks the desk owes: which returning calls settle one, and which calls cannot be returned."""

from __future__ import annotations

import pytest

from services.complaints.domain.calls import (
    CallbackSettled,
    check_callback_owed,
    check_returning_call,
    settles_callback,
)
from shared.errors import DomainError


@pytest.mark.parametrize(("outcome", "settles"), [
    ("answered", True), ("callback", True), ("complaint_opened", True), ("escalated", True), ("no_answer", False),
])
def test_only_a_call_that_reached_the_customer_settles_a_callback(outcome: str, settles: bool) -> None:
    assert settles_callback(outcome) is settles


def test_a_returning_call_needs_an_unsettled_callback() -> None:
    check_returning_call(original_id="c1", original_outcome="callback", settled=False)
    with pytest.raises(DomainError) as missing:
        check_returning_call(original_id="c1", original_outcome=None, settled=False)
    assert missing.value.code == "unknown_call" and missing.value.details == {"callback_of": "c1"}
    with pytest.raises(DomainError) as not_owed:
        check_returning_call(original_id="c1", original_outcome="answered", settled=False)
    assert not_owed.value.code == "not_a_callback"
    with pytest.raises(CallbackSettled) as settled:
        check_returning_call(original_id="c1", original_outcome="callback", settled=True)
    assert settled.value.code == "callback_settled"


def test_marking_done_needs_a_callback_still_owed() -> None:
    check_callback_owed(call_id="c1", outcome="callback", settled=False)
    with pytest.raises(DomainError) as not_owed:
        check_callback_owed(call_id="c1", outcome="no_answer", settled=False)
    assert (not_owed.value.code, not_owed.value.status) == ("not_a_callback", 422)
    with pytest.raises(CallbackSettled) as settled:
        check_callback_owed(call_id="c1", outcome="callback", settled=True)
    assert (settled.value.code, settled.value.status) == ("callback_settled", 409)
