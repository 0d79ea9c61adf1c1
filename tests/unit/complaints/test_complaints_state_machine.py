"""The ticket state machine, table-tested: every (status, action) pair, allowed or refused.

The expected table is written out here independently of ``TRANSITIONS`` so a change
to the rules has to be made twice, on purpose.
"""

from datetime import UTC, datetime, timedelta

import pytest

from services.complaints.domain.sla import Pause, SlaPolicy
from services.complaints.domain.tickets import (
    TRANSITIONS,
    Action,
    InvalidTransition,
    TicketStatus,
    allowed_actions,
    apply_action,
    can_transition,
    default_priority,
    open_ticket,
    response_action,
    transition,
)
from services.complaints.domain.vocabulary import Category, Language, Priority, parse_language
from shared.errors import DomainError

S, A = TicketStatus, Action

EXPECTED: dict[tuple[TicketStatus, Action], TicketStatus] = {
    (S.OPEN, A.RESPOND): S.RESPONDED,
    (S.OPEN, A.ASK_CUSTOMER): S.WAITING_CUSTOMER,
    (S.OPEN, A.CUSTOMER_REPLY): S.OPEN,
    (S.OPEN, A.ESCALATE): S.ESCALATED,
    (S.OPEN, A.RESOLVE): S.RESOLVED,
    (S.RESPONDED, A.RESPOND): S.RESPONDED,
    (S.RESPONDED, A.ASK_CUSTOMER): S.WAITING_CUSTOMER,
    (S.RESPONDED, A.CUSTOMER_REPLY): S.RESPONDED,
    (S.RESPONDED, A.ESCALATE): S.ESCALATED,
    (S.RESPONDED, A.RESOLVE): S.RESOLVED,
    (S.WAITING_CUSTOMER, A.RESPOND): S.RESPONDED,
    (S.WAITING_CUSTOMER, A.ASK_CUSTOMER): S.WAITING_CUSTOMER,
    (S.WAITING_CUSTOMER, A.CUSTOMER_REPLY): S.RESPONDED,
    (S.WAITING_CUSTOMER, A.ESCALATE): S.ESCALATED,
    (S.WAITING_CUSTOMER, A.RESOLVE): S.RESOLVED,
    (S.ESCALATED, A.RESPOND): S.ESCALATED,
    (S.ESCALATED, A.ASK_CUSTOMER): S.WAITING_CUSTOMER,
    (S.ESCALATED, A.CUSTOMER_REPLY): S.ESCALATED,
    (S.ESCALATED, A.RESOLVE): S.RESOLVED,
    (S.RESOLVED, A.REOPEN): S.OPEN,
    (S.RESOLVED, A.SURVEY): S.CLOSED,
    (S.RESOLVED, A.CLOSE): S.CLOSED,
}

ALL_PAIRS = [(status, action) for status in TicketStatus for action in Action]


@pytest.mark.parametrize(("status", "action"), ALL_PAIRS, ids=[f"{s}-{a}" for s, a in ALL_PAIRS])
def test_every_status_action_pair(status, action):
    expected = EXPECTED.get((status, action))
    if expected is None:
        assert not can_transition(status, action)
        with pytest.raises(InvalidTransition) as caught:
            transition(status, action)
        error = caught.value
        assert error.code == "invalid_transition"
        assert status.value in error.message  # the message names the current state
        assert error.details["status"] == status.value
        assert error.details["action"] == action.value
        assert set(error.details["allowed"]) == {a.value for a in allowed_actions(status)}
    else:
        assert can_transition(status, action)
        assert transition(status, action) is expected


def test_table_has_every_status_and_nothing_else():
    assert set(TRANSITIONS) == set(TicketStatus)
    table = {(s, a): t for s, row in TRANSITIONS.items() for a, t in row.items()}
    assert table == EXPECTED


def test_closed_is_terminal_and_open_is_initial():
    assert allowed_actions(S.CLOSED) == frozenset()
    state = open_ticket(opened_at=datetime(2026, 11, 30, 1, tzinfo=UTC), policy=SlaPolicy(None, None, 5, 60))
    assert state.status is S.OPEN


def test_invalid_transition_is_a_domain_error():
    with pytest.raises(DomainError):
        transition(S.CLOSED, A.REOPEN)


def test_response_action_maps_questions_to_a_pause():
    assert response_action(asks_customer=True) is A.ASK_CUSTOMER
    assert response_action(asks_customer=False) is A.RESPOND


# --- apply_action: the clocks move with the steps -------------------------------------------------

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


def _opened():
    return open_ticket(opened_at=T0, policy=SlaPolicy(Category.DELAY, None, 5, 24 * 60))


def test_first_response_is_recorded_once():
    state = apply_action(_opened(), A.RESPOND, T0 + timedelta(minutes=3))
    state = apply_action(state, A.RESPOND, T0 + timedelta(minutes=30))
    assert state.first_responded_at == T0 + timedelta(minutes=3)
    assert state.status is S.RESPONDED


