"""Routes of the notification audit (newest first, addresses masked) and the desk's retry."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.notifier.context import DeskOrBranch, DeskPrincipal, RuntimeDep
from services.notifier.notifications import service
from services.notifier.notifications.models import NotificationDetail, NotificationRead, StatusName
from services.notifier.recipients.api import ERRORS, NOT_FOUND
from services.notifier.recipients.models import ChannelName
from shared.errors import ErrorResponse
from shared.pagination import MAX_LIMIT, Page, encode_cursor, read_cursor
from shared.types import Identifier, WaybillNo

router = APIRouter(prefix="/v1", tags=["notifier"])


@router.get("/notifications", response_model=Page[NotificationRead], responses=ERRORS,
            summary="The delivery audit, newest first; addresses masked")
async def list_notifications(
    rt: RuntimeDep,
    principal: DeskOrBranch,
    waybill_no: Annotated[WaybillNo | None, Query()] = None,
    customer_id: Annotated[Identifier | None, Query()] = None,
    status: Annotated[StatusName | None, Query()] = None,
    channel: Annotated[ChannelName | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> Page[NotificationRead]:
    key = read_cursor(cursor, datetime, uuid.UUID)
    after = (key[0], key[1]) if key is not None else None
    rows = await service.list_notifications(rt, principal=principal, waybill_no=waybill_no, customer_id=customer_id,
                                            status=status, channel=channel, after=after, limit=limit + 1)
    items = [NotificationRead.model_validate(service.view(r)) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last["created_at"].isoformat(), str(last["id"]))
    return Page[NotificationRead](items=items, next_cursor=next_cursor)


@router.get("/notifications/{notification_id}", response_model=NotificationDetail, responses=NOT_FOUND)
async def get_notification(notification_id: uuid.UUID, rt: RuntimeDep, principal: DeskOrBranch) -> dict[str, Any]:
    return await service.get_notification(rt, principal=principal, notification_id=notification_id)


@router.post("/notifications/{notification_id}/retry", response_model=NotificationDetail,
             responses={**NOT_FOUND, 409: {"model": ErrorResponse, "description":
                        "`invalid_transition`: queued, deferred or sent; `not_retryable`: nothing to send"}},
             summary="Send a failed or suppressed notification again (desk); audited")
async def retry_notification(notification_id: uuid.UUID, rt: RuntimeDep, principal: DeskPrincipal) -> dict[str, Any]:
    """Queue the notification for delivery again: `status` becomes `queued` (or `deferred` to the end
    of the recipient's quiet hours, for a non-urgent SMS); `attempts` goes on counting and the
    retry limit counts afresh; `retries` in the answer lists every retry, who and when."""
    return await service.retry(rt, principal=principal, notification_id=notification_id)
