"""Request and response models of the recipient routes, and the vocabulary types the other
notifier routes share (languages, channels, strict request bodies)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema, field_validator

from shared.clock import BUSINESS_TZ_NAME
from shared.types import Email, Name, Phone

LanguageCode = Literal["zh-CN", "en"]
ChannelName = Literal["sms", "email", "wecom"]


class Strict(BaseModel):
    """Request bodies: unknown fields are refused, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


class ChannelsIn(Strict):
    sms: bool = True
    email: bool = True
    wecom: bool = Field(default=True, description="the account's WeChat Work group (with `wecom_webhook` only)")


class StorageReportIn(Strict):
    """The daily storage report (货物暂存报表) by e-mail: off by default; sent once the local hour
    (`LCS_DIGEST_TZ`) reaches `hour`. Key customers only."""

    enabled: bool = False
    hour: int = Field(default=9, ge=0, le=23)


# A wall-clock time of day, "HH:MM" (seconds allowed on input). JSON Schema's `time` format
# demands an offset, which a local window in the zone `tz` must not have: documented as a pattern.
WallClock = Annotated[
    time,
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$", "example": "22:00"}),
]


class QuietHoursIn(Strict):
    """A daily local window; `start > end` crosses midnight; `start == end` means none."""

    start: WallClock
    end: WallClock
    tz: str = Field(default=BUSINESS_TZ_NAME, min_length=1, max_length=64)

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


class RecipientPut(Strict):
    name: Name | None = None
    phone: Phone | None = None
    email: Email | None = None
    language: LanguageCode = "zh-CN"
    channels: ChannelsIn = Field(default_factory=ChannelsIn)
    quiet_hours: QuietHoursIn = Field(default_factory=lambda: QuietHoursIn(start=time(22), end=time(8)))
    key_customer: bool = False
    wecom_webhook: str | None = Field(
        default=None, min_length=1, max_length=300,
        description="the account's WeChat Work group robot webhook, as the robot's settings show it "
                    "(`https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...`). A secret: write-only "
                    "(shown masked); leave it out to keep the stored one, `null` removes it")
    storage_report: StorageReportIn = Field(default_factory=StorageReportIn)


class RecipientRead(BaseModel):
    customer_id: str
    name: str | None
    phone: str | None
    email: str | None
    language: LanguageCode
    channels: ChannelsIn
    quiet_hours: QuietHoursIn
    key_customer: bool
    wecom_webhook: str | None = Field(description="masked: the key's first four characters")
    storage_report: StorageReportIn
    updated_at: datetime
    updated_by: str
