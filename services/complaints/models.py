"""Request and response models of the complaints API (the contract's Complaints section)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.complaints.domain import Category, Channel, Priority
from shared.types import Email, Identifier, Instant, Name, OptionalText, Phone, ShortText, Text, WaybillNo

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


class ComplaintRead(BaseModel):
    id: uuid.UUID
    status: TicketStatusName
    customer_id: str | None
    caller_name: str
    phone: str | None
    email: str | None
    language: str
    waybill_no: str | None
    channel: str
    category: str
    priority: str
    description: str
    proactive: bool
    assigned_role: str
    opened_at: datetime
    opened_by: str
    first_response_minutes: int = Field(description="SLA target copied from the policy at opening")
    resolution_minutes: int = Field(description="SLA target copied from the policy at opening")
    first_response_due: datetime | None = Field(description="null while the clock is paused")
    resolution_due: datetime | None = Field(description="null while the clock is paused")
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
    suggested_reply: str
    shipment: ShipmentRead | None
    history: list[HistoryEntry] | None = None


class ComplaintSummary(BaseModel):
    """A list row: personal data masked."""

    id: uuid.UUID
    status: TicketStatusName
    customer_id: str | None
    caller_name: str
    phone: str | None
    email: str | None
    waybill_no: str | None
    channel: str
    category: str
    priority: str
    proactive: bool
    assigned_role: str
    opened_at: datetime
    first_response_due: datetime | None
    resolution_due: datetime | None
    breached: bool


# --- SLA policies -------------------------------------------------------------------


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


# --- calls --------------------------------------------------------------------------


class CallCreate(StrictIn):
    customer_id: Identifier | None = None
    caller_name: Name = Field(description="who called (or was called)")
    phone: Phone
    direction: Literal["inbound", "outbound"] = "inbound"
    waybill_no: WaybillNo | None = None
    topic: Literal["tracking", "delay", "damage", "loss", "quote", "billing", "attitude", "complaint",
                   "receipt", "other"]
    outcome: Literal["answered", "callback", "complaint_opened", "escalated", "no_answer"]
    note: OptionalText | None = None
    callback_due: Instant | None = Field(default=None, description="required when outcome is callback")
    complaint_id: uuid.UUID | None = None
    called_at: Instant | None = Field(default=None, description="defaults to now")
    callback_of: uuid.UUID | None = Field(
        default=None, description="the callback (a call with outcome callback) this call returns; an outcome "
                                  "other than no_answer settles it")


class CallRead(BaseModel):
    id: uuid.UUID
    customer_id: str | None
    caller_name: str
    phone: str | None
    direction: str
    waybill_no: str | None
    topic: str
    outcome: str
    note: str | None
    callback_due: datetime | None
    complaint_id: uuid.UUID | None
    called_at: datetime
    recorded_by: str
    callback_of: uuid.UUID | None = None
    settles_callback: bool = False


class CallbackDue(CallRead):
    """A callback still owed."""

    overdue: bool = Field(description="callback_due has passed")
    attempts: int = Field(description="returning calls so far that did not settle it (no answer)")


# --- customers ----------------------------------------------------------------------


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


# --- reports ------------------------------------------------------------------------


class SlaOutcomeRead(BaseModel):
    met: int
    breached: int
    met_share: float | None = Field(description="0..1 of the tickets whose SLA is decided; null if none")


class ComplaintsReportRead(BaseModel):
    """Tickets opened in the month (desk timezone). Minutes are wall-clock minutes from opening."""

    month: str
    total: int
    by_category: dict[str, int]
    by_channel: dict[str, int]
    first_response: SlaOutcomeRead
    resolution: SlaOutcomeRead
    median_first_response_minutes: float | None
    median_resolution_minutes: float | None
    csat_average: float | None
    csat_count: int
    csat_distribution: dict[str, int]
