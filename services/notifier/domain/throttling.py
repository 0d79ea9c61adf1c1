"""The hourly throttle: at most ``LCS_THROTTLE_PER_HOUR`` messages per recipient (channel and
address) in any rolling hour; the excess is suppressed."""

from __future__ import annotations

from dataclasses import dataclass

from services.notifier.domain.vocabulary import REASON_THROTTLED, Audience

# The hourly throttle protects customers from floods. Staff addresses (the supervisor, a
# station's contact) are not throttled: an SLA breach or a receipt chase must never be dropped.
THROTTLED_AUDIENCES: frozenset[Audience] = frozenset({Audience.SHIPPER, Audience.CONSIGNEE, Audience.COMPLAINANT})


@dataclass(frozen=True)
class ThrottleDecision:
    allowed: bool
    reason: str | None = None


def throttle_decision(sent_in_last_hour: int, limit: int) -> ThrottleDecision:
    """At most ``limit`` messages per recipient per rolling hour; the excess is suppressed."""
    if limit < 1:
        raise ValueError("throttle limit must be at least 1")
    if sent_in_last_hour < limit:
        return ThrottleDecision(allowed=True)
    return ThrottleDecision(allowed=False, reason=REASON_THROTTLED)
