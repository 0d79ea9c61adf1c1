"""The admin's digest route: queue a day's key-customer reports now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.notifier.context import AdminPrincipal, RuntimeDep
from services.notifier.digest import service
from services.notifier.digest.models import DigestRun
from services.notifier.recipients.api import ERRORS
from shared.clock import utcnow
from shared.types import Day

router = APIRouter(prefix="/v1", tags=["notifier"])


@router.post("/admin/digest", response_model=DigestRun, responses=ERRORS,
             summary="Queue the key customers' daily arrival report now (once per customer per day)")
async def run_digest(rt: RuntimeDep, _: AdminPrincipal,
                     day: Annotated[Day | None, Query(description="local date; default today")] = None) -> DigestRun:
    the_day = day or service.digest_day(rt, utcnow())
    outcome = await service.run_digest(rt, day=the_day)
    return DigestRun(day=the_day, key_customers=outcome.key_customers, queued=outcome.queued,
                     already_done=outcome.already_done, skipped_no_email=outcome.skipped_no_email)
