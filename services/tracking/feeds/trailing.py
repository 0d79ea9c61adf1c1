"""Trailing evaluations: a fix that was not evaluated when it arrived is evaluated later, never
dropped.

A live feed evaluates a vehicle at most once per `LCS_EVALUATION_INTERVAL_SECONDS` of its feed
(`domain.track.evaluation_due`), and only one transaction evaluates a vehicle at a time
(`shipments.repository.EVALUATION_LOCK`). A fix that is its vehicle's newest but was not
evaluated (within the interval, or the vehicle claimed by a concurrent ingest) sets
`vehicles.evaluation_due_at` to one interval later (the earliest such time wins); an evaluation at
the vehicle's newest fix clears it (`feeds.repository.store_fixes`). So when the feed goes quiet
(a truck that reports once more, back on time near its destination, then nothing), the worker
here evaluates the vehicle at its last fix at most one interval after it: the state after the
last fix is the state the last fix implies, within the interval.

Every replica runs the worker; a vehicle is claimed `FOR UPDATE SKIP LOCKED` and its evaluation
claimed too, so it is evaluated by one of them once, and a vehicle an ingest is evaluating right
now is left to it (that ingest clears the due time when its fix is the newest).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from services.tracking.context import TrackingRuntime
from services.tracking.feeds import repository
from services.tracking.shipments import evaluation
from services.tracking.shipments.repository import claim_evaluations
from shared.context import uow

log = logging.getLogger("lcs.tracking.trailing")

BATCH = 100  # vehicles claimed per transaction


async def evaluate_due(rt: TrackingRuntime, *, as_of: datetime | None = None, limit: int = BATCH) -> list[str]:
    """One transaction: the vehicles due for a trailing evaluation at `as_of` (None: the database
    clock), each evaluated at its newest fix, its due time cleared. Returns the vehicles evaluated."""
    async with uow(rt) as conn:
        rows = await repository.claim_due_vehicles(conn, as_of, limit)
        if not rows:
            return []
        claimed = await claim_evaluations(conn, [r["vehicle_id"] for r in rows])
        # the rows are locked, so nothing moves them while they are judged; one another transaction
        # is evaluating stays due (that transaction clears it when its fix is the newest)
        mine = [r for r in rows if r["vehicle_id"] in claimed]
        if mine:
            await evaluation.evaluate_vehicles(conn, eta=rt.context.eta, vehicles=mine)
            await repository.mark_evaluated(conn, [r["vehicle_id"] for r in mine])
    return [r["vehicle_id"] for r in mine]


async def run_trailing_evaluations(rt: TrackingRuntime) -> None:
    """Service worker (every replica): the due vehicles every `LCS_EVALUATION_POLL_SECONDS`."""
    while True:
        try:
            while len(await evaluate_due(rt)) >= BATCH:
                pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("trailing evaluations failed")
        await asyncio.sleep(rt.settings.evaluation_poll_seconds)
