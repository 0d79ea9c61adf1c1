"""Vehicles without signal: when a vehicle is stale and when its silence is announced."""

from __future__ import annotations

from datetime import datetime

from services.tracking.domain.config import DEFAULT_ETA_CONFIG, EtaConfig
from services.tracking.domain.times import minutes, utc


def is_stale(last_fix_at: datetime | None, now: datetime, cfg: EtaConfig = DEFAULT_ETA_CONFIG) -> bool:
    """A vehicle is stale when its newest fix is ``no_signal_minutes`` old, or it never reported."""
    now = utc(now, "now")
    if last_fix_at is None:
        return True
    return now - utc(last_fix_at, "last_fix_at") >= minutes(cfg.no_signal_minutes)


def stale_event_due(
    *,
    last_fix_at: datetime | None,
    now: datetime,
    flagged_for_fix_at: datetime | None,
    cfg: EtaConfig = DEFAULT_ETA_CONFIG,
) -> bool:
    """Whether to emit ``tracking.vehicle.stale.v1`` now: once per silence.

    A silence is identified by the fix it follows, so the caller stores
    ``flagged_for_fix_at = last_fix_at`` when it emits; any newer fix starts a new
    silence with no reset step needed. A vehicle that never reported has no silence
    to announce (the 08:00 report shows it as stale).
    """
    if last_fix_at is None or not is_stale(last_fix_at, now, cfg):
        return False
    return flagged_for_fix_at is None or utc(flagged_for_fix_at, "flagged_for_fix_at") != (
        utc(last_fix_at, "last_fix_at")
    )
