"""Request and response models of the receipt routes (the contract's field names)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from services.receipts.domain.custody import HandoverTo
from services.receipts.domain.inspection import Anomaly, InspectionResult
from services.receipts.domain.lifecycle import Payment, ReceiptStatus
from services.receipts.domain.overdue import OverdueStage
from shared.types import Instant, Name, OptionalText


class Strict(BaseModel):
    """Request bodies: unknown fields are refused, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- requests


class InspectionCreate(Strict):
    result: InspectionResult
    anomalies: list[Anomaly] = Field(default_factory=list, max_length=len(Anomaly))
    by: Name
    at: Instant | None = Field(default=None, description="when it was inspected; default: now")


class ReSignCreate(Strict):
    at: Instant
    by: Name


class HandoverCreate(Strict):
    to: HandoverTo
    recipient: Name
    at: Instant


class WriteOffCreate(Strict):
    at: Instant
    collector: Name


class CancelCreate(Strict):
    at: Instant | None = Field(default=None, description="when it was cancelled; default: now")
    reason: OptionalText | None = Field(default=None, max_length=500)


class ReceiveCreate(Strict):
    """A receipt flagged lost that turned up at the origin after all."""

    at: Instant
    note: OptionalText | None = Field(default=None, max_length=500)


# --------------------------------------------------------------------------- responses


class Requirements(BaseModel):
    signature: bool
    stamp: bool
    id_number: bool
    copies: int


class StationContact(BaseModel):
    name: str | None = None
    phone: str | None = None
    email: str | None = None


class CustodyRead(BaseModel):
    at: Instant
    action: str
    actor: str
    from_party: str
    to_party: str
    note: str
    envelope_id: uuid.UUID | None = None
    recorded_at: Instant


class ReceiptSummary(BaseModel):
    """One row of `GET /v1/receipts` (no personal data)."""

    waybill_no: str
    status: ReceiptStatus
    required: bool
    payment: Payment
    origin: str
    destination: str
    region: str
    transfers: int
    arrived_at: Instant | None
    due_at: Instant | None
    final_due_at: Instant | None
    overdue: bool
    overdue_stage: OverdueStage | None
    anomalies: list[Anomaly]
    returned_at: Instant | None
    lost_at: Instant | None


class ReceiptRead(ReceiptSummary):
    """`GET /v1/receipts/{waybill_no}`: the record, its deadlines at `as_of`, and its custody chain."""

    requirements: Requirements
    via: list[str]
    origin_region: str | None
    destination_region: str | None
    delivered_at: Instant | None
    clock_started_at: Instant | None = Field(
        description="what the deadline counts from: the final arrival, or the delivery if no final arrival is known")
    abnormal_at: Instant | None
    envelope_id: uuid.UUID | None
    courier_no: str | None
    as_of: Instant
    allowed_actions: list[str]
    station_contact: StationContact | None
    custody: list[CustodyRead]
