"""Request and response models of the tracking desk: delivery, notes, exceptions, photos,
reports and the bulk import. ID numbers appear in requests only; responses show them masked."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.tracking.shipments.models import PositionRead, Strict
from shared.types import Instant, Name, Pieces, StationCode, Text

# An identity document number as typed at the counter (ID card, passport, permit ...).
# May be blank: a missing number is an identity failure (422 identity_mismatch), not a format error.
IdNumber = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)]
IdTypeText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Channel = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]

NoteReason = Literal["traffic_jam", "breakdown", "customs_inspection", "weather", "force_majeure", "other"]
ExceptionKindName = Literal["damage", "shortage", "wet", "contaminated", "lost", "mismatch", "other"]
HandlingFlag = Literal["dangerous", "fragile", "keep_upright", "moisture_sensitive"]


# --- delivery ---------------------------------------------------------------------------


class DelegateIn(Strict):
    """A person picking up for the consignee (委托提货): both ID numbers are required."""

    name: Name
    id_number: IdNumber | None = None
    consignee_id_number: IdNumber | None = None


class DeliveryCreate(Strict):
    signed_at: Instant
    signer_name: Name
    signer_id_type: IdTypeText = Field(
        description="id_card | officer_card | household_register | driving_licence | passport | "
                    "hk_macao_permit | taiwan_permit (photocopies are never valid)")
    signer_id_number: IdNumber | None = None
    delegate: DelegateIn | None = None
    company_stamp: bool = False
    pieces: Pieces


class DelegateRead(BaseModel):
    name: str
    id_number: str | None = Field(description="masked: only the last 4 characters are kept")
    consignee_id_number: str | None = Field(description="masked: only the last 4 characters are kept")


class DeliveryRead(BaseModel):
    waybill_no: str
    signed_at: datetime
    signer_name: str
    signer_id_type: str
    signer_id_number: str = Field(description="masked, e.g. **************1234")
    delegated: bool
    delegate: DelegateRead | None = None
    company_stamp: bool
    pieces: int
    station: str
    recorded_by: str
    recorded_at: datetime
    appointment_id: str | None = Field(default=None, description="the appointment current at signing")
    outside_window: bool = Field(default=False, description="signed outside that appointment's window")


# --- notes ------------------------------------------------------------------------------


class NoteCreate(Strict):
    at: Instant
    contact: Name = Field(description="who was spoken to (受话人)")
    channel: Channel = Field(default="phone", description="phone, sms, email, wechat, visit ...")
    delayed: bool = False
    reason: NoteReason | None = Field(
        default=None, description="with delayed=true: overrides the inferred delay reason")
    note: Text | None = None

    @model_validator(mode="after")
    def _reason_needs_delay(self) -> NoteCreate:
        if self.reason is not None and not self.delayed:
            raise ValueError("a reason is only given with delayed=true")
        return self


class NoteRead(BaseModel):
    id: int
    waybill_no: str
    at: datetime
    contact: str
    channel: str
    delayed: bool
    reason: str | None
    note: str | None
    actor: str
    recorded_at: datetime


# --- exceptions and photos ----------------------------------------------------------------


class ExceptionCreate(Strict):
    kind: ExceptionKindName
    pieces: Pieces
    station: StationCode
    description: Text


class ExceptionResolve(Strict):
    resolution: Text | None = None


class ExceptionRead(BaseModel):
    id: uuid.UUID
    waybill_no: str
    kind: str
    pieces: int
    station: str
    description: str
    status: Literal["open", "resolved"]
    reported_at: datetime
    reported_by: str
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    photos: int = 0


class PhotoRead(BaseModel):
    id: int
    exception_id: uuid.UUID
    sha256: str
    size_bytes: int
    content_type: str
    filename: str | None = None
    uploaded_by: str
    uploaded_at: datetime
    url: str


# --- reports ----------------------------------------------------------------------------


class OnBoardOut(BaseModel):
    waybill_no: str
    destination: str
    promised_at: datetime
    eta: datetime | None = None
    delayed: bool
    handling_flags: list[HandlingFlag]
    handling: str = Field(description="the flags in Chinese, as told to the driver")


class InTransitVehicleOut(BaseModel):
    vehicle_id: str
    plate: str | None = None
    carrier: str | None = None
    driver_name: str | None = None
    driver_phone: str | None = Field(default=None, description="masked")
    last_position: PositionRead | None = None
    last_fix_at: datetime | None = None
    fix_age_minutes: int | None = None
    stale: bool
    handling_flags: list[HandlingFlag]
    shipments: list[OnBoardOut]


class InTransitReport(BaseModel):
    generated_at: datetime
    vehicles: list[InTransitVehicleOut]


class ExceptionSummaryRowOut(BaseModel):
    station: str
    kind: str
    count: int
    pieces: int
    open_at_end: int
    waybills: list[str]


class ExceptionSummaryOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    total: int
    by_kind: dict[str, int]
    by_station: dict[str, int]
    rows: list[ExceptionSummaryRowOut]
