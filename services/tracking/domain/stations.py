"""Who sees a station's contact phone and e-mail whole."""

from __future__ import annotations

from shared.auth import DESK, Principal


def sees_station_contacts(principal: Principal, code: str) -> bool:
    """The desk, and the station's own branch; others see them masked."""
    return principal.role in DESK or (principal.role == "branch" and principal.branch == code)
