"""What a recipient told us (``PUT /v1/recipients/{customer_id}``): the channels they allow,
their language and their quiet hours; and when a quiet window ends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.notifier.domain.vocabulary import Channel, Language, opt_language, opt_str
from shared.clock import BUSINESS_TZ_NAME, require_aware


@dataclass(frozen=True)
class QuietHours:
    """A daily window of local wall-clock time; ``start > end`` means it crosses midnight."""

    start: time
    end: time
    tz: str = BUSINESS_TZ_NAME

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> QuietHours:
        return cls(start=_as_time(raw["start"]), end=_as_time(raw["end"]), tz=str(raw.get("tz") or BUSINESS_TZ_NAME))

    def as_dict(self) -> dict[str, str]:
        """As stored with each notification (``from_dict`` reads it back)."""
        return {"start": self.start.isoformat(timespec="minutes"), "end": self.end.isoformat(timespec="minutes"),
                "tz": self.tz}


DEFAULT_QUIET_HOURS = QuietHours(start=time(22, 0), end=time(8, 0), tz=BUSINESS_TZ_NAME)


@dataclass(frozen=True)
class ChannelPreferences:
    sms: bool = True
    email: bool = True
    wecom: bool = True  # only with a group robot webhook

    def allows(self, channel: Channel) -> bool:
        if channel is Channel.WECOM:
            return self.wecom
        return self.sms if channel is Channel.SMS else self.email


@dataclass(frozen=True)
class Preferences:
    """What a customer told us via ``PUT /v1/recipients/{customer_id}``; it wins over events."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    language: Language = Language.ZH_CN
    channels: ChannelPreferences = field(default_factory=ChannelPreferences)
    quiet_hours: QuietHours = DEFAULT_QUIET_HOURS
    wecom_key: str | None = None  # the key of the account's group robot (a secret; `domain/wecom.py`)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Preferences:
        channels = raw.get("channels") or {}
        quiet = raw.get("quiet_hours")
        return cls(
            name=opt_str(raw.get("name")),
            phone=opt_str(raw.get("phone")),
            email=opt_str(raw.get("email")),
            language=opt_language(raw.get("language")) or Language.ZH_CN,
            channels=ChannelPreferences(sms=bool(channels.get("sms", True)), email=bool(channels.get("email", True)),
                                        wecom=bool(channels.get("wecom", True))),
            quiet_hours=QuietHours.from_dict(quiet) if quiet else DEFAULT_QUIET_HOURS,
            wecom_key=opt_str(raw.get("wecom_key")),
        )


def quiet_until(now: datetime, quiet_hours: QuietHours) -> datetime | None:
    """The end of the quiet window ``now`` falls in, or ``None`` when it is not quiet.

    The window is ``[start, end)`` in the recipient's local time. ``start > end`` crosses
    midnight (22:00–08:00); ``start < end`` does not (12:00–14:00); ``start == end`` is an
    empty window (never quiet) rather than a 24-hour one, so a bad setting cannot silence
    a customer forever. The result is an aware datetime in the window's time zone.
    """
    require_aware(now)
    zone = ZoneInfo(quiet_hours.tz)
    local = now.astimezone(zone)
    if not _in_window(local, quiet_hours):
        return None
    end_date = local.date()
    if quiet_hours.start > quiet_hours.end and local.time() >= quiet_hours.start:
        end_date += timedelta(days=1)
    # Normally the first candidate is the answer. The loop only matters around DST changes
    # (not in Shanghai, but preferences may name any zone): an end time repeated by a
    # fall-back, or one skipped by a spring-forward that lands back inside the window.
    for _ in range(3):
        candidate = _local_instant(end_date, quiet_hours.end, zone)
        if candidate <= now:
            candidate = datetime.combine(end_date, quiet_hours.end, tzinfo=zone).replace(fold=1)
        if candidate > now and not _in_window(candidate, quiet_hours):
            return candidate
        end_date += timedelta(days=1)
    return candidate


def _in_window(moment: datetime, quiet_hours: QuietHours) -> bool:
    t = moment.astimezone(ZoneInfo(quiet_hours.tz)).time().replace(tzinfo=None, fold=0)
    start, end = quiet_hours.start, quiet_hours.end
    if start == end:
        return False
    if start < end:
        return start <= t < end
    return t >= start or t < end


def _local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    # Round-trip through UTC so that a wall time that does not exist (DST spring-forward)
    # becomes the real instant just after the gap.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC).astimezone(zone)


def _as_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    return time.fromisoformat(str(value))
