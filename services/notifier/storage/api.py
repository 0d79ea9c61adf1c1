"""The admin's storage report route: queue a day's storage reports now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.notifier.context import AdminPrincipal, RuntimeDep
from services.notifier.digest.service import digest_day
from services.notifier.recipients.api import NOT_FOUND
from services.notifier.storage import service
from services.notifier.storage.models import StorageReportRun
from shared.clock import utcnow
from shared.types import Day, Identifier

router = APIRouter(prefix="/v1", tags=["notifier"])


@router.post("/admin/storage-report", response_model=StorageReportRun, responses=NOT_FOUND,
             summary="Queue the key accounts' storage report (货物暂存报表) now (once per account per day)")
async def run_storage_report(
        rt: RuntimeDep, _: AdminPrincipal,
        day: Annotated[Day | None, Query(description="local date; default today")] = None,
        customer_id: Annotated[Identifier | None, Query(
            description="this key account only, even if it has not asked for the daily report")] = None,
) -> StorageReportRun:
    """Every key account with `storage_report.enabled` (or the one named) gets `day`'s report by
    e-mail now, whatever its hour; a report already queued for that day is not queued again."""
    the_day = day or digest_day(rt, utcnow())
    outcome = await service.run_storage_reports(rt, day=the_day, customer_id=customer_id)
    return StorageReportRun(day=the_day, accounts=outcome.accounts, queued=outcome.queued,
                            already_done=outcome.already_done, skipped_no_email=outcome.skipped_no_email)
