"""Request and response models of delivery appointments."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.types import Instant, Name, OptionalText

ChannelName = Literal["phone", "email", "portal"]
OutcomeName = Literal["pending", "kept", "outside_window", "missed", "superseded"]


class AppointmentCreate(BaseModel):
    """`POST /v1/shipments/{waybill_no}/appointments`: the window agreed with the consignee."""

    model_config = ConfigDict(extra="forbid")  # as every request model of the service

    window_start: Instant
    window_end: Instant
    contact: Name = Field(description="who agreed to it (受话人): the consignee or their representative")
    channel: ChannelName
    note: OptionalText | None = None


class AppointmentRead(BaseModel):
    appointment_id: str
    waybill_no: str
    station: str = Field(description="the delivering (destination) station")
    window_start: datetime
    window_end: datetime
    contact: str
    channel: ChannelName
    note: str | None = None
    booked_by: str
    booked_at: datetime
    superseded_at: datetime | None = None
    outcome: OutcomeName = Field(description="pending | kept (delivered inside the window) | outside_window "
                                             "(delivered outside it) | missed (ended, not delivered) | superseded")


class AppointmentDayItem(AppointmentRead):
    """An appointment in a station's day, with what the desk needs to call about it."""

    status: str = Field(description="the shipment's base status")
    pieces: int
    pieces_arrived: int
    consignee_name: str | None = Field(default=None, description="masked, e.g. 杨**")
    delivered_at: datetime | None = None


class AppointmentDay(BaseModel):
    station: str | None
    date: str = Field(description="the business day (Asia/Shanghai), YYYY-MM-DD")
    as_of: datetime = Field(description="when the outcomes were judged")
    total: int
    missed: int
    outside_window: int
    items: list[AppointmentDayItem]
