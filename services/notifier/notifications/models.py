"""Response models of the notification audit routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from services.notifier.recipients.models import ChannelName, LanguageCode

StatusName = Literal["queued", "sent", "failed", "suppressed", "deferred"]


class NotificationRead(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    channel: ChannelName
    to: str = Field(description="masked: 138****0000 / o***@example.com / a group robot's key as 693a****; "
                                "empty when there was no recipient")
    template: str
    language: LanguageCode
    status: StatusName
    reason: str | None = Field(description="why suppressed (opted_out), deferred (quiet_hours; rolled_up: held by "
                                           "the hourly throttle, it goes inside the summary `rolled_into`; "
                                           "throttled: a summary waiting for the hour to have room) or failed "
                                           "without a send (no_recipient); a held message keeps rolled_up once "
                                           "sent or failed with its summary")
    attempts: int
    provider: str | None
    sent_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None
    waybill_no: str | None
    customer_id: str | None
    rolled_into: uuid.UUID | None = Field(
        default=None, description="a message held by the hourly throttle: the summary (a notification, template "
                                  "`summary`) it went or goes inside; it takes the summary's outcome")
    fallback_of: uuid.UUID | None = Field(
        default=None, description="an e-mail sent instead of a group robot message that failed: that message")
    created_at: datetime


class AttemptRead(BaseModel):
    attempt: int
    provider: str
    outcome: Literal["ok", "transient", "permanent"]
    error: str | None
    duration_ms: int
    at: datetime


class RetryRead(BaseModel):
    """The desk sent the notification again."""

    at: datetime
    by: str = Field(description="who asked (role:subject)")
    from_status: StatusName
    from_reason: str | None
    attempts: int = Field(description="sends tried before this retry")
    last_error: str | None


class SummaryMemberRead(BaseModel):
    """A message a throttle summary carries."""

    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    waybill_no: str | None
    template: str
    status: StatusName


class NotificationDetail(NotificationRead):
    subject: str | None
    delivery_attempts: list[AttemptRead]
    retries: list[RetryRead] = Field(default_factory=list)
    members: list[SummaryMemberRead] = Field(
        default_factory=list, description="a throttle summary (template `summary`): the messages it carries, in "
                                          "the order they came; empty for any other notification")
