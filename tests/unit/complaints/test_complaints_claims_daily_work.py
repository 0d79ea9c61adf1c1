"""Who works a ticket (claims) and the day's work per desk member, as pure rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.complaints.domain.claims import decide_claim
from services.complaints.domain.daily_work import CallFact, StepFact, daily_work, day_window, person_of, totals
from services.complaints.domain.tickets import TicketStatus
from shared.errors import DomainError

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def test_an_unclaimed_ticket_becomes_the_claimants() -> None:
    d = decide_claim(status=TicketStatus.OPEN, holder=None, claimant="alice", role="staff")
    assert (d.assignee, d.previous, d.changed) == ("alice", None, True)


def test_claiming_ones_own_ticket_again_changes_nothing() -> None:
    d = decide_claim(status=TicketStatus.RESPONDED, holder="alice", claimant="alice", role="staff")
    assert d.assignee == "alice" and not d.changed


def test_a_ticket_someone_else_holds_is_refused_to_staff_and_taken_over_by_a_supervisor() -> None:
    with pytest.raises(DomainError) as refused:
        decide_claim(status=TicketStatus.OPEN, holder="bob", claimant="alice", role="staff")
    assert (refused.value.status, refused.value.code, refused.value.details) == (409, "already_claimed",
                                                                                {"assigned_to": "bob"})
    for role in ("supervisor", "admin"):
        d = decide_claim(status=TicketStatus.ESCALATED, holder="bob", claimant="sue", role=role)
        assert (d.assignee, d.previous, d.changed) == ("sue", "bob", True)


def test_only_a_supervisor_or_admin_hands_a_ticket_to_someone() -> None:
    d = decide_claim(status=TicketStatus.OPEN, holder="bob", claimant="sue", role="supervisor", to="carol")
    assert (d.assignee, d.previous) == ("carol", "bob")
    with pytest.raises(DomainError) as refused:
        decide_claim(status=TicketStatus.OPEN, holder=None, claimant="alice", role="staff", to="carol")
    assert (refused.value.status, refused.value.code) == (403, "reassign_not_allowed")
    assert not decide_claim(status=TicketStatus.OPEN, holder="alice", claimant="alice", role="staff",
                            to="alice").changed


def test_a_closed_ticket_cannot_be_claimed() -> None:
    with pytest.raises(DomainError) as refused:
        decide_claim(status=TicketStatus.CLOSED, holder=None, claimant="alice", role="admin")
    assert (refused.value.status, refused.value.code) == (409, "invalid_transition")
    decide_claim(status=TicketStatus.RESOLVED, holder=None, claimant="alice", role="staff")  # a survey to follow


def test_the_day_is_a_local_calendar_day() -> None:
    start, end = day_window(date(2026, 12, 1))
    assert start.astimezone(UTC) == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert end - start == timedelta(days=1)


def test_a_person_is_the_subject_of_the_audit_name_and_the_service_is_nobody() -> None:
    assert person_of("staff:alice") == "alice" and person_of("supervisor:alice") == "alice"
    assert person_of("system:sla-monitor") is None and person_of("system:proactive-care") is None


def _step(actor: str, action: str, complaint: str, at: datetime, **kw: object) -> StepFact:
    return StepFact(actor=actor, action=action, complaint_id=complaint, at=at, **kw)  # type: ignore[arg-type]


def test_the_days_work_counts_each_person_once_per_ticket_and_judges_the_first_answer() -> None:
    due = T0 + timedelta(minutes=5)
    calls = [CallFact("staff:alice", "tracking", False), CallFact("staff:alice", "receipt", False),
             CallFact("staff:alice", "delay", True), CallFact("staff:bob", "receipt", False),
             CallFact("system:x", "other", False)]
    steps = [
        _step("staff:alice", "open", "c1", T0),
        _step("staff:alice", "claim", "c1", T0, details={"assigned_to": "alice"}),
        # c1: alice's first answer in time, then a second answer (the ticket counts once)
        _step("staff:alice", "respond", "c1", T0 + timedelta(minutes=3), first_responded_at=T0 + timedelta(minutes=3),
              first_response_due=due),
        _step("staff:alice", "respond", "c1", T0 + timedelta(minutes=30), first_responded_at=T0 + timedelta(minutes=3),
              first_response_due=due),
        # c2: bob answered first but late; alice asked the customer afterwards
        _step("staff:bob", "respond", "c2", T0 + timedelta(minutes=9), first_responded_at=T0 + timedelta(minutes=9),
              first_response_due=due),
        _step("staff:alice", "ask_customer", "c2", T0 + timedelta(minutes=20),
              first_responded_at=T0 + timedelta(minutes=9), first_response_due=due),
        # a supervisor hands c3 to bob: bob's claim
        _step("supervisor:sue", "claim", "c3", T0, details={"assigned_to": "bob", "previous": "alice"}),
        _step("staff:bob", "resolve", "c3", T0 + timedelta(hours=1)),
        _step("staff:bob", "resolve", "c4", T0 + timedelta(hours=2), resolution_breached=True),
        _step("system:proactive-care", "open", "c5", T0),
    ]
    rows = {r.person: r.to_dict() for r in daily_work(calls, steps)}
    assert sorted(rows) == ["alice", "bob"]
    alice, bob = rows["alice"], rows["bob"]
    assert (alice["calls_logged"], alice["receipts_chased"], alice["callbacks_returned"]) == (3, 1, 1)
    assert (alice["complaints_opened"], alice["complaints_claimed"]) == (1, 1)
    assert (alice["complaints_answered"], alice["first_answers"], alice["first_answers_within_sla"]) == (2, 1, 1)
    assert (bob["calls_logged"], bob["receipts_chased"], bob["complaints_claimed"]) == (1, 1, 1)
    assert (bob["complaints_answered"], bob["first_answers"], bob["first_answers_within_sla"]) == (1, 1, 0)
    assert (bob["complaints_resolved"], bob["resolved_within_sla"]) == (2, 1)
    assert totals(daily_work(calls, steps))["calls_logged"] == 4
