"""Request and response models of customer files (客户档案) and return visits (回访)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.complaints.tickets.models import LanguageTag, StrictIn
from shared.types import Email, Instant, Name, OptionalText, Phone, ShortText


class ContactIn(StrictIn):
    name: Name
    role: ShortText | None = None
    phone: Phone | None = None
    email: Email | None = None


class CustomerUpdate(StrictIn):
    name: ShortText | None = None
    key_customer: bool | None = None
    phone: Phone | None = None
    email: Email | None = None
    language: LanguageTag | None = None
    contacts: list[ContactIn] | None = Field(default=None, max_length=50)


class VisitCreate(StrictIn):
    visited_at: Instant
    by: Name | None = Field(default=None, description="who made the visit; defaults to the caller's identity")
    channel: Literal["phone", "onsite", "video", "email", "other"] = "phone"
    note: OptionalText | None = None
    satisfaction: int | None = Field(default=None, ge=1, le=5, strict=True)


class VisitRead(BaseModel):
    id: uuid.UUID
    customer_id: str
    visited_at: datetime
    by: str
    channel: str
    note: str | None
    satisfaction: int | None


class ShipmentSeen(BaseModel):
    waybill_no: str
    status: str | None
    origin: str | None
    destination: str | None
    registered_at: datetime | None
    eta: datetime | None
    delayed: bool


class ComplaintBrief(BaseModel):
    id: uuid.UUID
    status: str
    category: str
    waybill_no: str | None
    opened_at: datetime
    csat_score: int | None
    proactive: bool


class CsatRead(BaseModel):
    average: float | None
    count: int
    distribution: dict[str, int]


class CustomerRead(BaseModel):
    customer_id: str
    name: str | None
    key_flag: bool = Field(description="set by staff")
    key_customer: bool = Field(description="flagged, or shipping at least the configured monthly volume")
    phone: str | None
    email: str | None
    language: str | None
    contacts: list[dict[str, Any]]
    first_seen_at: datetime
    shipments_count: int
    shipments: list[ShipmentSeen]
    complaints_count: int
    open_complaints: int
    complaints: list[ComplaintBrief]
    csat: CsatRead
    calls_count: int
    last_visit: VisitRead | None


class VisitDueRead(BaseModel):
    customer_id: str
    name: str
    reasons: list[str]
    last_visit_at: datetime | None


class VisitsDueRead(BaseModel):
    month: str
    items: list[VisitDueRead]
