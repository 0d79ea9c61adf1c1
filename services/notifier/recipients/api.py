"""Routes of the recipients' preferences."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Path, Response

from services.notifier.context import DeskPrincipal, NotifierRuntime, RecipientWriter, RuntimeDep
from services.notifier.domain import wecom
from services.notifier.recipients import service
from services.notifier.recipients.models import (
    ChannelsIn,
    QuietHoursIn,
    RecipientPut,
    RecipientRead,
    StorageReportIn,
)
from shared.errors import ErrorResponse
from shared.types import Identifier

router = APIRouter(prefix="/v1", tags=["notifier"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}
NOT_FOUND: dict[int | str, dict[str, Any]] = {**ERRORS, 404: {"model": ErrorResponse}}

CustomerId = Annotated[Identifier, Path(description="the customer's id (as in the shipper's `customer_id`)")]


def _recipient(rt: NotifierRuntime, row: asyncpg.Record) -> RecipientRead:
    key = row["wecom_key"]
    return RecipientRead(
        customer_id=row["customer_id"], name=row["name"], phone=row["phone"], email=row["email"],
        language=row["language"],
        channels=ChannelsIn(sms=row["sms_enabled"], email=row["email_enabled"], wecom=row["wecom_enabled"]),
        quiet_hours=QuietHoursIn(start=row["quiet_start"], end=row["quiet_end"], tz=row["quiet_tz"]),
        key_customer=row["key_customer"],
        wecom_webhook=wecom.masked_webhook(rt.settings.wecom_base_url, key) if key else None,
        storage_report=StorageReportIn(enabled=row["storage_report_enabled"], hour=row["storage_report_hour"]),
        updated_at=row["updated_at"], updated_by=row["updated_by"])


@router.put("/recipients/{customer_id}", response_model=RecipientRead,
            responses={**ERRORS, 201: {"model": RecipientRead, "description": "created"}},
            summary="Set a customer's contact preferences (they win over contacts carried by events)")
async def put_recipient(customer_id: CustomerId, body: RecipientPut, response: Response, rt: RuntimeDep,
                        principal: RecipientWriter) -> RecipientRead:
    row, created = await service.put_recipient(rt, principal=principal, customer_id=customer_id, body=body)
    response.status_code = 201 if created else 200
    return _recipient(rt, row)


@router.get("/recipients/{customer_id}", response_model=RecipientRead, responses=NOT_FOUND)
async def get_recipient(customer_id: CustomerId, rt: RuntimeDep, _: DeskPrincipal) -> RecipientRead:
    return _recipient(rt, await service.get_recipient(rt, customer_id=customer_id))
