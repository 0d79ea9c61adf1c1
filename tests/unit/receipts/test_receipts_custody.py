"""Custody chain (出入清晰、可查): every hand-off says who, when, from whom, to whom; append-only."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from services.receipts.domain.custody import (
    CustodyEntry,
    HandoverTo,
    PartyKind,
    append_custody,
    apply_action,
    custody_parties,
    holder,
    party,
)
from services.receipts.domain.lifecycle import InvalidTransition, Payment, ReceiptAction, ReceiptStatus
from shared.errors import DomainError

CST = timezone(timedelta(hours=8))
AT = datetime(2026, 11, 5, 10, tzinfo=CST)
ROUTE = {"origin": "SH01", "destination": "WX02"}


@pytest.mark.parametrize(
    ("action", "status_before", "extra", "expected"),
    [
        ("deliver", "awaiting_delivery", {}, ("station:WX02", "station:WX02")),
        ("inspect_qualified", "signed", {}, ("station:WX02", "station:WX02")),
        ("inspect_abnormal", "signed", {}, ("station:WX02", "station:WX02")),
        ("re_sign", "abnormal", {}, ("station:WX02", "station:WX02")),
        ("mail", "qualified", {"courier_no": "SF123"}, ("station:WX02", "courier:SF123")),
        ("receive", "mailed", {"courier_no": "SF123"}, ("courier:SF123", "station:SH01")),
        ("receive", "lost", {}, ("unknown", "station:SH01")),
        ("flag_lost", "mailed", {"courier_no": "SF123"}, ("courier:SF123", "unknown")),
        (
            "hand_over", "received", {"handover_to": HandoverTo.CUSTOMER, "recipient": "无锡精工"},
            ("station:SH01", "customer:无锡精工"),
        ),
        (
            "hand_over", "received", {"handover_to": HandoverTo.SALES, "recipient": "王销售"},
            ("station:SH01", "sales:王销售"),
        ),
        ("write_off", "received", {"recipient": "李四"}, ("station:SH01", "customer:李四")),
        ("cancel", "signed", {}, ("station:WX02", "station:WX02")),
        ("cancel", "received", {}, ("station:SH01", "station:SH01")),
        ("cancel", "lost", {}, ("unknown", "unknown")),
    ],
)
def test_parties_per_action(action: str, status_before: str, extra: dict, expected: tuple[str, str]):
    got = custody_parties(ReceiptAction(action), status_before=ReceiptStatus(status_before), **ROUTE, **extra)
    assert got == expected


@pytest.mark.parametrize(
    ("action", "extra"),
    [
        ("mail", {}),
        ("hand_over", {"recipient": "x"}),
        ("hand_over", {"handover_to": HandoverTo.SALES}),
        ("write_off", {}),
        ("write_off", {"recipient": "   "}),
    ],
)
def test_missing_parties_are_refused(action: str, extra: dict):
    with pytest.raises(DomainError) as info:
        custody_parties(ReceiptAction(action), status_before=ReceiptStatus.RECEIVED, **ROUTE, **extra)
    assert info.value.code == "missing_party"


def test_holder_follows_the_paper():
    expected = {
        "awaiting_delivery": "station:WX02", "signed": "station:WX02", "abnormal": "station:WX02",
        "qualified": "station:WX02", "mailed": "courier:SF9", "received": "station:SH01",
        "lost": "unknown", "handed_over": "unknown", "written_off": "unknown", "cancelled": "unknown",
    }
    for status, who in expected.items():
        assert holder(ReceiptStatus(status), courier_no="SF9", **ROUTE) == who
    assert holder(ReceiptStatus.MAILED, **ROUTE) == "unknown"


def test_party_labels():
    assert party(PartyKind.STATION, " SH01 ") == "station:SH01"
    assert party(PartyKind.UNKNOWN, "") == "unknown"
    with pytest.raises(DomainError):
        party(PartyKind.COURIER, "")


def test_entries_are_immutable_and_the_chain_only_grows():
    first = CustodyEntry(AT, ReceiptAction.DELIVER, "clerk-1", "station:WX02", "station:WX02")
    chain: tuple[CustodyEntry, ...] = ()
    chain1 = append_custody(chain, first)
    second = dataclasses.replace(first, at=AT + timedelta(hours=1), action=ReceiptAction.INSPECT_QUALIFIED)
    chain2 = append_custody(chain1, second)
    assert chain == () and chain1 == (first,) and chain2 == (first, second)
    assert isinstance(chain2, tuple)  # no list to mutate in place
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.note = "rewritten"  # type: ignore[misc]
    lst = [first]
    assert append_custody(lst, second) == (first, second) and lst == [first]


def test_a_late_report_keeps_recording_order():
    later = CustodyEntry(AT, ReceiptAction.MAIL, "a", "station:WX02", "courier:SF1")
    earlier = CustodyEntry(AT - timedelta(days=1), ReceiptAction.RECEIVE, "b", "courier:SF1", "station:SH01")
    assert append_custody((later,), earlier) == (later, earlier)


def test_entry_needs_an_actor_and_an_aware_time():
    with pytest.raises(DomainError) as info:
        CustodyEntry(AT, ReceiptAction.DELIVER, " ", "a", "b")
    assert info.value.code == "missing_actor"
    with pytest.raises(DomainError) as info:
        CustodyEntry(datetime(2026, 11, 5), ReceiptAction.DELIVER, "x", "a", "b")
    assert info.value.code == "naive_datetime"


def test_apply_action_builds_the_full_chain_of_a_lifecycle():
    status = ReceiptStatus.AWAITING_DELIVERY
    chain: tuple[CustodyEntry, ...] = ()
    plan = [
        ("deliver", "tracking", {}),
        ("inspect_abnormal", "clerk-wx", {"note": "stamp_missing"}),
        ("re_sign", "clerk-wx", {}),
        ("inspect_qualified", "clerk-wx", {}),
        ("mail", "clerk-wx", {"courier_no": "SF777"}),
        ("flag_lost", "clerk-sh", {"courier_no": "SF777"}),
        ("receive", "clerk-sh", {"courier_no": "SF777", "note": "found in the next envelope"}),
        ("hand_over", "clerk-sh", {"handover_to": HandoverTo.SALES, "recipient": "王销售"}),
    ]
    for i, (action, actor, extra) in enumerate(plan):
        step = apply_action(
            status, ReceiptAction(action), payment=Payment.PREPAID, at=AT + timedelta(hours=i), actor=actor,
            **ROUTE, **extra,
        )
        status = step.status
        chain = append_custody(chain, step.custody)
    assert status is ReceiptStatus.HANDED_OVER
    assert [(e.action.value, e.from_party, e.to_party) for e in chain] == [
        ("deliver", "station:WX02", "station:WX02"),
        ("inspect_abnormal", "station:WX02", "station:WX02"),
        ("re_sign", "station:WX02", "station:WX02"),
        ("inspect_qualified", "station:WX02", "station:WX02"),
        ("mail", "station:WX02", "courier:SF777"),
        ("flag_lost", "courier:SF777", "unknown"),
        ("receive", "courier:SF777", "station:SH01"),
        ("hand_over", "station:SH01", "sales:王销售"),
    ]
    assert chain[1].note == "stamp_missing"
    assert chain[-1].actor == "clerk-sh"


def test_apply_action_refuses_before_building_custody():
    with pytest.raises(InvalidTransition):
        apply_action(
            ReceiptStatus.SIGNED, ReceiptAction.HAND_OVER, payment=Payment.COD, at=AT, actor="x",
            handover_to=HandoverTo.CUSTOMER, recipient="y", **ROUTE,
        )


def test_cod_cancel_from_received_keeps_the_paper_at_the_origin():
    step = apply_action(
        ReceiptStatus.RECEIVED, ReceiptAction.CANCEL, payment=Payment.COD, at=AT, actor="clerk-sh",
        note="customer told by phone", **ROUTE,
    )
    assert step.status is ReceiptStatus.CANCELLED
    assert (step.custody.from_party, step.custody.to_party) == ("station:SH01", "station:SH01")
