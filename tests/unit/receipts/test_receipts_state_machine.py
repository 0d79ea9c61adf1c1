"""The receipt state machine, pair by pair: every (status, action) is either an edge or refused.

The expected table is written out here by hand from the handbook's lifecycle (not read
from the module), so a change to the module's table must be a deliberate change here too.
"""

from __future__ import annotations

import pytest

from services.receipts.domain.inspection import InspectionResult, inspection_action
from services.receipts.domain.lifecycle import (
    RETURNED_STATUSES,
    TERMINAL_STATUSES,
    TRANSITIONS,
    CancelNotAllowed,
    InvalidTransition,
    Payment,
    ReceiptAction,
    ReceiptStatus,
    allowed_actions,
    transition,
)
from shared.errors import DomainError

EXPECTED: dict[tuple[str, str], str] = {
    ("awaiting_delivery", "deliver"): "signed",
    ("signed", "inspect_qualified"): "qualified",
    ("signed", "inspect_abnormal"): "abnormal",
    ("abnormal", "re_sign"): "signed",
    ("qualified", "mail"): "mailed",
    ("mailed", "receive"): "received",
    ("mailed", "flag_lost"): "lost",
    ("lost", "receive"): "received",
    ("received", "hand_over"): "handed_over",
    ("received", "write_off"): "written_off",
    ("awaiting_delivery", "cancel"): "cancelled",
    ("signed", "cancel"): "cancelled",
    ("abnormal", "cancel"): "cancelled",
    ("qualified", "cancel"): "cancelled",
    ("received", "cancel"): "cancelled",
    ("lost", "cancel"): "cancelled",
}

STATUSES = [
    "awaiting_delivery", "signed", "abnormal", "qualified", "mailed",
    "received", "handed_over", "written_off", "cancelled", "lost",
]
ACTIONS = [
    "deliver", "inspect_qualified", "inspect_abnormal", "re_sign", "mail",
    "receive", "flag_lost", "hand_over", "write_off", "cancel",
]
ALL_PAIRS = [(s, a) for s in STATUSES for a in ACTIONS]


def test_vocabulary_is_the_contracts():
    assert [s.value for s in ReceiptStatus] == STATUSES
    assert sorted(a.value for a in ReceiptAction) == sorted(ACTIONS)
    assert {p.value for p in Payment} == {"prepaid", "cod", "monthly"}


def test_module_table_is_exactly_the_expected_edges():
    assert {(s.value, a.value): t.value for (s, a), t in TRANSITIONS.items()} == EXPECTED


def test_table_cannot_be_mutated_at_run_time():
    with pytest.raises(TypeError):
        TRANSITIONS[(ReceiptStatus.CANCELLED, ReceiptAction.DELIVER)] = ReceiptStatus.SIGNED  # type: ignore[index]


@pytest.mark.parametrize(("status", "action"), ALL_PAIRS, ids=[f"{s}-{a}" for s, a in ALL_PAIRS])
def test_every_pair_for_cash_on_delivery(status: str, action: str):
    current, act = ReceiptStatus(status), ReceiptAction(action)
    if (status, action) in EXPECTED:
        assert transition(current, act, payment=Payment.COD) == ReceiptStatus(EXPECTED[(status, action)])
    else:
        with pytest.raises(InvalidTransition) as info:
            transition(current, act, payment=Payment.COD)
        err = info.value
        assert err.code == "invalid_transition"
        assert err.current is current and err.action is act
        assert status in err.message  # the message names the current state
        assert err.details["current"] == status
        assert err.details["action"] == action


@pytest.mark.parametrize("payment", [Payment.PREPAID, Payment.MONTHLY])
@pytest.mark.parametrize(("status", "action"), ALL_PAIRS, ids=[f"{s}-{a}" for s, a in ALL_PAIRS])
def test_every_pair_for_prepaid_and_monthly(status: str, action: str, payment: Payment):
    current, act = ReceiptStatus(status), ReceiptAction(action)
    if action == "cancel":
        # Refused with its own code whatever the state: only 现付 receipts are cancelled.
        with pytest.raises(CancelNotAllowed) as info:
            transition(current, act, payment=payment)
        assert info.value.code == "cancel_requires_cod"
        assert info.value.details == {"payment": payment.value}
        assert not isinstance(info.value, InvalidTransition)
    elif (status, action) in EXPECTED:
        assert transition(current, act, payment=payment) == ReceiptStatus(EXPECTED[(status, action)])
    else:
        with pytest.raises(InvalidTransition):
            transition(current, act, payment=payment)


def test_cancel_is_a_domain_error_for_the_api_mapping():
    with pytest.raises(DomainError) as info:
        transition(ReceiptStatus.SIGNED, ReceiptAction.CANCEL, payment=Payment.PREPAID)
    assert info.value.code == "cancel_requires_cod"


def test_cod_cannot_cancel_while_sealed_in_an_envelope():
    with pytest.raises(InvalidTransition) as info:
        transition(ReceiptStatus.MAILED, ReceiptAction.CANCEL, payment=Payment.COD)
    assert "mailed" in info.value.message


def test_plain_strings_are_accepted_like_enums():
    assert transition("awaiting_delivery", "deliver", payment="cod") is ReceiptStatus.SIGNED  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        transition("nonsense", "deliver", payment="cod")  # type: ignore[arg-type]


def test_terminal_and_returned_statuses():
    assert {s.value for s in TERMINAL_STATUSES} == {"handed_over", "written_off", "cancelled"}
    assert {s.value for s in RETURNED_STATUSES} == {"received", "handed_over", "written_off"}
    for s in TERMINAL_STATUSES:
        assert allowed_actions(s) == frozenset()


def test_allowed_actions_match_the_expected_table():
    for status in STATUSES:
        expected = {a for (s, a) in EXPECTED if s == status}
        assert {a.value for a in allowed_actions(ReceiptStatus(status))} == expected


def test_refusal_lists_what_would_be_allowed():
    with pytest.raises(InvalidTransition) as info:
        transition(ReceiptStatus.SIGNED, ReceiptAction.MAIL, payment=Payment.PREPAID)
    assert info.value.details["allowed_actions"] == ["cancel", "inspect_abnormal", "inspect_qualified"]
    assert info.value.message == "cannot mail a receipt that is signed"


def test_the_handbook_lifecycle_with_a_re_sign_round():
    steps = ["deliver", "inspect_abnormal", "re_sign", "inspect_qualified", "mail", "receive", "hand_over"]
    status = ReceiptStatus.AWAITING_DELIVERY
    seen = [status.value]
    for action in steps:
        status = transition(status, ReceiptAction(action), payment=Payment.MONTHLY)
        seen.append(status.value)
    assert seen == [
        "awaiting_delivery", "signed", "abnormal", "signed", "qualified", "mailed", "received", "handed_over",
    ]


def test_lost_receipt_that_turns_up_is_received_then_written_off():
    status = ReceiptStatus.MAILED
    for action, expected in [("flag_lost", "lost"), ("receive", "received"), ("write_off", "written_off")]:
        status = transition(status, ReceiptAction(action), payment=Payment.PREPAID)
        assert status.value == expected


def test_inspection_result_maps_to_actions():
    assert inspection_action(InspectionResult.QUALIFIED) is ReceiptAction.INSPECT_QUALIFIED
    assert inspection_action(InspectionResult.ABNORMAL) is ReceiptAction.INSPECT_ABNORMAL
