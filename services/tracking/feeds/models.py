"""Positions as the feeds read them (the batch API's body, an ingested fix) and the ingest's answer."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from pydantic import BaseModel, Field

from services.tracking.domain.fixes import Fix
from services.tracking.shipments.models import Strict
from shared.types import Identifier, Instant


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


class Incoming(NamedTuple):
    """A validated fix of a registered vehicle, in `positions` column order: the tuple itself is
    the COPY record (a tuple, not a frozen dataclass: a batch makes thousands of them)."""

    vehicle_id: str
    at: datetime
    lat: float
    lon: float
    speed_kmh: float | None = None
    heading: float | None = None
    altitude: float | None = None
    accuracy: float | None = None
    battery: float | None = None

    @classmethod
    def from_fix(cls, vehicle_id: str, fix: Fix) -> Incoming:
        return cls(vehicle_id, fix.at, fix.lat, fix.lon, fix.speed_kmh, fix.heading, fix.altitude, fix.accuracy,
                   fix.battery)
