"""HTTP routes of the notifier: parse, authorise, call the service, map errors."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, cast

import asyncpg
from fastapi import APIRouter, Depends, Path, Query, Response

from services.notifier import repository as repo
from services.notifier.domain import Channel, sms_info
from services.notifier.models import (
    AttemptRead,
    ChannelName,
    ChannelsIn,
    DigestRun,
    DispatchRun,
    NotificationDetail,
    NotificationRead,
    PreviewRead,
    PreviewRequest,
    QuietHoursIn,
    RecipientPut,
    RecipientRead,
    StatusName,
    TemplateRead,
)
from services.notifier.service import NotifierService
from services.notifier.templating import SAMPLE_DATA, TemplateNotFoundError
from shared.auth import DESK, Principal, require_roles
from shared.context import Runtime, runtime
from shared.errors import ErrorResponse, Invalid, not_found
from shared.pagination import MAX_LIMIT, Page, decode_cursor, encode_cursor
from shared.pii import mask_contact
from shared.types import Identifier, Instant, WaybillNo

router = APIRouter(prefix="/v1", tags=["notifier"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}
NOT_FOUND: dict[int | str, dict[str, Any]] = {**ERRORS, 404: {"model": ErrorResponse}}

desk = require_roles(*DESK)
desk_or_branch = require_roles(*DESK, "branch")
recipient_writers = require_roles("admin", "staff")
admin = require_roles("admin")

CustomerId = Annotated[Identifier, Path(description="the customer's id (as in the shipper's `customer_id`)")]


def service_of(rt: Runtime) -> NotifierService:
    return cast(NotifierService, rt.extras["notifier"])


def _branch(principal: Principal) -> str | None:
    return principal.branch if principal.role == "branch" else None


# --- recipients ---------------------------------------------------------------------------


def _recipient(row: asyncpg.Record) -> RecipientRead:
    return RecipientRead(
        customer_id=row["customer_id"], name=row["name"], phone=row["phone"], email=row["email"],
        language=row["language"], channels=ChannelsIn(sms=row["sms_enabled"], email=row["email_enabled"]),
        quiet_hours=QuietHoursIn(start=row["quiet_start"], end=row["quiet_end"], tz=row["quiet_tz"]),
        key_customer=row["key_customer"], updated_at=row["updated_at"], updated_by=row["updated_by"])


@router.put("/recipients/{customer_id}", response_model=RecipientRead,
            responses={**ERRORS, 201: {"model": RecipientRead, "description": "created"}},
            summary="Set a customer's contact preferences (they win over contacts carried by events)")
async def put_recipient(customer_id: CustomerId, body: RecipientPut, response: Response,
                        rt: Runtime = Depends(runtime),
                        principal: Principal = Depends(recipient_writers)) -> RecipientRead:
    values = {
        "name": body.name, "phone": body.phone, "email": body.email, "language": body.language,
        "sms": body.channels.sms, "email_enabled": body.channels.email,
        "quiet_start": body.quiet_hours.start, "quiet_end": body.quiet_hours.end,
        "quiet_tz": body.quiet_hours.tz, "key_customer": body.key_customer,
    }
    async with rt.pool.acquire() as conn, conn.transaction():
        row, created = await repo.put_recipient(conn, customer_id, values, principal.actor)
    response.status_code = 201 if created else 200
    return _recipient(row)


@router.get("/recipients/{customer_id}", response_model=RecipientRead, responses=NOT_FOUND)
async def get_recipient(customer_id: CustomerId, rt: Runtime = Depends(runtime),
                        _: Principal = Depends(desk)) -> RecipientRead:
    row = await repo.get_recipient(rt.pool, customer_id)
    if row is None:
        raise not_found("recipient", customer_id)
    return _recipient(row)


# --- notifications (the audit) ------------------------------------------------------------


def _notification(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"], "event_id": row["event_id"], "event_type": row["event_type"], "channel": row["channel"],
        "to": mask_contact(row["to_address"]) or "", "template": row["template"], "language": row["language"],
        "status": row["status"], "reason": row["reason"], "attempts": row["attempts"],
        "provider": row["provider"], "sent_at": row["sent_at"],
        "next_attempt_at": row["next_attempt_at"] if row["status"] in repo.ACTIVE else None,
        "last_error": row["last_error"], "waybill_no": row["waybill_no"], "customer_id": row["customer_id"],
        "created_at": row["created_at"],
    }


@router.get("/notifications", response_model=Page[NotificationRead], responses=ERRORS,
            summary="The delivery audit, newest first; addresses masked")
async def list_notifications(
    waybill_no: Annotated[WaybillNo | None, Query()] = None,
    customer_id: Annotated[Identifier | None, Query()] = None,
    status: Annotated[StatusName | None, Query()] = None,
    channel: Annotated[ChannelName | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    rt: Runtime = Depends(runtime),
    principal: Principal = Depends(desk_or_branch),
) -> Page[NotificationRead]:
    key = decode_cursor(cursor, 2)
    after = None
    if key is not None:
        try:
            after = (datetime.fromisoformat(str(key[0])), uuid.UUID(str(key[1])))
        except ValueError as exc:
            raise Invalid("invalid_cursor", "cursor is not valid") from exc
    rows = await repo.list_notifications(rt.pool, waybill_no=waybill_no, customer_id=customer_id, status=status,
                                         channel=channel, branch=_branch(principal), after=after, limit=limit + 1)
    items = [NotificationRead.model_validate(_notification(r)) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last["created_at"].isoformat(), str(last["id"]))
    return Page[NotificationRead](items=items, next_cursor=next_cursor)


@router.get("/notifications/{notification_id}", response_model=NotificationDetail, responses=NOT_FOUND)
async def get_notification(notification_id: uuid.UUID, rt: Runtime = Depends(runtime),
                           principal: Principal = Depends(desk_or_branch)) -> NotificationDetail:
    row = await repo.get_notification(rt.pool, notification_id, _branch(principal))
    if row is None:
        raise not_found("notification", str(notification_id))
    attempts = [AttemptRead(attempt=a["attempt"], provider=a["provider"], outcome=a["outcome"], error=a["error"],
                            duration_ms=a["duration_ms"], at=a["at"])
                for a in await repo.attempts_of(rt.pool, notification_id)]
    return NotificationDetail(**_notification(row), subject=row["subject"], delivery_attempts=attempts)


# --- templates ----------------------------------------------------------------------------


@router.get("/templates", response_model=list[TemplateRead], responses=ERRORS)
async def list_templates(rt: Runtime = Depends(runtime), _: Principal = Depends(desk)) -> list[TemplateRead]:
    return [TemplateRead(name=t.name, channel=t.channel, languages=[str(x) for x in t.languages])
            for t in service_of(rt).renderer.list_templates()]


@router.post("/templates/{name}/preview", response_model=PreviewRead, responses=NOT_FOUND,
             summary="Render a template with the given data, or with sample data")
async def preview_template(name: Annotated[str, Path(pattern=r"^[a-z0-9_]{1,64}$")], body: PreviewRequest,
                           rt: Runtime = Depends(runtime), _: Principal = Depends(desk)) -> PreviewRead:
    renderer = service_of(rt).renderer
    data = body.data if body.data is not None else SAMPLE_DATA.get(name)
    if data is None:
        data = {}
    try:
        rendered = renderer.render(name, body.channel, body.language, data)
    except TemplateNotFoundError as exc:
        raise not_found("template", f"{name} ({body.channel})") from exc
    except Exception as exc:  # bad preview data: say what is wrong
        raise Invalid("template_data_invalid", f"{type(exc).__name__}: {exc}"[:500]) from exc
    segments = sms_info(rendered.text).segments if body.channel == Channel.SMS else None
    return PreviewRead(name=name, channel=body.channel, language=str(rendered.language),
                       subject=rendered.subject, text=rendered.text, html=rendered.html, sms_segments=segments)


# --- admin ------------------------------------------------------------------------------


@router.post("/admin/digest", response_model=DigestRun, responses=ERRORS,
             summary="Queue the key customers' daily arrival report now (once per customer per day)")
async def run_digest(day: Annotated[date | None, Query(description="local date; default today")] = None,
                     rt: Runtime = Depends(runtime), _: Principal = Depends(admin)) -> DigestRun:
    service = service_of(rt)
    the_day = day or service.digest_day(datetime.now(UTC))
    outcome = await service.run_digest(the_day)
    return DigestRun(day=the_day, key_customers=outcome.key_customers, queued=outcome.queued,
                     already_done=outcome.already_done, skipped_no_email=outcome.skipped_no_email)


@router.post("/admin/dispatch", response_model=DispatchRun, responses=ERRORS,
             summary="Send what is due at `now` (default: the wall clock) once, e.g. to flush deferred messages")
async def run_dispatch(now: Annotated[Instant | None, Query()] = None,
                       waybill_no: Annotated[WaybillNo | None, Query()] = None,
                       rt: Runtime = Depends(runtime), _: Principal = Depends(admin)) -> DispatchRun:
    at = now or datetime.now(UTC)
    processed = await service_of(rt).dispatch_pass(at, waybill_no)
    return DispatchRun(now=at, processed=processed)
