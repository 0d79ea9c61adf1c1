"""The words every notifier rule uses: audiences, channels, languages, statuses and reasons."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from shared.events import DelayReason as DelayReason  # the codes a delay carries; templates put them into words


class Audience(StrEnum):
    """Who a route addresses; each audience has its own way of finding the address."""

    SHIPPER = "shipper"
    CONSIGNEE = "consignee"
    STATION_CONTACT = "station_contact"
    COMPLAINANT = "complainant"
    SUPERVISOR = "supervisor"


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    WECOM = "wecom"  # a key account's WeChat Work group, through its group robot (`domain/wecom.py`)


# Channels that make a phone ring (an SMS, a group chat message): a non-urgent message on one
# waits for the end of the recipient's quiet hours. E-mail does not ring.
RINGING_CHANNELS: frozenset[Channel] = frozenset({Channel.SMS, Channel.WECOM})


class Language(StrEnum):
    ZH_CN = "zh-CN"
    EN = "en"


class Status(StrEnum):
    """Delivery status as stored and as returned by ``GET /v1/notifications``."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    DEFERRED = "deferred"


class FailureKind(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"


# Why a notification is not (yet) sent, as stored in its `reason` and shown in the audit.
# deferred: a summary waiting until the hourly window has room again (and, on rows stored
# before roll-ups existed, suppressed: over the hourly limit)
REASON_THROTTLED = "throttled"
# deferred, then sent / failed with its summary (`rolled_into`): held by the throttle
REASON_ROLLED_UP = "rolled_up"
REASON_QUIET_HOURS = "quiet_hours"  # deferred: to the end of the recipient's quiet hours
REASON_NO_RECIPIENT = "no_recipient"  # failed: the notice had nowhere to go (no address at all)
REASON_OPTED_OUT = "opted_out"  # suppressed: the recipient switched every reachable channel off

# Waiting to be sent: the dispatcher's rows.
ACTIVE_STATUSES: tuple[str, ...] = (Status.QUEUED.value, Status.DEFERRED.value)


def opt_str(value: Any) -> str | None:
    """Text as given, trimmed; ``None`` for nothing or blanks."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def opt_language(value: Any) -> Language | None:
    """A language code we have templates for; ``None`` otherwise (the default then applies)."""
    try:
        return Language(value) if value else None
    except ValueError:
        return None  # an unknown language falls back to the default rather than failing
