"""Request and response models of the registry: stations and vehicles, and the stale sweep's result."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from services.tracking.shipments.models import PositionRead, Strict
from shared.types import Email, Identifier, Latitude, Longitude, Name, Phone

# --- stations ---------------------------------------------------------------------------


class StationPut(Strict):
    name: Name
    city: Name
    region: Name
    lat: Latitude
    lon: Longitude
    contact_phone: Phone | None = None
    contact_email: Email | None = None


class StationRead(BaseModel):
    code: str
    name: str
    city: str
    region: str
    lat: float
    lon: float
    contact_phone: str | None = None
    contact_email: str | None = None
    updated_at: datetime


# --- vehicles ---------------------------------------------------------------------------


class VehiclePut(Strict):
    plate: Annotated[str, Field(min_length=1, max_length=20)]
    carrier: Identifier
    driver_name: Name | None = None
    driver_phone: Phone | None = None
    device_id: Identifier | None = None


class VehicleRead(BaseModel):
    vehicle_id: str
    plate: str
    carrier: str
    driver_name: str | None = None
    driver_phone: str | None = None  # masked
    device_id: str | None = None
    last_position: PositionRead | None = None
    stale: bool
    shipments: list[str]  # waybill numbers on board
    updated_at: datetime


class StaleScanResult(BaseModel):
    now: datetime
    stale_vehicles: int  # vehicles newly reported stale (once per silence)
    evaluated_shipments: int
    events: int


# --- a vehicle's recent track -------------------------------------------------------------


class TrackPoint(BaseModel):
    at: datetime
    lat: float
    lon: float
    speed_kmh: float | None = None


class VehicleTrack(BaseModel):
    vehicle_id: str
    points: list[TrackPoint] = Field(description="oldest first: one fix a sample interval, the newest fix last")
