"""Request and response models of tickets (the contract's Complaints section)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.complaints.domain.vocabulary import Category, Channel, Priority
from shared.types import Email, Identifier, Name, OptionalText, Phone, Text, WaybillNo

LanguageTag = Annotated[str, StringConstraints(strip_whitespace=True,
                                              pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,2}$")]
TicketStatusName = Literal["open", "responded", "waiting_customer", "escalated", "resolved", "closed"]
ResponseChannel = Literal["phone", "sms", "email", "web", "chat", "partner"]


class StrictIn(BaseModel):
    """Request bodies refuse unknown fields, so a misspelt field is an error, not silently lost."""

    model_config = ConfigDict(extra="forbid")


# --- tickets ------------------------------------------------------------------------


class ComplaintCreate(StrictIn):
    customer_id: Identifier | None = None
    caller_name: Name
    phone: Phone
    email: Email | None = None
    language: LanguageTag | None = Field(default=None, description="zh-CN (default) or en; en-US etc. accepted")
    waybill_no: WaybillNo | None = None
    channel: Channel
    category: Category
    priority: Priority | None = Field(default=None, description="default from the category and key-customer flag")
    description: Text


class ResponseCreate(StrictIn):
    by: Name = Field(description="the staff member who answered")
    channel: ResponseChannel
    message: Text
    asks_customer: bool = Field(default=False, description="true pauses the SLA clock until the customer replies")


class CustomerReplyCreate(StrictIn):
    message: Text
    channel: ResponseChannel = "phone"


class EscalateIn(StrictIn):
    reason: Text | None = None


class ClaimIn(StrictIn):
    to: Identifier | None = Field(default=None, description="supervisor or admin: hand the ticket to this desk "
                                                            "member (their user name); default: the caller")


class ResolveIn(StrictIn):
    resolution: Text


class ReopenIn(StrictIn):
    reason: Text | None = None


class CloseIn(StrictIn):
    reason: Text | None = None


class SurveyIn(StrictIn):
    score: int = Field(ge=1, le=5, strict=True)
    comment: OptionalText | None = None


class Position(BaseModel):
    at: datetime
    lat: float | None = None
    lon: float | None = None
    place: str | None = None
    station: str | None = None


class ShipmentRead(BaseModel):
    """The live shipment snapshot, from the local read model of tracking's events."""

    waybill_no: str
    status: str
    origin: str | None = None
    destination: str | None = None
    destination_name: str | None = None
    via: list[str] = []
    promised_at: datetime | None = None
    eta: datetime | None = None
    delayed: bool = False
    delay_minutes: int | None = None
    delay_reason: str | None = None
    last_position: Position | None = None
    vehicle_id: str | None = None
    exception: dict[str, Any] | None = None
    updated_at: datetime | None = None


class HistoryEntry(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    details: dict[str, Any]


class _ComplaintHead(BaseModel):
    # The fields a ticket and its list row both begin with, in the contract's order.
    id: uuid.UUID
    status: TicketStatusName
    customer_id: str | None
    caller_name: str
    phone: str | None
    email: str | None


class ComplaintRead(_ComplaintHead):
    language: str
    waybill_no: str | None
    channel: str
    category: str
    priority: str | None = Field(description="null for a branch or a customer token (the desk's judgement)")
    description: str
    proactive: bool | None = Field(description="null for a branch")
    assigned_role: str | None = Field(description="null for a customer token")
    assigned_to: str | None = Field(default=None, description="the desk member working it (user name); null: "
                                                              "not claimed")
    claimed_at: datetime | None = None
    opened_at: datetime
    opened_by: str | None = Field(description="null for a customer token")
    first_response_minutes: int | None = Field(description="SLA target copied from the policy at opening; "
                                                          "null for a branch or a customer token")
    resolution_minutes: int | None = Field(description="SLA target copied from the policy at opening; "
                                                      "null for a branch or a customer token")
    first_response_due: datetime | None = Field(description="null while the clock is paused, and for a branch")
    resolution_due: datetime | None = Field(description="null while the clock is paused, and for a branch")
    first_responded_at: datetime | None
    resolved_at: datetime | None
    escalated_at: datetime | None
    closed_at: datetime | None
    resolution: str | None
    csat_score: int | None
    csat_comment: str | None
    breaches: list[str]
    breached: bool
    paused: bool
    allowed_actions: list[str]
    suggested_reply: str | None = Field(description="the desk's script; null for a customer token")
    shipment: ShipmentRead | None
    history: list[HistoryEntry] | None = None


class ComplaintSummary(_ComplaintHead):
    """A list row: personal data masked."""

    waybill_no: str | None
    channel: str
    category: str
    priority: str | None = Field(description="null for a branch or a customer token")
    proactive: bool | None = Field(description="null for a branch")
    assigned_role: str | None = Field(description="null for a customer token")
    assigned_to: str | None = None
    claimed_at: datetime | None = None
    opened_at: datetime
    first_response_due: datetime | None
    resolution_due: datetime | None
    breached: bool
