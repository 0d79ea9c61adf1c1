"""The hourly throttle: at most ``LCS_THROTTLE_PER_HOUR`` messages per recipient (channel and
address) in any rolling hour. It never drops a message: one over the limit is held and rolled up
into the recipient's summary, which goes as soon as the window has room for one more message
(what the summary says: `domain/summaries.py`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.notifier.domain.vocabulary import Audience
from shared.clock import require_aware

# The throttle's rolling window.
WINDOW = timedelta(hours=1)

# The hourly throttle protects customers from floods. Staff addresses (the supervisor, a
# station's contact) are not throttled: an SLA breach or a receipt chase is never held back.
THROTTLED_AUDIENCES: frozenset[Audience] = frozenset({Audience.SHIPPER, Audience.CONSIGNEE, Audience.COMPLAINANT})


@dataclass(frozen=True)
class OpenSummary:
    """The recipient's summary (per channel) that nothing has been tried for yet: held messages
    join it. Once the dispatcher has tried it, it is closed, and the next held message opens a
    new one."""

    id: uuid.UUID
    due: datetime  # when the window has room for it


@dataclass(frozen=True)
class ThrottleVerdict:
    """``send``: the message goes on its own (quiet hours then say when). Otherwise it is held
    and goes inside a summary at ``due``: the open summary ``into``, or a new one (``into`` None)."""

    send: bool
    due: datetime | None = None
    into: uuid.UUID | None = None


SEND = ThrottleVerdict(send=True)


def throttle(slots: Iterable[datetime], *, now: datetime, limit: int,
             open_summary: OpenSummary | None = None) -> ThrottleVerdict:
    """Send now, join the open summary, or open a new one.

    ``slots`` are the times the recipient's messages take in the window: the decision time of
    each message sent or on its way, and the due time of each summary (held messages take none:
    their summary does). Only those in ``(now - WINDOW, now]`` count.

    * an open summary → the message joins it: it goes with the ones held before it, in order,
      and the recipient gets one message for all of them;
    * fewer than ``limit`` messages in the window → the message goes;
    * otherwise a new summary, due when the ``limit``-th latest of them leaves the window
      (its slot + ``WINDOW``): the hour before that holds at most ``limit - 1`` messages, the
      summary is the ``limit``-th. That is at most ``WINDOW`` after ``now``, so nothing — an
      urgent delay least of all — waits longer than the window.
    """
    if limit < 1:
        raise ValueError("throttle limit must be at least 1")
    require_aware(now)
    if open_summary is not None:
        return ThrottleVerdict(send=False, due=open_summary.due, into=open_summary.id)
    latest = sorted((t for t in slots if now - WINDOW < t <= now), reverse=True)
    if len(latest) < limit:
        return SEND
    return ThrottleVerdict(send=False, due=latest[limit - 1] + WINDOW)
