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
from shared.errors import Invalid
from shared.types import Day, Identifier, Instant

router = APIRouter(prefix="/v1", tags=["notifier"])


@router.post("/admin/storage-report", response_model=StorageReportRun, responses=NOT_FOUND,
             summary="Queue the key accounts' storage report (货物暂存报表) now (once per account per day)")
async def run_storage_report(
        rt: RuntimeDep, _: AdminPrincipal,
        day: Annotated[Day | None, Query(description="local date; default today")] = None,
        customer_id: Annotated[Identifier | None, Query(
            description="this key account only, even if it has not asked for the daily report")] = None,
        as_of: Annotated[Instant | None, Query(
            description="run what the periodic job would run at this time: the accounts whose own hour has "
                        "come, for that local day (not with `day` or `customer_id`)")] = None,
) -> StorageReportRun:
    """Every key account with `storage_report.enabled` (or the one named) gets `day`'s report by
    e-mail now, whatever its hour; with `as_of`, exactly what the job does at that time. A report
    already queued for that day is not queued again."""
    if as_of is not None and (day is not None or customer_id is not None):
        raise Invalid("conflicting_parameters", "as_of runs the job: give it alone, without day or customer_id")
    the_day = day or digest_day(rt, as_of or utcnow())
    outcome = await service.run_storage_reports(rt, day=the_day, customer_id=customer_id, now=as_of)
    return StorageReportRun(day=the_day, accounts=outcome.accounts, queued=outcome.queued,
                            already_done=outcome.already_done, skipped_no_email=outcome.skipped_no_email)
