"""Who may see and act on a receipt or an envelope.

Desk roles (admin, supervisor, staff) see and act everywhere. A branch sees what comes
from or goes to its station, and acts only as the station whose job the step is: the
destination signs, inspects and mails; the origin receives, hands over and writes off.
A receipt the caller may not see is answered 404 (its existence does not leak); one it
sees but whose step belongs to the other station, 403.
"""

from __future__ import annotations

from shared.auth import DESK, Principal
from shared.errors import Forbidden


def visible(principal: Principal, *stations: str) -> bool:
    """Whether the caller may know of a receipt or envelope touching ``stations``."""
    return principal.sees_station(*stations)


def authorise(principal: Principal, *, side: str | None, station: str | None, what: str) -> None:
    """Let the desk, or the branch of ``station`` (the ``side`` whose job ``what`` is), act; 403 otherwise.
    ``side=None``: a desk-only step."""
    if principal.role in DESK:
        return
    if side is not None and principal.role == "branch" and principal.branch == station:
        return
    who = f"the {side} station ({station}) or the desk" if side else "the desk"
    raise Forbidden("forbidden", f"only {who} may {what}")


def branch_scope(principal: Principal) -> str | None:
    """The station a listing is limited to: none for the desk, the caller's own for a branch."""
    return None if principal.role in DESK else principal.branch
