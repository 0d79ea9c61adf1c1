"""HTTP routes of the complaints desk: parse, authorise, call `service`, map errors."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from services.complaints import service
from services.complaints.domain import (
    Action,
    CallbackSettled,
    DomainError,
    InvalidTransition,
    render_report_csv,
    response_action,
)
from services.complaints.models import (
    CallbackDue,
    CallCreate,
    CallRead,
    CloseIn,
    ComplaintCreate,
    ComplaintRead,
    ComplaintsReportRead,
    ComplaintSummary,
    CustomerRead,
    CustomerReplyCreate,
    CustomerUpdate,
    EscalateIn,
    ReopenIn,
    ResolveIn,
    ResponseCreate,
    SlaPoliciesIn,
    SlaPoliciesRead,
    SlaScanRead,
    SurveyIn,
    TicketStatusName,
    VisitCreate,
    VisitRead,
    VisitsDueRead,
)
from services.complaints.settings import ComplaintsSettings
from shared.auth import DESK, Principal, require_roles
from shared.context import Runtime, runtime
from shared.csvout import wants_csv
from shared.errors import Conflict, ErrorResponse, Invalid, NotFound
from shared.pagination import MAX_LIMIT, Page, decode_cursor, encode_cursor
from shared.pii import mask_email, mask_phone
from shared.types import Identifier, Instant, WaybillNo

desk = require_roles(*DESK)
desk_or_branch = require_roles(*DESK, "branch")
admin_only = require_roles("admin")

E404: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "not found (or not visible to this branch)"}}
E409: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "invalid_transition: the state machine refuses this step"}}
ComplaintId = Annotated[uuid.UUID, Path(description="complaint id")]
CustomerId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$", description="customer id")]


def settings_of(rt: Runtime) -> ComplaintsSettings:
    settings = rt.settings
    assert isinstance(settings, ComplaintsSettings)
    return settings


@contextlib.contextmanager
def domain_errors() -> Iterator[None]:
    """Domain refusals → the contract's error shape: 404 unknown, 409 state conflicts, 422 content."""
    try:
        yield
    except service.NotFound as exc:
        raise NotFound(exc.code, exc.message, exc.details) from exc
    except (InvalidTransition, CallbackSettled) as exc:
        raise Conflict(exc.code, exc.message, exc.details) from exc
    except DomainError as exc:
        raise Invalid(exc.code, exc.message, exc.details or None) from exc


def _cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    key = decode_cursor(cursor, 2)
    if key is None:
        return None
    try:
        at = datetime.fromisoformat(str(key[0]))
        if at.tzinfo is None:
            raise ValueError("naive cursor time")
        return at, uuid.UUID(str(key[1]))
    except ValueError as exc:
        raise Invalid("invalid_cursor", "cursor is not valid") from exc


def _page(rows: list[dict[str, Any]], limit: int, sort: str) -> tuple[list[dict[str, Any]], str | None]:
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(last[sort].isoformat(), str(last["id"]))


# --- complaints ---------------------------------------------------------------------------

complaints = APIRouter(prefix="/v1/complaints", tags=["complaints"])


@complaints.post("", status_code=201, response_model=ComplaintRead,
                 responses={422: {"model": ErrorResponse}})
async def open_complaint(body: ComplaintCreate, rt: Runtime = Depends(runtime),
                         principal: Principal = Depends(desk_or_branch)) -> dict[str, Any]:
    """Open a ticket. The answer carries the due times, the live shipment snapshot and a suggested reply.

    A `branch` token files through the partner system: `channel` must be `partner`.
    """
    if principal.role == "branch" and body.channel != "partner":
        raise Invalid("channel_not_allowed", "a branch files complaints through the partner channel",
                       {"channel": body.channel, "allowed": ["partner"]})
    new = service.NewComplaint(
        caller_name=body.caller_name, phone=body.phone, channel=body.channel, category=body.category,
        description=body.description, customer_id=body.customer_id, email=body.email, language=body.language,
        waybill_no=body.waybill_no, priority=body.priority)
    with domain_errors():
        return await service.open_complaint(rt.pool, settings_of(rt), new, principal)


