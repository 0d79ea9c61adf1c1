"""The overdue chase: announce every overdue stage of every receipt once, ever
(`receipts.receipt.overdue.v1`, which the notifier turns into messages to the destination
station). Run by the periodic job, and on demand by an admin."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from prometheus_client import Counter

from services.receipts.chasing import repository
from services.receipts.context import SOURCE, ReceiptsRuntime
from services.receipts.domain.lifecycle import ReceiptStatus
from services.receipts.domain.overdue import OverdueStage, days_overdue, overdue_stage, stages_to_emit
from services.receipts.receipts.service import station_contact
from shared.context import uow
from shared.events import ReceiptOverdue
from shared.metrics import count
from shared.outbox import publish
from shared.scheduler import Job

log = logging.getLogger("lcs.receipts")

OVERDUE_EMITTED_TOTAL = Counter("lcs_receipts_overdue_emitted_total", "Overdue chase events emitted", ["stage"])


async def chase(rt: ReceiptsRuntime, *, as_of: datetime) -> dict[str, Any]:
    """Announce every overdue stage reached at ``as_of`` and not announced yet (idempotent).

    Keyset batches over the partial chase index, one transaction per batch. The unique
    (receipt, stage) row is claimed before the event is written, in the same
    transaction, so overlapping runners can never announce a stage twice.
    """
    batch_size = rt.context.chase_batch_size
    emitted: list[dict[str, Any]] = []
    scanned = 0
    after: tuple[datetime, str] | None = None
    while True:
        async with uow(rt) as conn:
            rows = await repository.chase_candidates(conn, as_of=as_of, after=after, limit=batch_size)
            for row in rows:
                scanned += 1
                done = set(row["emitted"])
                stage_now = overdue_stage(ReceiptStatus(row["status"]), due_at=row["due_at"],
                                          final_due_at=row["final_due_at"], as_of=as_of)
                for stage in stages_to_emit(done, stage_now):
                    deadline = row["due_at"] if stage is OverdueStage.DUE else row["final_due_at"]
                    event_id = uuid.uuid4()
                    if not await repository.record_chase(conn, waybill_no=row["waybill_no"], stage=stage.value,
                                                         deadline=deadline, as_of=as_of, event_id=event_id):
                        continue
                    late_days = days_overdue(deadline, as_of, rt.context.deadlines)
                    await publish(conn, ReceiptOverdue(
                        waybill_no=row["waybill_no"], stage=stage.value, due_at=deadline, status=row["status"],
                        origin=row["origin"], destination=row["destination"],
                        station_contact=station_contact(row["station_contact"]), days_overdue=late_days,
                    ), source=SOURCE, event_id=event_id)
                    count(OVERDUE_EMITTED_TOTAL.labels(stage.value))
                    done.add(stage.value)
                    emitted.append({"waybill_no": row["waybill_no"], "stage": stage, "due_at": deadline,
                                    "days_overdue": late_days, "event_id": event_id,
                                    "destination": row["destination"]})
                reachable = {OverdueStage.DUE.value} | ({OverdueStage.FINAL.value} if row["final_due_at"] else set())
                if reachable <= done:
                    # Nothing left to announce: drop it from the chase index.
                    await repository.mark_chase_done(conn, row["waybill_no"])
        if len(rows) < batch_size:
            break
        after = (rows[-1]["due_at"], rows[-1]["waybill_no"])
    if emitted:
        log.info("overdue receipts chased", extra={"as_of": as_of.isoformat(), "emitted": len(emitted)})
    return {"as_of": as_of, "scanned": scanned, "emitted": emitted}


def job(rt: ReceiptsRuntime) -> Job:
    """The periodic chase (one runner at a time across replicas)."""

    async def run(now: datetime) -> None:
        await chase(rt, as_of=now)

    return run
