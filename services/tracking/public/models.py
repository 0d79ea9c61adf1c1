"""The public view of a waybill: already redacted, the only shape `GET /v1/public/shipments` returns.

No field here may ever hold a coordinate, a phone, an ID number, a vehicle or free text typed by
the desk (tests/integration/tracking/test_tracking_public.py checks the answers for them)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Stage = Literal["registered", "in_transit", "arrived", "out_for_delivery", "delivered"]
Event = Literal["registered", "departed", "arrived_transfer", "departed_transfer", "arrived", "out_for_delivery",
                "delayed", "recovered", "delivered"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PublicEta(_Strict):
    day: date
    half: Literal["am", "pm"]


class PublicEventRead(_Strict):
    at: datetime
    event: Event
    city: str | None = None
    reason: str | None = None


class PublicSignerRead(_Strict):
    name: str  # masked: 张*
    signed_at: datetime


class PublicShipmentRead(_Strict):
    """`detailed` is false for the waybill number alone: then only `stage` and `city` are filled."""

    waybill_no: str
    stage: Stage
    city: str | None
    detailed: bool
    eta: PublicEta | None = None
    delayed: bool | None = None
    delay_reason: str | None = None
    timeline: list[PublicEventRead] | None = None
    signer: PublicSignerRead | None = None


LOOKUPS_MAX = 100  # look-ups per `POST /v1/public/shipments/lookups`


class PublicLookup(_Strict):
    """One look-up as the public page's form makes it: the number as typed, and optionally the
    last 4 digits of a party's phone (the detailed view when they match)."""

    waybill_no: str = Field(min_length=1, max_length=64, description="as the public typed it (case, spaces and "
                                                                      "full-width forms are normalised)")
    phone_last4: str | None = Field(default=None, pattern=r"^[0-9]{4}$")


class PublicLookups(_Strict):
    lookups: list[PublicLookup] = Field(min_length=1, max_length=LOOKUPS_MAX)


class PublicLookupsRead(_Strict):
    """`results[i]` answers `lookups[i]` as `GET /v1/public/shipments` would: the view, or null
    for its one 404 (unknown number or wrong digits)."""

    results: list[PublicShipmentRead | None]
