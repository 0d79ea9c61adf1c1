"""The estimated time of arrival: fix time + road distance / effective speed + dwell per
remaining transfer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.tracking.domain.config import DEFAULT_ETA_CONFIG, EtaConfig
from services.tracking.domain.fixes import PositionLike
from services.tracking.domain.geo import GeoPoint, path_length_km
from services.tracking.domain.times import minutes, utc
from services.tracking.domain.track import recent_average_speed_kmh
from shared.errors import Invalid


def effective_speed_kmh(recent_speed_kmh: float | None, cfg: EtaConfig = DEFAULT_ETA_CONFIG) -> float:
    """Speed used for the ETA: the recent average bounded below, or the default cruise speed."""
    if recent_speed_kmh is None:
        return cfg.default_speed_kmh
    return max(cfg.min_speed_kmh, recent_speed_kmh)


@dataclass(frozen=True, slots=True)
class EtaEstimate:
    """An ETA and how it was obtained (kept for the timeline and for debugging disputes)."""

    eta: datetime
    computed_from: datetime  # the fix time the ETA is based on
    remaining_km: float  # road kilometres (great circle x road factor)
    speed_kmh: float  # the effective speed used
    pending_transfers: int
    drive_minutes: float
    dwell_minutes: float


def estimate_eta(
    *,
    position: GeoPoint,
    fix_at: datetime,
    pending_via: Sequence[GeoPoint],
    destination: GeoPoint,
    recent_speed_kmh: float | None,
    cfg: EtaConfig = DEFAULT_ETA_CONFIG,
) -> EtaEstimate:
    """ETA = fix time + road distance / effective speed + dwell per remaining transfer.

    The road distance is the great-circle path from ``position`` through the
    not-yet-reached transfer stations (in route order) to ``destination``, times the
    road factor. The ETA is truncated to whole seconds.
    """
    fix_at = utc(fix_at, "fix_at")
    remaining_km = path_length_km([position, *pending_via, destination]) * cfg.road_factor
    speed = effective_speed_kmh(recent_speed_kmh, cfg)
    drive_minutes = remaining_km / speed * 60.0
    dwell_minutes = len(pending_via) * cfg.dwell_minutes_per_transfer
    eta = fix_at + minutes(drive_minutes + dwell_minutes)
    return EtaEstimate(
        eta=eta.replace(microsecond=0),
        computed_from=fix_at,
        remaining_km=remaining_km,
        speed_kmh=speed,
        pending_transfers=len(pending_via),
        drive_minutes=drive_minutes,
        dwell_minutes=dwell_minutes,
    )


def estimate_eta_from_fixes(
    fixes: Sequence[PositionLike],
    *,
    pending_via: Sequence[GeoPoint],
    destination: GeoPoint,
    cfg: EtaConfig = DEFAULT_ETA_CONFIG,
) -> EtaEstimate:
    """ETA from a vehicle's recent fixes: the newest one is the position and "now"."""
    if not fixes:
        raise Invalid("no_position", "cannot estimate an ETA without a position")
    newest = max(fixes, key=lambda f: f.at)
    return estimate_eta(
        position=GeoPoint(newest.lat, newest.lon),
        fix_at=newest.at,
        pending_via=pending_via,
        destination=destination,
        recent_speed_kmh=recent_average_speed_kmh(fixes, newest.at, cfg),
        cfg=cfg,
    )
