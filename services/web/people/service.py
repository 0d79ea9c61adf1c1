"""Use cases of people: add and disable accounts, sign in and out, resolve a session.

One signature style: `async def use_case(rt, *, ...)`; each write is one transaction.
"""

from __future__ import annotations

import asyncio
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.web.context import WebRuntime
from services.web.domain import cookies
from services.web.domain.lockout import LockoutRule, LockState, after_failure, after_success, is_locked
from services.web.people import repository
from services.web.people.models import ROLES, Person
from shared.clock import utcnow
from shared.context import uow
from shared.errors import Conflict, Invalid, NotFound, Unauthorized

PASSWORD_ALPHABET = string.ascii_letters + string.digits
SEEN_WRITE_EVERY = timedelta(minutes=1)  # a session's seen_at is written at most this often

# The one answer to a failed sign-in, whatever failed: unknown name, wrong password, locked
# or disabled account. Telling them apart would tell an attacker which names exist.
SIGN_IN_FAILED = "sign_in_failed"


def new_password() -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(20))


def hash_password(hasher: PasswordHasher, password: str) -> str:
    return hasher.hash(password)


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class NewAccount:
    username: str
    role: str
    display_name: str | None = None
    branch: str | None = None
    customer: str | None = None


def check_account(a: NewAccount) -> None:
    if a.role not in ROLES:
        raise Invalid("invalid_role", f"role must be one of {', '.join(ROLES)}")
    if a.role == "branch" and not a.branch:
        raise Invalid("branch_required", "a branch account needs --branch (a station code)")
    if a.role == "customer" and not a.customer:
        raise Invalid("customer_required", "a customer account needs --customer (a customer id)")
    if a.branch and a.role != "branch":
        raise Invalid("branch_not_allowed", "only a branch account has a branch")


async def add_account(rt: WebRuntime, *, account: NewAccount, password: str) -> int:
    check_account(account)
    if len(password) < 10:
        raise Invalid("password_too_short", "a password needs at least 10 characters")
    pw_hash = await asyncio.to_thread(hash_password, rt.context.hasher, password)
    async with uow(rt) as conn:
        if await repository.account_by_username(conn, account.username) is not None:
            raise Conflict("duplicate_user", f"user {account.username} exists")
        return await repository.insert_account(conn, username=account.username,
                                         display_name=account.display_name or account.username,
                                         role=account.role, branch=account.branch, customer=account.customer,
                                         password_hash=pw_hash)


async def reset_password(rt: WebRuntime, *, username: str, password: str) -> None:
    pw_hash = await asyncio.to_thread(hash_password, rt.context.hasher, password)
    async with uow(rt) as conn:
        if not await repository.set_password(conn, username, pw_hash):
            raise NotFound.of("user", username)


async def disable_account(rt: WebRuntime, *, username: str) -> None:
    async with uow(rt) as conn:
        if not await repository.set_disabled(conn, username, True):
            raise NotFound.of("user", username)


@dataclass(frozen=True)
class SignedIn:
    session_id: str
    person: Person


async def sign_in(rt: WebRuntime, *, username: str, password: str, previous_session: str | None,
                  now: datetime | None = None) -> SignedIn:
    """A new session for the person, or `Unauthorized(sign_in_failed)`. The password is checked
    (argon2id, in a worker thread) even for an unknown name, against a dummy hash."""
    now = now or utcnow()
    s = rt.settings
    rule = LockoutRule(failures=s.lockout_failures, minutes=s.lockout_minutes)
    ctx = rt.context
    first = await repository.account_by_username(rt.pool, username) if username else None
    candidate = first.password_hash if first is not None else ctx.dummy_hash
    ok = await asyncio.to_thread(_verify, ctx.hasher, candidate, password)
    async with uow(rt) as conn:
        account = await repository.account_by_username(conn, username, lock=True) if first is not None else None
        if account is None or account.disabled or account.password_hash != candidate:
            raise Unauthorized(SIGN_IN_FAILED, "wrong username or password")
        state = LockState(account.failed_count, account.locked_until)
        if is_locked(state, now):
            raise Unauthorized(SIGN_IN_FAILED, "wrong username or password")
        if not ok:
            after = after_failure(state, now, rule)
            await repository.set_lock_state(conn, account.id, after.failed_count, after.locked_until)
            # committed below by raising *after* the block: the failure must count
        else:
            after = after_success()
            await repository.set_lock_state(conn, account.id, after.failed_count, after.locked_until)
            if previous_session:
                await repository.delete_session(conn, cookies.digest(previous_session))
            session_id = secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(32)
            await repository.insert_session(conn, id_hash=cookies.digest(session_id), user_id=account.id,
                                      csrf_token=csrf, expires_at=now + timedelta(minutes=s.session_idle_minutes))
    if not ok:
        raise Unauthorized(SIGN_IN_FAILED, "wrong username or password")
    person = Person(user_id=account.id, username=account.username, display_name=account.display_name,
                    role=account.role, branch=account.branch, customer=account.customer, csrf_token=csrf,
                    session_hash=cookies.digest(session_id))
    return SignedIn(session_id=session_id, person=person)


async def sign_out(rt: WebRuntime, *, session_id: str) -> None:
    await repository.delete_session(rt.pool, cookies.digest(session_id))


async def person_of(rt: WebRuntime, *, session_id: str, now: datetime | None = None) -> Person | None:
    """The session's person, if the session is live and the account still enabled; the idle
    expiry slides forward (written at most once a minute)."""
    now = now or utcnow()
    id_hash = cookies.digest(session_id)
    row = await repository.session_person(rt.pool, id_hash, now)
    if row is None:
        return None
    if now - row["seen_at"] >= SEEN_WRITE_EVERY:
        await repository.touch_session(rt.pool, id_hash, now, now + timedelta(minutes=rt.settings.session_idle_minutes))
    return Person(user_id=row["user_id"], username=row["username"], display_name=row["display_name"],
                  role=row["role"], branch=row["branch"], customer=row["customer"], csrf_token=row["csrf_token"],
                  session_hash=id_hash)
