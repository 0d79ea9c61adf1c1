"""Who works a ticket: a desk member claims it, a supervisor may hand it on.

* a desk member claims an unclaimed ticket: it becomes theirs (``assigned_to`` is their
  name — the token's subject — and ``claimed_at`` the time);
* claiming one's own ticket again changes nothing and is no error (a double click, a
  retried request);
* a ticket someone else holds is refused with 409 ``already_claimed`` naming the holder,
  unless the claimant is a supervisor or an admin: they may take it over, or hand it to a
  named desk member (``to``); staff claim only for themselves (403 ``reassign_not_allowed``);
* a closed ticket is not worked any more: 409 ``invalid_transition``.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.complaints.domain.tickets import TicketStatus
from shared.errors import Conflict, Forbidden

# The roles that may take over a ticket someone else holds, or hand one to someone.
REASSIGNING_ROLES = frozenset({"supervisor", "admin"})


@dataclass(frozen=True, slots=True)
class ClaimDecision:
    assignee: str
    previous: str | None

    @property
    def changed(self) -> bool:
        return self.assignee != self.previous


def decide_claim(*, status: TicketStatus, holder: str | None, claimant: str, role: str,
                 to: str | None = None) -> ClaimDecision:
    """Who holds the ticket after `claimant` (with `role`) claims it, for themselves or `to`."""
    if status is TicketStatus.CLOSED:
        raise Conflict("invalid_transition", "cannot claim a complaint that is closed",
                       {"status": status.value, "action": "claim", "allowed": []})
    assignee = to or claimant
    reassigns = role in REASSIGNING_ROLES
    if assignee != claimant and not reassigns:
        raise Forbidden("reassign_not_allowed", "only a supervisor or an admin hands a complaint to someone else",
                        {"role": role})
    if holder is not None and holder != assignee and not reassigns:
        raise Conflict("already_claimed", f"this complaint is being handled by {holder}", {"assigned_to": holder})
    return ClaimDecision(assignee=assignee, previous=holder)
