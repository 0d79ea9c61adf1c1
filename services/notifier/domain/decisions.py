"""The send decision: queue now, defer to the end of the quiet hours, or hold for a summary
(the throttle); and when a summary goes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.notifier.domain.preferences import QuietHours, quiet_until
from services.notifier.domain.throttling import OpenSummary, throttle
from services.notifier.domain.vocabulary import (
    REASON_QUIET_HOURS,
    REASON_ROLLED_UP,
    REASON_THROTTLED,
    RINGING_CHANNELS,
    Channel,
    Status,
)
from shared.clock import require_aware


@dataclass(frozen=True)
class Decision:
    """What to do with a delivery now: ``queued`` (send at ``not_before`` = now) or ``deferred``
    (send at ``not_before``; ``reason``). A message held by the throttle is ``deferred``,
    ``rolled_up``: it goes inside the summary ``into`` (None: a new one), at ``not_before``."""

    status: Status
    not_before: datetime
    reason: str | None = None
    into: uuid.UUID | None = None

    @property
    def rolled_up(self) -> bool:
        return self.reason == REASON_ROLLED_UP


def decide(
    *,
    channel: Channel,
    urgent: bool,
    now: datetime,
    quiet_hours: QuietHours,
    slots: Iterable[datetime],
    throttle_limit: int,
    open_summary: OpenSummary | None = None,
) -> Decision:
    """Throttle first, then quiet hours.

    * over the hourly limit (or while the recipient has an open summary) → held, ``deferred``
      ``rolled_up``, urgent or not: the limit exists to stop floods (e.g. a shipment flapping
      between delayed and recovered), and the summary carries every held message at the latest
      one window later (`domain/throttling.py`);
    * non-urgent SMS (and group robot message) in quiet hours → ``deferred`` to the end of the window;
    * urgent SMS (a delay) go out at night: the customer needs the revised time in order to
      plan, and the issue defers only non-urgent SMS;
    * e-mail is never deferred — it does not ring.
    """
    require_aware(now)
    verdict = throttle(slots, now=now, limit=throttle_limit, open_summary=open_summary)
    if not verdict.send:
        assert verdict.due is not None
        return Decision(status=Status.DEFERRED, not_before=verdict.due, reason=REASON_ROLLED_UP, into=verdict.into)
    return schedule(channel=channel, urgent=urgent, at=now, quiet_hours=quiet_hours)


def schedule_summary(*, channel: Channel, urgent: bool, due: datetime, quiet_hours: QuietHours) -> Decision:
    """When a summary goes: at ``due`` (``deferred``, ``throttled``: waiting for the window), or —
    every message in it non-urgent, by SMS, ``due`` inside the quiet hours — at their end."""
    decision = schedule(channel=channel, urgent=urgent, at=due, quiet_hours=quiet_hours)
    if decision.status is Status.QUEUED:
        return Decision(status=Status.DEFERRED, not_before=due, reason=REASON_THROTTLED)
    return decision


def schedule(*, channel: Channel, urgent: bool, at: datetime, quiet_hours: QuietHours) -> Decision:
    """When a message allowed to go at ``at`` goes: then, or — a non-urgent SMS inside the
    recipient's quiet hours — at their end (``deferred``, ``quiet_hours``). Used for a new
    message, for a retry after a failure, and for a notification the desk sends again."""
    if channel in RINGING_CHANNELS and not urgent:
        until = quiet_until(at, quiet_hours)
        if until is not None:
            return Decision(status=Status.DEFERRED, not_before=until, reason=REASON_QUIET_HOURS)
    return Decision(status=Status.QUEUED, not_before=at)


def decision_time(event_time: datetime, *, wall: datetime, max_lead: timedelta) -> datetime:
    """The time quiet hours and the throttle window are judged at: the later of the wall clock
    and the event's CloudEvents ``time``, the latter only up to ``max_lead`` ahead (a publisher
    with a wrong clock). Events are consumed right after they happen, so in production this
    is the wall clock; an event stamped with a future time (a test, a replay tool) is judged
    as of that time."""
    if wall < event_time <= wall + max_lead:
        return event_time
    return wall
