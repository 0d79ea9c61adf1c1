"""A complaint ticket's life: its default priority, the state machine, and the clock facts
each step changes.

* ``default_priority``: the priority a new ticket gets unless staff choose another;
* ``TRANSITIONS``: one read-only table ``status → {action → status}`` is the single truth;
  a step not in it raises ``InvalidTransition`` (409 ``invalid_transition``);
* ``TicketState`` / ``apply_action``: the SLA-relevant facts of a ticket, a new instance
  per step (pauses opened and closed, first response, resolution, survey score).

Every function takes the time of the step as an argument, so the rules can be tested
with a controllable clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.complaints.domain.care import validate_csat
from services.complaints.domain.hours import utc
from services.complaints.domain.sla import Pause, SlaPolicy
from services.complaints.domain.vocabulary import Category, Priority
from shared.errors import Conflict, Invalid


def default_priority(category: Category, *, key_customer: bool = False) -> Priority:
    """The priority a new ticket gets unless staff choose another.

    Goods damaged or lost are a money loss for the customer, and key customers
    carry the business, so either raises the ticket to ``high``; both together make
    it ``urgent``. A price enquiry is not a grievance, hence ``low`` (its 8-hour
    answer target comes from the SLA policy, not from the priority).
    """
    grave = category in (Category.DAMAGE, Category.LOSS)
    if grave and key_customer:
        return Priority.URGENT
    if grave or key_customer:
        return Priority.HIGH
    if category is Category.QUOTE:
        return Priority.LOW
    return Priority.NORMAL


# ---------------------------------------------------------------------------
# The state machine
# ---------------------------------------------------------------------------


class TicketStatus(StrEnum):
    OPEN = "open"  # filed, no staff response yet: the first-response clock runs
    RESPONDED = "responded"  # staff answered; the resolution clock runs
    WAITING_CUSTOMER = "waiting_customer"  # staff asked the customer something: clock paused
    ESCALATED = "escalated"  # handed to the supervisor (by staff or by an SLA breach)
    RESOLVED = "resolved"  # resolution recorded; may be reopened or surveyed
    CLOSED = "closed"  # terminal: surveyed, or closed after the survey window


# The statuses in which a ticket's SLA clock runs (the SLA monitor looks only at these).
ACTIVE_STATUSES: tuple[TicketStatus, ...] = (
    TicketStatus.OPEN, TicketStatus.RESPONDED, TicketStatus.WAITING_CUSTOMER, TicketStatus.ESCALATED)


class Action(StrEnum):
    RESPOND = "respond"  # staff response that needs nothing from the customer
    ASK_CUSTOMER = "ask_customer"  # staff response that asks the customer something
    CUSTOMER_REPLY = "customer_reply"  # the customer answered: the clock resumes
    ESCALATE = "escalate"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    SURVEY = "survey"  # CSAT 1..5 recorded; closes the ticket
    CLOSE = "close"  # resolved ticket closed without a survey (e.g. survey window over)


_S = TicketStatus
_A = Action

TRANSITIONS: Mapping[TicketStatus, Mapping[Action, TicketStatus]] = {
    _S.OPEN: {
        _A.RESPOND: _S.RESPONDED,
        _A.ASK_CUSTOMER: _S.WAITING_CUSTOMER,
        _A.CUSTOMER_REPLY: _S.OPEN,  # the customer adds details; still awaiting our answer
        _A.ESCALATE: _S.ESCALATED,
        _A.RESOLVE: _S.RESOLVED,
    },
    _S.RESPONDED: {
        _A.RESPOND: _S.RESPONDED,
        _A.ASK_CUSTOMER: _S.WAITING_CUSTOMER,
        _A.CUSTOMER_REPLY: _S.RESPONDED,
        _A.ESCALATE: _S.ESCALATED,
        _A.RESOLVE: _S.RESOLVED,
    },
    _S.WAITING_CUSTOMER: {
        # A staff follow-up without waiting any longer takes the ball back: clock resumes.
        _A.RESPOND: _S.RESPONDED,
        _A.ASK_CUSTOMER: _S.WAITING_CUSTOMER,
        _A.CUSTOMER_REPLY: _S.RESPONDED,
        _A.ESCALATE: _S.ESCALATED,
        _A.RESOLVE: _S.RESOLVED,
    },
    _S.ESCALATED: {
        # The supervisor owns it now; answering keeps it with the supervisor.
        _A.RESPOND: _S.ESCALATED,
        _A.ASK_CUSTOMER: _S.WAITING_CUSTOMER,
        _A.CUSTOMER_REPLY: _S.ESCALATED,
        _A.RESOLVE: _S.RESOLVED,
    },
    _S.RESOLVED: {
        _A.REOPEN: _S.OPEN,
        _A.SURVEY: _S.CLOSED,
        _A.CLOSE: _S.CLOSED,
    },
    _S.CLOSED: {},
}
"""The single truth of which step is allowed from which status, and where it leads."""


class InvalidTransition(Conflict):
    """The state machine does not allow ``action`` from the ticket's current status (409)."""

    def __init__(self, status: TicketStatus, action: Action) -> None:
        allowed = sorted(allowed_actions(status))
        super().__init__(
            "invalid_transition",
            f"cannot {action.value} a complaint that is {status.value}",
            {"status": status.value, "action": action.value, "allowed": [a.value for a in allowed]},
        )
        self.from_status = status
        self.action = action


