"""Request and response models of the notifier's HTTP API."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema, field_validator

from shared.types import Email, Name, Phone

LanguageCode = Literal["zh-CN", "en"]
ChannelName = Literal["sms", "email"]
StatusName = Literal["queued", "sent", "failed", "suppressed", "deferred"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChannelsIn(_Strict):
    sms: bool = True
    email: bool = True


# A wall-clock time of day, "HH:MM" (seconds allowed on input). JSON Schema's `time` format
# demands an offset, which a local window in the zone `tz` must not have: documented as a pattern.
WallClock = Annotated[
    time,
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$", "example": "22:00"}),
]


class QuietHoursIn(_Strict):
    """A daily local window; `start > end` crosses midnight; `start == end` means none."""

    start: WallClock
    end: WallClock
    tz: str = Field(default="Asia/Shanghai", min_length=1, max_length=64)

    @field_validator("start", "end")
    @classmethod
    def _wall_clock(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("a wall-clock time without an offset (the zone is `tz`)")
        return value

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class RecipientPut(_Strict):
    name: Name | None = None
    phone: Phone | None = None
    email: Email | None = None
    language: LanguageCode = "zh-CN"
    channels: ChannelsIn = Field(default_factory=ChannelsIn)
    quiet_hours: QuietHoursIn = Field(default_factory=lambda: QuietHoursIn(start=time(22), end=time(8)))
    key_customer: bool = False


class RecipientRead(BaseModel):
    customer_id: str
    name: str | None
    phone: str | None
    email: str | None
    language: LanguageCode
    channels: ChannelsIn
    quiet_hours: QuietHoursIn
    key_customer: bool
    updated_at: datetime
    updated_by: str


class NotificationRead(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    channel: ChannelName
    to: str = Field(description="masked: 138****0000 / o***@example.com")
    template: str
    language: LanguageCode
    status: StatusName
    reason: str | None = Field(description="why suppressed or deferred")
    attempts: int
    provider: str | None
    sent_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None
    waybill_no: str | None
    customer_id: str | None
    created_at: datetime


class AttemptRead(BaseModel):
    attempt: int
    provider: str
    outcome: Literal["ok", "transient", "permanent"]
    error: str | None
    duration_ms: int
    at: datetime


class NotificationDetail(NotificationRead):
    subject: str | None
    delivery_attempts: list[AttemptRead]


class TemplateRead(BaseModel):
    name: str
    channel: ChannelName
    languages: list[LanguageCode]


class PreviewRequest(_Strict):
    channel: ChannelName
    language: LanguageCode = "zh-CN"
    data: dict[str, Any] | None = Field(default=None, description="template variables; sample data when absent")


class PreviewRead(BaseModel):
    name: str
    channel: ChannelName
    language: LanguageCode
    subject: str | None
    text: str
    html: str | None
    sms_segments: int | None


class DigestRun(BaseModel):
    day: date
    key_customers: int
    queued: int
    already_done: int
    skipped_no_email: int


class DispatchRun(BaseModel):
    now: datetime
    processed: int
