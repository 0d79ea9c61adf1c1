"""Sign-in lockout: `failures` wrong passwords in a row lock an account for a while.

- a success resets the count;
- the failure that reaches the threshold locks the account until now + the lock time and
  starts the count again (so the next lock needs as many failures again);
- while locked, no password is even compared for the outcome: the attempt is refused
  (the caller still does the same hashing work, so timing does not tell).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LockoutRule:
    failures: int = 5
    minutes: int = 15


@dataclass(frozen=True)
class LockState:
    failed_count: int
    locked_until: datetime | None


def is_locked(state: LockState, now: datetime) -> bool:
    return state.locked_until is not None and now < state.locked_until


def after_failure(state: LockState, now: datetime, rule: LockoutRule) -> LockState:
    """The state after one more wrong password."""
    count = state.failed_count + 1
    if count >= rule.failures:
        return LockState(failed_count=0, locked_until=now + timedelta(minutes=rule.minutes))
    return LockState(failed_count=count, locked_until=state.locked_until)


def after_success() -> LockState:
    return LockState(failed_count=0, locked_until=None)
