"""Request and response models of the SLA policies and the SLA monitor (admin routes)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from services.complaints.domain.vocabulary import Category, Priority
from services.complaints.tickets.models import StrictIn


class SlaPolicyIn(StrictIn):
    category: Category | None = None
    priority: Priority | None = None
    first_response_minutes: int = Field(ge=1, le=525_600, strict=True)
    resolution_minutes: int = Field(ge=1, le=525_600, strict=True)


class SlaPoliciesIn(StrictIn):
    policies: list[SlaPolicyIn] = Field(min_length=1, max_length=200)


class SlaPolicyRead(BaseModel):
    category: str | None
    priority: str | None
    first_response_minutes: int
    resolution_minutes: int
    updated_at: datetime
    updated_by: str


class SlaPoliciesRead(BaseModel):
    policies: list[SlaPolicyRead]
    business_hours: dict[str, Any] | None


class BreachRead(BaseModel):
    complaint_id: uuid.UUID
    kind: str
    due_at: datetime
    breached_at: datetime
    escalated: bool


class SlaScanRead(BaseModel):
    now: datetime
    checked: int
    breaches: list[BreachRead]