def test_question_to_customer_pauses_until_reply():
    state = apply_action(_opened(), A.ASK_CUSTOMER, T0 + timedelta(minutes=2))
    assert state.paused
    assert state.first_responded_at == T0 + timedelta(minutes=2)
    state = apply_action(state, A.ASK_CUSTOMER, T0 + timedelta(minutes=10))  # still the same pause
    assert state.pauses == (Pause(T0 + timedelta(minutes=2), None),)
    state = apply_action(state, A.CUSTOMER_REPLY, T0 + timedelta(minutes=40))
    assert not state.paused
    assert state.pauses == (Pause(T0 + timedelta(minutes=2), T0 + timedelta(minutes=40)),)
    assert state.status is S.RESPONDED


@pytest.mark.parametrize("action", [A.RESPOND, A.ESCALATE])
def test_staff_step_ends_the_pause(action):
    state = apply_action(_opened(), A.ASK_CUSTOMER, T0 + timedelta(minutes=2))
    state = apply_action(state, action, T0 + timedelta(minutes=20))
    assert not state.paused


def test_resolve_needs_a_resolution_text_and_ends_the_pause():
    state = apply_action(_opened(), A.ASK_CUSTOMER, T0 + timedelta(minutes=2))
    for blank in (None, "", "   "):
        with pytest.raises(DomainError) as caught:
            apply_action(state, A.RESOLVE, T0 + timedelta(minutes=5), resolution=blank)
        assert caught.value.code == "resolution_required"
    state = apply_action(state, A.RESOLVE, T0 + timedelta(minutes=5), resolution="  已确认到货时间  ")
    assert state.status is S.RESOLVED
    assert state.resolution == "已确认到货时间"
    assert state.resolved_at == T0 + timedelta(minutes=5)
    assert not state.paused


def test_reopen_does_not_charge_the_time_spent_resolved():
    state = apply_action(_opened(), A.RESPOND, T0 + timedelta(minutes=1))
    state = apply_action(state, A.RESOLVE, T0 + timedelta(hours=1), resolution="done")
    state = apply_action(state, A.REOPEN, T0 + timedelta(days=3))
    assert state.status is S.OPEN
    assert state.resolved_at is None
    assert state.pauses[-1] == Pause(T0 + timedelta(hours=1), T0 + timedelta(days=3))
    assert state.first_responded_at == T0 + timedelta(minutes=1)  # first response not owed again


def test_escalation_time_is_kept():
    state = apply_action(_opened(), A.ESCALATE, T0 + timedelta(minutes=6))
    assert state.escalated_at == T0 + timedelta(minutes=6)
    with pytest.raises(InvalidTransition):
        apply_action(state, A.ESCALATE, T0 + timedelta(minutes=7))


@pytest.mark.parametrize("score", [1, 3, 5])
def test_survey_records_csat_and_closes(score):
    state = apply_action(_opened(), A.RESOLVE, T0 + timedelta(hours=1), resolution="ok")
    state = apply_action(state, A.SURVEY, T0 + timedelta(hours=2), score=score)
    assert state.status is S.CLOSED
    assert state.csat_score == score


@pytest.mark.parametrize("score", [None, 0, 6, -1, True, 4.5, "5"])
def test_survey_refuses_scores_outside_1_to_5(score):
    state = apply_action(_opened(), A.RESOLVE, T0 + timedelta(hours=1), resolution="ok")
    with pytest.raises(DomainError) as caught:
        apply_action(state, A.SURVEY, T0 + timedelta(hours=2), score=score)
    assert caught.value.code == "invalid_score"


def test_survey_before_resolution_is_refused_naming_the_state():
    with pytest.raises(InvalidTransition, match="open"):
        apply_action(_opened(), A.SURVEY, T0, score=5)


def test_actions_need_aware_times_not_before_opening():
    with pytest.raises(ValueError):
        apply_action(_opened(), A.RESPOND, datetime(2026, 11, 30, 9, 0))
    with pytest.raises(ValueError):
        apply_action(_opened(), A.RESPOND, T0 - timedelta(seconds=1))


# --- vocabulary rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "key", "expected"),
    [
        (Category.DELAY, False, Priority.NORMAL),
        (Category.DELAY, True, Priority.HIGH),
        (Category.DAMAGE, False, Priority.HIGH),
        (Category.LOSS, False, Priority.HIGH),
        (Category.LOSS, True, Priority.URGENT),
        (Category.DAMAGE, True, Priority.URGENT),
        (Category.QUOTE, False, Priority.LOW),
        (Category.QUOTE, True, Priority.HIGH),
        (Category.ATTITUDE, False, Priority.NORMAL),
        (Category.BILLING, False, Priority.NORMAL),
        (Category.OTHER, False, Priority.NORMAL),
    ],
)
def test_default_priority(category, key, expected):
    assert default_priority(category, key_customer=key) is expected


@pytest.mark.parametrize(
    ("tag", "expected"),
    [(None, Language.ZH_CN), ("", Language.ZH_CN), ("zh-CN", Language.ZH_CN), ("zh", Language.ZH_CN),
     ("en", Language.EN), ("en-US", Language.EN), ("EN_gb", Language.EN), ("fr", Language.ZH_CN)],
)
def test_parse_language(tag, expected):
    assert parse_language(tag) is expected
