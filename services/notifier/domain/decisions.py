"""The send decision: queue now, defer to the end of the quiet hours, or suppress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.notifier.domain.preferences import QuietHours, quiet_until
from services.notifier.domain.throttling import throttle_decision
from services.notifier.domain.vocabulary import REASON_QUIET_HOURS, Channel, Status
from shared.clock import require_aware


@dataclass(frozen=True)
class Decision:
    """What to do with a delivery now: ``queued`` (send at ``not_before`` = now),
    ``deferred`` (send at ``not_before``) or ``suppressed`` (never send; ``reason``)."""

    status: Status
    not_before: datetime
    reason: str | None = None


def decide(
    *,
    channel: Channel,
    urgent: bool,
    now: datetime,
    quiet_hours: QuietHours,
    sent_in_last_hour: int,
    throttle_limit: int,
) -> Decision:
    """Throttle first, then quiet hours.

    * over the hourly limit → ``suppressed`` (``throttled``), urgent or not: the limit
      exists to stop floods (e.g. a shipment flapping between delayed and recovered);
    * non-urgent SMS in quiet hours → ``deferred`` to the end of the window;
    * urgent SMS (a delay) go out at night: the customer needs the revised time in order to
      plan, and the issue defers only non-urgent SMS;
    * e-mail is never deferred — it does not ring.
    """
    require_aware(now)
    throttle = throttle_decision(sent_in_last_hour, throttle_limit)
    if not throttle.allowed:
        return Decision(status=Status.SUPPRESSED, not_before=now, reason=throttle.reason)
    return schedule(channel=channel, urgent=urgent, at=now, quiet_hours=quiet_hours)


def schedule(*, channel: Channel, urgent: bool, at: datetime, quiet_hours: QuietHours) -> Decision:
    """When a message allowed to go at ``at`` goes: then, or — a non-urgent SMS inside the
    recipient's quiet hours — at their end (``deferred``, ``quiet_hours``). Used for a new
    message, for a retry after a failure, and for a notification the desk sends again."""
    if channel is Channel.SMS and not urgent:
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