def allowed_actions(status: TicketStatus) -> frozenset[Action]:
    return frozenset(TRANSITIONS[status])


def can_transition(status: TicketStatus, action: Action) -> bool:
    return action in TRANSITIONS[status]


def transition(status: TicketStatus, action: Action) -> TicketStatus:
    """The status after ``action``; raises ``InvalidTransition`` if the table refuses it."""
    try:
        return TRANSITIONS[status][action]
    except KeyError:
        raise InvalidTransition(status, action) from None


def response_action(*, asks_customer: bool) -> Action:
    """Map a staff response to its action: a question to the customer pauses the clock."""
    return Action.ASK_CUSTOMER if asks_customer else Action.RESPOND


# ---------------------------------------------------------------------------
# Ticket state: the facts the SLA rules need, updated by actions
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TicketState:
    """The SLA-relevant facts of one ticket; a new instance per action (history is the caller's).

    The targets are copied from the policy when the ticket opens, so an admin
    changing policies later does not move deadlines of tickets already running.
    """

    status: TicketStatus
    opened_at: datetime
    first_response_minutes: int
    resolution_minutes: int
    first_responded_at: datetime | None = None
    resolved_at: datetime | None = None
    escalated_at: datetime | None = None
    pauses: tuple[Pause, ...] = ()
    resolution: str | None = None
    csat_score: int | None = None

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1].end is None


def open_ticket(*, opened_at: datetime, policy: SlaPolicy) -> TicketState:
    """A new ticket: status ``open``, clocks start at ``opened_at``."""
    return TicketState(
        status=TicketStatus.OPEN,
        opened_at=utc(opened_at, "opened_at"),
        first_response_minutes=policy.first_response_minutes,
        resolution_minutes=policy.resolution_minutes,
    )


def _close_pause(pauses: tuple[Pause, ...], at: datetime) -> tuple[Pause, ...]:
    if pauses and pauses[-1].end is None:
        return (*pauses[:-1], Pause(pauses[-1].start, at))
    return pauses


def apply_action(
    state: TicketState,
    action: Action,
    at: datetime,
    *,
    resolution: str | None = None,
    score: int | None = None,
) -> TicketState:
    """Apply one step: check the table, then update the clocks.

    Clock rules: any staff response (``respond`` / ``ask_customer``) counts as the
    first response; ``ask_customer`` pauses the clock and ``customer_reply``,
    ``respond``, ``escalate`` or ``resolve`` end the pause; the time between
    ``resolve`` and ``reopen`` counts as a pause, so a reopened ticket is not charged
    for the days it sat resolved.
    """
    when = utc(at, "at")
    if when < state.opened_at:
        raise ValueError("an action cannot happen before the ticket was opened")
    new_status = transition(state.status, action)
    changes: dict[str, Any] = {"status": new_status}

    if action in (Action.RESPOND, Action.ASK_CUSTOMER) and state.first_responded_at is None:
        changes["first_responded_at"] = when

    if new_status is TicketStatus.WAITING_CUSTOMER:
        if not state.paused:
            changes["pauses"] = (*state.pauses, Pause(when, None))
    else:
        changes["pauses"] = _close_pause(state.pauses, when)

    if action is Action.ESCALATE:
        changes["escalated_at"] = when
    elif action is Action.RESOLVE:
        text = (resolution or "").strip()
        if not text:
            raise Invalid("resolution_required", "a resolution text is required to resolve a complaint")
        changes["resolved_at"] = when
        changes["resolution"] = text
    elif action is Action.REOPEN:
        assert state.resolved_at is not None  # only RESOLVED can be reopened
        changes["pauses"] = (*changes["pauses"], Pause(state.resolved_at, when))
        changes["resolved_at"] = None
    elif action is Action.SURVEY:
        changes["csat_score"] = validate_csat(score)
    return replace(state, **changes)
