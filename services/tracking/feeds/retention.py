"""The positions retention sweep: fixes older than `LCS_POSITIONS_RETENTION_DAYS` are deleted,
in batches (short transactions), by the service's periodic job."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from services.tracking.context import TrackingRuntime
from services.tracking.feeds import repository

log = logging.getLogger("lcs.tracking.feeds")


async def sweep_positions(rt: TrackingRuntime, *, now: datetime) -> int:
    """Delete fixes older than the retention period; how many were deleted."""
    settings = rt.settings
    before = now - timedelta(days=settings.positions_retention_days)
    total = 0
    while True:
        async with rt.pool.acquire() as conn:  # each batch its own (autocommitted) statement
            deleted = await repository.delete_positions_before(conn, before, settings.positions_sweep_batch)
        total += deleted
        if deleted < settings.positions_sweep_batch:
            break
    if total:
        log.info("positions retention sweep", extra={"deleted": total, "before": before.isoformat()})
    return total
