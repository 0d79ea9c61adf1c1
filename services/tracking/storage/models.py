"""Response models of the temporary-storage report."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class StorageAppointment(BaseModel):
    appointment_id: str
    window_start: datetime
    window_end: datetime
    channel: str
    outcome: str = Field(description="pending, or missed once the window ended with the goods still here")


class StorageRowOut(BaseModel):
    waybill_no: str
    customer_id: str | None = None
    station: str = Field(description="the destination station, where the goods wait")
    status: str = Field(description="arrived, out_for_delivery, or in_transit while later batches are on the road")
    pieces: int = Field(description="the pieces that arrived (a split shipment's batches so far)")
    pieces_total: int
    weight_kg: float | None = Field(default=None, description="the arrived pieces' share of the waybill's weight")
    volume_m3: float | None = Field(default=None, description="the arrived pieces' share of the waybill's volume")
    arrived_at: datetime = Field(description="the first batch's arrival")
    days_in_storage: int = Field(description="calendar days in Asia/Shanghai since arrival, as of `as_of`")
    appointment: StorageAppointment | None = Field(default=None, description="the current delivery appointment")
    appointment_missed: bool


class StorageReport(BaseModel):
    as_of: datetime
    station: str | None = None
    customer_id: str | None = None
    total_shipments: int
    total_pieces: int
    total_weight_kg: float
    total_volume_m3: float
    rows: list[StorageRowOut]
