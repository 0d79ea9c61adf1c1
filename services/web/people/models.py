"""People as the web service knows them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from services.web.backends.client import Caller

PersonRole = Literal["admin", "supervisor", "staff", "branch", "customer"]
ROLES: tuple[PersonRole, ...] = ("admin", "supervisor", "staff", "branch", "customer")
DESK_ROLES = frozenset({"admin", "supervisor", "staff", "branch"})


@dataclass(frozen=True)
class Account:
    """A row of web.users."""

    id: int
    username: str
    display_name: str
    role: PersonRole
    branch: str | None
    customer: str | None
    password_hash: str
    disabled: bool
    failed_count: int
    locked_until: datetime | None


@dataclass(frozen=True)
class Person:
    """The signed-in person of one request, with the session's CSRF token."""

    user_id: int
    username: str
    display_name: str
    role: PersonRole
    branch: str | None
    customer: str | None
    csrf_token: str
    session_hash: bytes

    @property
    def caller(self) -> Caller:
        return Caller(sub=self.username, role=self.role, branch=self.branch, customer=self.customer)

    @property
    def on_desk(self) -> bool:
        return self.role in DESK_ROLES
