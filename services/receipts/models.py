"""Request and response models of the receipts API (the contract's field names)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.receipts.domain import Anomaly, HandoverTo, InspectionResult, OverdueStage, Payment, ReceiptStatus
from shared.types import Instant, Name, OptionalText, StationCode, WaybillNo

CourierNo = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9-]{3,40}$")]


class _In(BaseModel):
    """Request bodies: unknown fields are refused, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- requests


class InspectionCreate(_In):
    result: InspectionResult
    anomalies: list[Anomaly] = Field(default_factory=list, max_length=len(Anomaly))
    by: Name
    at: Instant | None = Field(default=None, description="when it was inspected; default: now")


class ReSignCreate(_In):
    at: Instant
    by: Name


class HandoverCreate(_In):
    to: HandoverTo
    recipient: Name
    at: Instant


class WriteOffCreate(_In):
    at: Instant
    collector: Name


class CancelCreate(_In):
    at: Instant | None = Field(default=None, description="when it was cancelled; default: now")
    reason: OptionalText | None = Field(default=None, max_length=500)


class ReceiveCreate(_In):
    """A receipt flagged lost that turned up at the origin after all."""

    at: Instant
    note: OptionalText | None = Field(default=None, max_length=500)


class EnvelopeCreate(_In):
    from_station: StationCode
    to_station: StationCode
    waybills: list[WaybillNo] = Field(min_length=1, max_length=5000)
    sent_at: Instant
    courier_no: CourierNo

    @field_validator("waybills")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        dupes: set[str] = set()
        for waybill in value:
            (dupes if waybill in seen else seen).add(waybill)
        if dupes:
            raise ValueError(f"waybills listed twice: {', '.join(sorted(dupes)[:10])}")
        return value


class EnvelopeArrivalCreate(_In):
    received_at: Instant
    waybills_present: list[WaybillNo] = Field(max_length=5000)

    @field_validator("waybills_present")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("waybills_present lists a waybill twice")
        return value


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


class EnvelopeItemRead(BaseModel):
    waybill_no: str
    outcome: Literal["present", "missing"] | None
    status: ReceiptStatus


class EnvelopeRead(BaseModel):
    id: uuid.UUID
    from_station: str
    to_station: str
    courier_no: str
    sent_at: Instant
    sent_by: str
    status: Literal["in_transit", "received"]
    received_at: Instant | None
    received_by: str | None
    count: int
    waybills: list[EnvelopeItemRead]
    present: list[str]
    missing: list[str]


class ChaseEmission(BaseModel):
    waybill_no: str
    stage: OverdueStage
    due_at: Instant
    days_overdue: int
    event_id: uuid.UUID
    destination: str


class ChaseResult(BaseModel):
    as_of: Instant
    scanned: int
    emitted: list[ChaseEmission]


class RegionRow(BaseModel):
    region: str
    required: int
    returned_on_time: int
    returned_late: int
    outstanding: int
    abnormal: int
    abnormal_caught_late: int
    lost: int
    late_penalty_cny: Decimal
    abnormal_penalty_cny: Decimal
    lost_penalty_cny: Decimal
    penalty_cny: Decimal


class MonthlyReport(BaseModel):
    month: str
    as_of: Instant
    currency: Literal["CNY"] = "CNY"
    regions: list[RegionRow]
    totals: RegionRow