@complaints.get("", response_model=Page[ComplaintSummary], responses={422: {"model": ErrorResponse}})
async def list_complaints(
    rt: Runtime = Depends(runtime), principal: Principal = Depends(desk_or_branch),
    status: TicketStatusName | None = None,
    breached: bool | None = Query(None, description="past a deadline (recorded, or running past due)"),
    customer_id: Identifier | None = None, waybill_no: WaybillNo | None = None,
    category: Annotated[str | None, Query(pattern=r"^[a-z_]{1,20}$")] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """Newest first, keyset-paginated; phones and e-mails masked. A branch sees its stations' tickets."""
    rows = await service.list_complaints(rt.pool, principal, status=status, breached=breached,
                                         customer_id=customer_id, waybill_no=waybill_no, category=category,
                                         after=_cursor(cursor), limit=limit + 1)
    rows, next_cursor = _page(rows, limit, "opened_at")
    items = [{**r, "phone": mask_phone(r["phone"]), "email": mask_email(r["email"])} for r in rows]
    return {"items": items, "next_cursor": next_cursor}


@complaints.get("/{complaint_id}", response_model=ComplaintRead, responses=E404)
async def get_complaint(complaint_id: ComplaintId, rt: Runtime = Depends(runtime),
                        principal: Principal = Depends(desk_or_branch)) -> dict[str, Any]:
    """The ticket with its history and the shipment snapshot refreshed from the read model."""
    with domain_errors():
        return await service.get_complaint(rt.pool, settings_of(rt), complaint_id, principal)


async def _step(rt: Runtime, complaint_id: uuid.UUID, step: service.Step, principal: Principal) -> dict[str, Any]:
    with domain_errors():
        return await service.take_step(rt.pool, settings_of(rt), complaint_id, step, principal)


STEP_RESPONSES: dict[int | str, dict[str, Any]] = {**E404, **E409, 422: {"model": ErrorResponse}}


@complaints.post("/{complaint_id}/responses", response_model=ComplaintRead, responses=STEP_RESPONSES)
async def respond(complaint_id: ComplaintId, body: ResponseCreate, rt: Runtime = Depends(runtime),
                  principal: Principal = Depends(desk)) -> dict[str, Any]:
    """Record a staff response; `asks_customer: true` waits on the customer and pauses the SLA clock."""
    action = response_action(asks_customer=body.asks_customer)
    return await _step(rt, complaint_id, service.Step(action, body.model_dump()), principal)


@complaints.post("/{complaint_id}/customer-reply", response_model=ComplaintRead, responses=STEP_RESPONSES)
async def customer_reply(complaint_id: ComplaintId, body: CustomerReplyCreate, rt: Runtime = Depends(runtime),
                         principal: Principal = Depends(desk)) -> dict[str, Any]:
    """The customer answered (recorded by staff): the SLA clock resumes."""
    return await _step(rt, complaint_id, service.Step(Action.CUSTOMER_REPLY, body.model_dump()), principal)


@complaints.post("/{complaint_id}/escalate", response_model=ComplaintRead, responses=STEP_RESPONSES)
async def escalate(complaint_id: ComplaintId, rt: Runtime = Depends(runtime),
                   principal: Principal = Depends(desk),
                   body: EscalateIn | None = Body(None)) -> dict[str, Any]:
    """Hand the ticket to the supervisor role."""
    details = {**(body.model_dump() if body else {"reason": None}), "assigned_role": "supervisor"}
    return await _step(rt, complaint_id, service.Step(Action.ESCALATE, details), principal)


@complaints.post("/{complaint_id}/resolve", response_model=ComplaintRead, responses=STEP_RESPONSES)
async def resolve(complaint_id: ComplaintId, body: ResolveIn, rt: Runtime = Depends(runtime),
                  principal: Principal = Depends(desk)) -> dict[str, Any]:
    return await _step(rt, complaint_id,
                       service.Step(Action.RESOLVE, body.model_dump(), resolution=body.resolution), principal)


@complaints.post("/{complaint_id}/reopen", response_model=ComplaintRead, responses=STEP_RESPONSES)
async def reopen(complaint_id: ComplaintId, rt: Runtime = Depends(runtime), principal: Principal = Depends(desk),
                 body: ReopenIn | None = Body(None)) -> dict[str, Any]:
    """A resolved ticket back to open; the time it sat resolved does not count against the SLA."""
    details = body.model_dump() if body else {"reason": None}
    return await _step(rt, complaint_id, service.Step(Action.REOPEN, details), principal)


@complaints.post("/{complaint_id}/survey", response_model=ComplaintRead, responses=STEP_RESPONSES)
async def survey(complaint_id: ComplaintId, body: SurveyIn, rt: Runtime = Depends(runtime),
                 principal: Principal = Depends(desk)) -> dict[str, Any]:
    """Record the customer's satisfaction (1..5); closes a resolved ticket."""
    return await _step(rt, complaint_id, service.Step(Action.SURVEY, body.model_dump(), score=body.score,
                                                      comment=body.comment), principal)


@complaints.post("/{complaint_id}/close", response_model=ComplaintRead, responses=STEP_RESPONSES)
async def close(complaint_id: ComplaintId, rt: Runtime = Depends(runtime), principal: Principal = Depends(desk),
                body: CloseIn | None = Body(None)) -> dict[str, Any]:
    """Close a resolved ticket without a survey (e.g. the survey window is over)."""
    details = body.model_dump() if body else {"reason": None}
    return await _step(rt, complaint_id, service.Step(Action.CLOSE, details), principal)


# --- admin: SLA policies and the monitor --------------------------------------------------------

admin = APIRouter(prefix="/v1/admin", tags=["admin"])


def _hours(settings: ComplaintsSettings) -> dict[str, Any] | None:
    hours = settings.business_hours()
    if hours is None:
        return None
    return {"tz": hours.tz, "start": hours.start.isoformat("minutes"), "end": hours.end.isoformat("minutes"),
            "weekdays": sorted(hours.weekdays), "holidays": sorted(d.isoformat() for d in hours.holidays)}


@admin.get("/sla-policies", response_model=SlaPoliciesRead)
async def get_sla_policies(rt: Runtime = Depends(runtime), _: Principal = Depends(desk)) -> dict[str, Any]:
    """The SLA targets (minutes; business minutes within the business hours shown)."""
    return {"policies": await service.get_policies(rt.pool), "business_hours": _hours(settings_of(rt))}


@admin.put("/sla-policies", response_model=SlaPoliciesRead, responses={422: {"model": ErrorResponse}})
async def put_sla_policies(body: SlaPoliciesIn, rt: Runtime = Depends(runtime),
                           principal: Principal = Depends(admin_only)) -> dict[str, Any]:
    """Replace the whole policy set (admin). Tickets already open keep their targets."""
    policies = [p.model_dump(mode="json") for p in body.policies]
    with domain_errors():
        rows = await service.replace_policies(rt.pool, policies, principal.actor)
    return {"policies": rows, "business_hours": _hours(settings_of(rt))}


@admin.post("/sla-scan", response_model=SlaScanRead)
async def sla_scan(rt: Runtime = Depends(runtime), _: Principal = Depends(admin_only),
                   now: Instant | None = Query(None, description="the clock to scan at (RFC 3339 with offset); "
                                                                 "defaults to the current time")) -> dict[str, Any]:
    """Run the SLA monitor once, at a chosen time: each breach recorded and announced once."""
    at = now or service.utcnow()
    checked, found = await service.scan_sla(rt.pool, settings_of(rt), at)
    return {"now": at, "checked": checked, "breaches": [vars(b) for b in found]}


# --- calls ------------------------------------------------------------------------------------

calls = APIRouter(prefix="/v1/calls", tags=["calls"])


@calls.post("", status_code=201, response_model=CallRead, responses={422: {"model": ErrorResponse}})
async def log_call(body: CallCreate, rt: Runtime = Depends(runtime),
                   principal: Principal = Depends(desk)) -> dict[str, Any]:
    """Every call is recorded; `outcome: callback` needs `callback_due`. A call that returns a callback
    names it in `callback_of` (422 `unknown_call` / `not_a_callback`, 409 `callback_settled`)."""
    with domain_errors():
        return await service.log_call(rt.pool, body.model_dump(), principal)


@calls.get("/callbacks", response_model=Page[CallbackDue], responses={422: {"model": ErrorResponse}})
async def list_callbacks(
    rt: Runtime = Depends(runtime), _: Principal = Depends(desk),
    due_before: Instant | None = Query(None, description="only callbacks due by then (RFC 3339 with offset)"),
    customer_id: Identifier | None = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """The callbacks the desk still owes — promised (`outcome: callback`) and not yet returned by a
    call naming them in `callback_of` with an outcome other than `no_answer` — soonest due first;
    phone numbers masked."""
    rows = await service.callbacks_due(rt.pool, due_before=due_before, customer_id=customer_id,
                                       after=_cursor(cursor), limit=limit + 1)
    rows, next_cursor = _page(rows, limit, "callback_due")
    return {"items": [{**r, "phone": mask_phone(r["phone"])} for r in rows], "next_cursor": next_cursor}


@calls.get("", response_model=Page[CallRead], responses={422: {"model": ErrorResponse}})
async def list_calls(
    rt: Runtime = Depends(runtime), _: Principal = Depends(desk),
    customer_id: Identifier | None = None, waybill_no: WaybillNo | None = None,
    outcome: Annotated[str | None, Query(pattern=r"^[a-z_]{1,20}$")] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """Newest first; phone numbers masked."""
    rows = await service.list_calls(rt.pool, customer_id=customer_id, waybill_no=waybill_no, outcome=outcome,
                                    after=_cursor(cursor), limit=limit + 1)
    rows, next_cursor = _page(rows, limit, "called_at")
    return {"items": [{**r, "phone": mask_phone(r["phone"])} for r in rows], "next_cursor": next_cursor}


# --- customer files -----------------------------------------------------------------------------

customers = APIRouter(prefix="/v1/customers", tags=["customers"])


@customers.get("/visits-due", response_model=VisitsDueRead, responses={422: {"model": ErrorResponse}})
async def visits_due(rt: Runtime = Depends(runtime), _: Principal = Depends(desk),
                     month: str = Query(max_length=7, description="YYYY-MM (desk timezone)")) -> dict[str, Any]:
    """Key and new customers without a return visit (回访) in the month; key customers first."""
    with domain_errors():
        parsed, due = await service.due_visits(rt.pool, settings_of(rt), month)
    return {"month": str(parsed), "items": [{"customer_id": d.customer_id, "name": d.name,
                                             "reasons": [r.value for r in d.reasons],
                                             "last_visit_at": d.last_visit_at} for d in due]}


@customers.get("/{customer_id}", response_model=CustomerRead, responses=E404)
async def get_customer(customer_id: CustomerId, rt: Runtime = Depends(runtime),
                       _: Principal = Depends(desk)) -> dict[str, Any]:
    """The customer file: contacts, shipments seen, complaints, CSAT, key flag, last return visit."""
    with domain_errors():
        return await service.customer_file(rt.pool, settings_of(rt), customer_id)


@customers.put("/{customer_id}", response_model=CustomerRead, responses={422: {"model": ErrorResponse}})
async def put_customer(customer_id: CustomerId, body: CustomerUpdate, rt: Runtime = Depends(runtime),
                       principal: Principal = Depends(desk)) -> dict[str, Any]:
    """Create or update the file; only the fields given change (`key_customer` sets the key flag)."""
    fields = body.model_dump(exclude_unset=True)
    if body.contacts is not None:
        fields["contacts"] = [c.model_dump() for c in body.contacts]  # every key, also the unset ones
    with domain_errors():
        return await service.update_customer(rt.pool, settings_of(rt), customer_id, fields, principal)


@customers.post("/{customer_id}/visits", status_code=201, response_model=VisitRead,
                responses={**E404, 422: {"model": ErrorResponse}})
async def record_visit(customer_id: CustomerId, body: VisitCreate, rt: Runtime = Depends(runtime),
                       principal: Principal = Depends(desk)) -> dict[str, Any]:
    with domain_errors():
        return await service.record_visit(rt.pool, customer_id, body.model_dump(), principal)


# --- reports ----------------------------------------------------------------------------------

reports = APIRouter(prefix="/v1/reports", tags=["reports"])


@reports.get("/complaints", response_model=ComplaintsReportRead,
             responses={200: {"content": {"text/csv": {}}, "description": "the report (JSON, or CSV on request)"},
                        422: {"model": ErrorResponse}})
async def complaints_report(request: Request, rt: Runtime = Depends(runtime), _: Principal = Depends(desk),
                            month: str = Query(max_length=7, description="YYYY-MM (desk timezone)"),
                            as_of: Instant | None = Query(None, description="judge running SLAs at this time")
                            ) -> Response:
    """Tickets opened in the month: counts by category and channel, SLA met shares, median first
    response and resolution (minutes), CSAT average and distribution. `Accept: text/csv` for CSV."""
    with domain_errors():
        report = await service.complaints_report(rt.pool, settings_of(rt), month, as_of)
    if wants_csv(request):
        body = "\ufeff" + render_report_csv(report)
        return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="complaints-{report.month}.csv"'})
    return JSONResponse(report.to_dict())


ROUTERS = (complaints, admin, calls, customers, reports)
