"""What the public may see of a waybill (the tracking page of web, `/track` and `/t/{token}`).

- Waybill number alone: the stage (registered / in transit / arrived / out for delivery /
  delivered) and the city it is in, nothing else (`coarse`).
- With proof — the last 4 digits of the shipper's or the consignee's phone, or a signed link —
  the city-level timeline, the ETA as a day and half-day (hidden once passed), the delay reason
  (a code; web puts it in plain words) and the signer, masked (张*), with the signing time.
- Never coordinates, phones, ID numbers, the vehicle, notes or the desk's own words.

`digits_match` compares the digits against every stored last-4 in constant time, always against
`SLOTS` values (padded with a value no input can equal), so an unknown waybill (compared against
nothing but padding), a wrong guess and a right one cost the same.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from services.tracking.domain.scans import ScanType, ShipmentStatus
from shared.clock import BUSINESS_TZ
from shared.pii import mask_name

SLOTS = 2  # shipper and consignee
_PAD = "\x00pad\x00"  # 5 characters: never equal to the 4 digits a caller may send


class Stage(StrEnum):
    REGISTERED = "registered"
    IN_TRANSIT = "in_transit"
    ARRIVED = "arrived"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"


# The stored base status → the public stage. An open exception is the desk's business: the
# public sees the stage the goods are in.
STAGE_OF: Mapping[ShipmentStatus, Stage] = {
    ShipmentStatus.REGISTERED: Stage.REGISTERED, ShipmentStatus.IN_TRANSIT: Stage.IN_TRANSIT,
    ShipmentStatus.ARRIVED: Stage.ARRIVED, ShipmentStatus.OUT_FOR_DELIVERY: Stage.OUT_FOR_DELIVERY,
    ShipmentStatus.DELIVERED: Stage.DELIVERED, ShipmentStatus.EXCEPTION: Stage.IN_TRANSIT,
}

# Timeline entries the public sees, as (kind, scan type) → the public event.
PUBLIC_SCAN_EVENTS: Mapping[str, str] = {
    ScanType.DEPARTED: "departed", ScanType.ARRIVED_TRANSFER: "arrived_transfer",
    ScanType.DEPARTED_TRANSFER: "departed_transfer", ScanType.ARRIVED: "arrived",
    ScanType.OUT_FOR_DELIVERY: "out_for_delivery",
}


def digits_match(given: str, stored: Sequence[str] | None) -> bool:
    """Whether `given` equals one of the stored last-4 digits; constant time over `SLOTS` values."""
    slots = [*(stored or [])][:SLOTS]
    slots += [_PAD] * (SLOTS - len(slots))
    found = False
    for value in slots:
        found |= hmac.compare_digest(given.encode(), value.encode())
    return found


def stage_of(status: str) -> Stage:
    return STAGE_OF[ShipmentStatus(status)]


def current_station(stage: Stage, *, origin: str, destination: str, last_scan_station: str | None) -> str:
    """Where the goods are, as a station: at the origin until they leave, at the destination once
    they arrived, else the station of the last scan (the transfer station they reached or left)."""
    if stage in (Stage.ARRIVED, Stage.OUT_FOR_DELIVERY, Stage.DELIVERED):
        return destination
    if stage is Stage.REGISTERED:
        return origin
    return last_scan_station or origin


@dataclass(frozen=True)
class HalfDay:
    """An ETA as the public sees it: a day and its half (`am` before noon, `pm` after)."""

    day: date
    half: str


def public_eta(eta: datetime | None, stage: Stage, now: datetime) -> HalfDay | None:
    """The ETA's day and half-day in the business time zone; None once it passed or delivered."""
    if eta is None or stage is Stage.DELIVERED or eta <= now:
        return None
    local = eta.astimezone(BUSINESS_TZ)
    return HalfDay(day=local.date(), half="am" if local.hour < 12 else "pm")


@dataclass(frozen=True)
class PublicEvent:
    at: datetime
    event: str  # registered | departed | arrived_transfer | departed_transfer | arrived | out_for_delivery
    #             | delayed | recovered | delivered
    city: str | None = None
    reason: str | None = None  # delayed: the reason's code


@dataclass(frozen=True)
class Signer:
    name: str
    signed_at: datetime


@dataclass(frozen=True)
class PublicTimeline:
    events: list[PublicEvent] = field(default_factory=list)
    signer: Signer | None = None


def public_timeline(entries: Sequence[Mapping[str, Any]], city_of: Mapping[str, str]) -> PublicTimeline:
    """The timeline at city level: registration, scans, delays and recoveries (the reason only),
    the delivery (signer masked). Notes and exceptions (the desk's words) and every vehicle,
    position, phone and ID number stay out."""
    events: list[PublicEvent] = []
    signer: Signer | None = None
    for entry in entries:
        kind, at, data = entry["kind"], entry["at"], entry["data"] or {}
        if kind == "registered":
            events.append(PublicEvent(at=at, event="registered", city=city_of.get(str(data.get("origin")))))
        elif kind == "scan" and data.get("type") in PUBLIC_SCAN_EVENTS:
            events.append(PublicEvent(at=at, event=PUBLIC_SCAN_EVENTS[data["type"]],
                                      city=city_of.get(str(data.get("station")))))
        elif kind == "delayed":
            events.append(PublicEvent(at=at, event="delayed", reason=data.get("reason")))
        elif kind == "recovered":
            events.append(PublicEvent(at=at, event="recovered"))
        elif kind == "delivered":
            events.append(PublicEvent(at=at, event="delivered", city=city_of.get(str(data.get("station")))))
            signer = Signer(name=mask_name(str(data.get("signer_name") or "")) or "*", signed_at=at)
    return PublicTimeline(events=events, signer=signer)
