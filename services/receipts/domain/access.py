"""Who may see and act on a receipt or an envelope.

Desk roles (admin, supervisor, staff) see and act everywhere. A branch sees what comes
from or goes to its station, and acts only as the station whose job the step is: the
destination signs, inspects and mails; the origin receives, hands over and writes off.
A key-account customer (role `customer`) sees the receipts of its own shipments (the
shipper's customer id) and acts on none. A receipt the caller may not see is answered 404 (its
existence does not leak); one it sees but whose step belongs to the other station, 403.
"""

from __future__ import annotations

from typing import Any

from shared.auth import DESK, Principal
from shared.errors import Forbidden


def visible(principal: Principal, *stations: str, customer: str | None = None) -> bool:
    """Whether the caller may know of a receipt or envelope touching ``stations`` whose shipper
    is ``customer`` (a customer token: its own receipts only; an envelope is no customer's)."""
    return principal.sees(*stations, customer=customer)


def authorise(principal: Principal, *, side: str | None, station: str | None, what: str) -> None:
    """Let the desk, or the branch of ``station`` (the ``side`` whose job ``what`` is), act; 403 otherwise.
    ``side=None``: a desk-only step."""
    if principal.role in DESK:
        return
    if side is not None and principal.role == "branch" and principal.branch == station:
        return
    who = f"the {side} station ({station}) or the desk" if side else "the desk"
    raise Forbidden("forbidden", f"only {who} may {what}")


def custody_for_customer(entry: dict[str, Any]) -> dict[str, Any]:
    """A custody hand-off as the customer is told it: when, what, between which parties, and the
    role that recorded it; not the person, nor the desk's note."""
    return {**entry, "actor": str(entry.get("actor") or "").split(":", 1)[0], "note": ""}


def branch_scope(principal: Principal) -> str | None:
    """The station a listing is limited to: none for the desk, the caller's own for a branch."""
    return None if principal.role in DESK else principal.branch
