"""Request and response models of the envelope routes."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from services.receipts.domain.lifecycle import ReceiptStatus
from services.receipts.receipts.models import Strict
from shared.types import CourierNo, Instant, StationCode, WaybillNo


class EnvelopeCreate(Strict):
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


class EnvelopeArrivalCreate(Strict):
    received_at: Instant
    waybills_present: list[WaybillNo] = Field(max_length=5000)

    @field_validator("waybills_present")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("waybills_present lists a waybill twice")
        return value


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
