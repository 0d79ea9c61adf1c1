"""Request and response models of shipments: registration, scans, reads, lists and searches.

Request models forbid unknown fields (`Strict`, every request model of the service): a typo in
a partner's integration must fail loudly (422), not be silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.tracking.appointments.models import AppointmentRead
from services.tracking.domain.scans import ScanType
from shared.types import (
    Email,
    Identifier,
    Instant,
    Name,
    Phone,
    Pieces,
    ShortText,
    StationCode,
    WaybillNo,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- positions --------------------------------------------------------------------------


class PositionRead(BaseModel):  # a position, wherever one is returned

    at: datetime
    lat: float
    lon: float
    speed_kmh: float | None = None
    heading: float | None = None

    @classmethod
    def of_vehicle(cls, vehicle: Mapping[str, Any]) -> PositionRead | None:
        """A vehicle row's newest fix (None: it never reported)."""
        if vehicle["last_fix_at"] is None:
            return None
        return cls(at=vehicle["last_fix_at"], lat=vehicle["last_lat"], lon=vehicle["last_lon"],
                   speed_kmh=vehicle["last_speed_kmh"], heading=vehicle["last_heading"])


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


class ShipmentFields(BaseModel):  # what every shipment answer carries
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


class ShipmentSummary(ShipmentFields):  # a shipment in a list or a search's results
    shipper_name: str | None = None
    consignee_name: str | None = Field(default=None, description="masked, e.g. 杨**")


class ShipmentRead(ShipmentFields):
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
    appointment: AppointmentRead | None = Field(default=None, description="the current delivery appointment "
                                                                          "(预约送货) and its outcome")
    outside_window: bool = Field(default=False, description="the delivery was signed outside the appointment's "
                                                            "window")
    timeline: list[TimelineEntry]


# --- the CSV import ---------------------------------------------------------------------


class ImportResultOut(BaseModel):
    registered: int
    already_imported: bool = False
    waybills: list[str] = []
