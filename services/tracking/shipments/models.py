"""Request and response models of the tracking core (registry, shipments, scans, positions).

Request models forbid unknown fields: a typo in a partner's integration must fail
loudly (422), not be silently dropped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.tracking.domain import ScanType
from shared.types import (
    Email,
    Identifier,
    Instant,
    Latitude,
    Longitude,
    Name,
    Phone,
    Pieces,
    ShortText,
    StationCode,
    WaybillNo,
)

Speed = Annotated[float, Field(ge=0, le=1000)]
Heading = Annotated[float, Field(ge=0, le=360)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- positions --------------------------------------------------------------------------


class PositionRead(BaseModel):
    at: datetime
    lat: float
    lon: float
    speed_kmh: float | None = None
    heading: float | None = None


class PositionIn(Strict):
    """One item of `POST /v1/positions`. Ranges and the time are checked by the domain rules,
    so that a bad item is reported by its index in the batch."""

    vehicle_id: Identifier
    at: Instant
    lat: float
    lon: float
    speed_kmh: float | None = None
    heading: float | None = None


class PositionBatch(Strict):
    # The item limit (LCS_POSITIONS_MAX_BATCH, 5,000) is checked by the use case; the body
    # size is bounded by the guard before this is parsed.
    positions: list[PositionIn] = Field(min_length=1)


class IngestResult(BaseModel):
    received: int
    stored: int  # new fixes (a duplicate of a stored fix is kept once)
    vehicles: int
    evaluated_shipments: int
    events: int


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


# --- shipments --------------------------------------------------------------------------


class ShipperIn(Strict):
    customer_id: Identifier | None = None
    name: Name
    phone: Phone | None = None
    email: Email | None = None


class ConsigneeIn(Strict):
    name: Name
    phone: Phone
    email: Email | None = None
    company: ShortText | None = None


class CargoIn(Strict):
    description: ShortText
    pieces: Pieces
    weight_kg: Annotated[float, Field(ge=0, le=1_000_000)] | None = None
    volume_m3: Annotated[float, Field(ge=0, le=100_000)] | None = None
    dangerous: bool = False
    fragile: bool = False
    keep_upright: bool = False
    moisture_sensitive: bool = False


class ReceiptIn(Strict):
    required: bool = False
    signature: bool = True
    stamp: bool = False
    id_number: bool = False
    copies: Annotated[int, Field(ge=0, le=20)] = 1


class ShipmentCreate(Strict):
    """The `POST /v1/shipments` body, exactly as the contract shows it."""

    waybill_no: WaybillNo
    origin: StationCode
    destination: StationCode
    via: list[StationCode] = Field(default_factory=list, max_length=10)
    shipper: ShipperIn
    consignee: ConsigneeIn
    cargo: CargoIn
    promised_at: Instant
    payment: Literal["prepaid", "cod", "monthly"]
    receipt: ReceiptIn = Field(default_factory=ReceiptIn)


class ShipmentRegistered(BaseModel):
    waybill_no: str
    status: str
    registered_at: datetime


class ScanIn(Strict):
    type: ScanType
    station: StationCode
    at: Instant
    vehicle_id: Identifier | None = None
    pieces: Pieces | None = None  # None on `arrived` = every remaining piece


class ScanResult(BaseModel):
    waybill_no: str
    status: str
    pieces_arrived: int
    final: bool
    vehicle_id: str | None = None
    eta: datetime | None = None


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    data: dict[str, Any]


class ShipmentSummary(BaseModel):
    waybill_no: str
    status: str
    origin: str
    destination: str
    via: list[str]
    promised_at: datetime
    eta: datetime | None = None
    delayed: bool
    delay_minutes: int
    delay_reason: str | None = None
    vehicle_id: str | None = None
    pieces: int
    pieces_arrived: int
    registered_at: datetime


class ShipmentRead(ShipmentSummary):
    last_position: PositionRead | None = None
    payment: str
    shipper: dict[str, Any]  # phone / e-mail masked
    consignee: dict[str, Any]  # phone / e-mail masked
    cargo: dict[str, Any]
    receipt: dict[str, Any]
    departed_at: datetime | None = None
    final_arrived_at: datetime | None = None
    delivered_at: datetime | None = None
    open_exceptions: int
    timeline: list[TimelineEntry]


class StaleScanResult(BaseModel):
    now: datetime
    stale_vehicles: int  # vehicles newly reported stale (once per silence)
    evaluated_shipments: int
    events: int
