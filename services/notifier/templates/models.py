"""Request and response models of the template routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from services.notifier.recipients.models import ChannelName, LanguageCode, Strict


class TemplateRead(BaseModel):
    name: str
    channel: ChannelName
    languages: list[LanguageCode]


class PreviewRequest(Strict):
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
