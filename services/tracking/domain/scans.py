"""Routes, scans and split shipments: what the scans say about a shipment (`ScanState`), the
status shown to users, and the signed delivery that ends it.

An impossible scan is a 409 `Conflict` naming the rule (`apply_scan`); a route that cannot be
registered, a 422 (`check_route`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from services.tracking.domain.times import utc
from shared.errors import Conflict, Invalid


class ScanType(StrEnum):
    DEPARTED = "departed"
    ARRIVED_TRANSFER = "arrived_transfer"
    DEPARTED_TRANSFER = "departed_transfer"
    ARRIVED = "arrived"
    OUT_FOR_DELIVERY = "out_for_delivery"


class ShipmentStatus(StrEnum):
    REGISTERED = "registered"
    IN_TRANSIT = "in_transit"
    ARRIVED = "arrived"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    EXCEPTION = "exception"  # displayed only, while an exception is open; never stored as base


@dataclass(frozen=True, slots=True)
class Route:
    """Origin, transfer stations in order, destination (station codes)."""

    origin: str
    destination: str
    via: tuple[str, ...] = ()

    @property
    def transfers(self) -> int:
        return len(self.via)

    @property
    def stations(self) -> tuple[str, ...]:
        return (self.origin, *self.via, self.destination)


def check_route(origin: str, destination: str, via: Sequence[str]) -> None:
    """422 `invalid_route` unless origin and destination differ and the transfers are distinct
    stations other than both."""
    if origin == destination:
        raise Invalid("invalid_route", "origin and destination must differ", {"field": "destination"})
    if len(set(via)) != len(via) or {origin, destination} & set(via):
        raise Invalid("invalid_route", "via must list distinct transfer stations other than origin and destination",
                      {"field": "via"})


def pending_via(route: Route, reached: Iterable[str]) -> tuple[str, ...]:
    """Transfer stations still ahead: those after the last reached one, in route order.

    Reaching a later transfer implies the earlier ones were passed (a missed scan must
    not put the truck back on a detour in the ETA).
    """
    reached_set = set(reached)
    last = -1
    for i, code in enumerate(route.via):
        if code in reached_set:
            last = i
    return route.via[last + 1 :]


@dataclass(frozen=True, slots=True)
class Scan:
    type: ScanType
    station: str
    at: datetime
    pieces: int | None = None  # None on a batch scan means "all remaining pieces"
    vehicle_id: str | None = None


@dataclass(frozen=True, slots=True)
class ScanState:
    """What the scans so far say about a shipment (the base status, never ``exception``).

    ``final`` becomes true, and ``arrived_at`` is set to that scan's time, when the
    ``arrived`` batches add up to ``pieces_total`` (split shipments: the last batch).
    """

    pieces_total: int
    status: ShipmentStatus = ShipmentStatus.REGISTERED
    pieces_arrived: int = 0
    departed_at: datetime | None = None
    last_scan_at: datetime | None = None
    reached_via: tuple[str, ...] = ()
    final: bool = False
    arrived_at: datetime | None = None


def _scan_error(code: str, message: str, scan: Scan) -> Conflict:
    return Conflict(
        code, message, {"type": str(scan.type), "station": scan.station, "at": scan.at.isoformat()}
    )


def apply_scan(state: ScanState, scan: Scan, route: Route) -> ScanState:
    """Validate ``scan`` against the shipment and return the new derived state.

    Raises `Conflict` (409) with one of:
    ``already_delivered``, ``already_arrived``, ``time_before_previous_scan``,
    ``station_not_on_route``, ``invalid_pieces``, ``pieces_exceed_waybill``,
    ``scan_before_departure``, ``scan_before_arrival``, ``departure_not_at_origin``,
    ``transfer_not_on_route``, ``arrival_not_at_destination``.
    """
    at = utc(scan.at, "at")
    if state.status is ShipmentStatus.DELIVERED:
        raise _scan_error("already_delivered", "the shipment has already been delivered", scan)
    if state.last_scan_at is not None and at < state.last_scan_at:
        raise _scan_error(
            "time_before_previous_scan",
            f"scan time is before the previous scan ({state.last_scan_at.isoformat()})",
            scan,
        )
    if scan.station not in route.stations:
        raise _scan_error(
            "station_not_on_route", f"station {scan.station} is not on this shipment's route", scan
        )
    if scan.pieces is not None:
        if scan.pieces <= 0:
            raise _scan_error("invalid_pieces", "pieces must be at least 1", scan)
        if scan.pieces > state.pieces_total:
            raise _scan_error(
                "pieces_exceed_waybill",
                f"{scan.pieces} pieces scanned but the waybill has {state.pieces_total}",
                scan,
            )
    departed = state.departed_at is not None
    new = replace(state, last_scan_at=at)

    if scan.type is ScanType.DEPARTED:
        if scan.station != route.origin:
            raise _scan_error("departure_not_at_origin", f"departure must be scanned at {route.origin}", scan)
        if state.final:
            raise _scan_error("already_arrived", "every piece has already arrived", scan)
        # Further `departed` scans are later batches of a split shipment.
        status = ShipmentStatus.IN_TRANSIT if state.status is ShipmentStatus.REGISTERED else state.status
        return replace(new, status=status, departed_at=state.departed_at or at)

    if not departed:
        raise _scan_error("scan_before_departure", f"{scan.type} scanned before the shipment departed", scan)

    if scan.type in (ScanType.ARRIVED_TRANSFER, ScanType.DEPARTED_TRANSFER):
        if scan.station not in route.via:
            raise _scan_error(
                "transfer_not_on_route", f"{scan.station} is not a transfer station of this route", scan
            )
        # A departed_transfer without its arrival scan still proves the goods got there.
        reached = (
            state.reached_via if scan.station in state.reached_via else (*state.reached_via, scan.station)
        )
        return replace(new, reached_via=reached)

    if scan.station != route.destination:
        raise _scan_error(
            "arrival_not_at_destination", f"{scan.type} must be scanned at {route.destination}", scan
        )

    if scan.type is ScanType.ARRIVED:
        if state.final:
            raise _scan_error("already_arrived", "every piece has already arrived", scan)
        batch = scan.pieces if scan.pieces is not None else state.pieces_total - state.pieces_arrived
        arrived = state.pieces_arrived + batch
        if arrived > state.pieces_total:
            raise _scan_error(
                "pieces_exceed_waybill",
                f"{arrived} pieces would have arrived but the waybill has {state.pieces_total}",
                scan,
            )
        final = arrived == state.pieces_total
        if final:
            status = (
                ShipmentStatus.OUT_FOR_DELIVERY
                if state.status is ShipmentStatus.OUT_FOR_DELIVERY
                else ShipmentStatus.ARRIVED
            )
        else:
            # Part of the goods is still on the road: keep tracking it as in transit.
            status = (
                state.status if state.status is ShipmentStatus.OUT_FOR_DELIVERY else ShipmentStatus.IN_TRANSIT
            )
        return replace(
            new,
            status=status,
            pieces_arrived=arrived,
            final=final,
            arrived_at=at if final else None,
            reached_via=route.via,
        )

    # OUT_FOR_DELIVERY: at least one batch must be at the destination to go out.
    if state.pieces_arrived == 0:
        raise _scan_error("scan_before_arrival", "out_for_delivery scanned before any piece arrived", scan)
    return replace(new, status=ShipmentStatus.OUT_FOR_DELIVERY)


def replay_scans(route: Route, pieces_total: int, scans: Iterable[Scan]) -> ScanState:
    """Fold recorded scans (oldest first) into the state; raises on the first impossible one."""
    state = ScanState(pieces_total=pieces_total)
    for scan in scans:
        state = apply_scan(state, scan, route)
    return state


def apply_delivery(state: ScanState, signed_at: datetime, pieces: int) -> ScanState:
    """Record the signed delivery: pieces must have arrived and the time must follow the scans."""
    at = utc(signed_at, "signed_at")
    if state.status is ShipmentStatus.DELIVERED:
        raise Conflict("already_delivered", "the shipment has already been delivered")
    if pieces <= 0:
        raise Invalid("invalid_pieces", "pieces must be at least 1", {"pieces": pieces})
    if pieces > state.pieces_total:
        raise Invalid(
            "pieces_exceed_waybill",
            f"{pieces} pieces signed but the waybill has {state.pieces_total}",
            {"pieces": pieces, "pieces_total": state.pieces_total},
        )
    if state.pieces_arrived == 0:
        raise Invalid("delivery_before_arrival", "no piece has arrived at the destination yet")
    if state.last_scan_at is not None and at < state.last_scan_at:
        raise Invalid(
            "time_before_previous_scan",
            "signed_at is before the last scan",
            {"last_scan_at": state.last_scan_at.isoformat()},
        )
    return replace(state, status=ShipmentStatus.DELIVERED, last_scan_at=at)


def displayed_status(base: ShipmentStatus, open_exceptions: int) -> ShipmentStatus:
    """The status shown to users: ``exception`` while any exception is open, else the base."""
    return ShipmentStatus.EXCEPTION if open_exceptions > 0 else base
