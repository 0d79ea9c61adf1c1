"""HTTP routes of complaint tickets: parse, authorise, call `tickets.service`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query

from services.complaints import paging
from services.complaints.context import DeskOrCustomerPrincipal, DeskPrincipal, RuntimeDep, TicketReader
from services.complaints.domain.tickets import Action, response_action
from services.complaints.tickets import service
from services.complaints.tickets.models import (
    ClaimIn,
    CloseIn,
    ComplaintCreate,
    ComplaintRead,
    ComplaintSummary,
    CustomerReplyCreate,
    EscalateIn,
    ReopenIn,
    ResolveIn,
    ResponseCreate,
    SurveyIn,
    TicketStatusName,
)
from shared.errors import ErrorResponse
from shared.pagination import Page
from shared.pii import mask_email, mask_phone
from shared.types import Identifier, WaybillNo

E404: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "not found (or not visible to this branch)"}}
E409: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "invalid_transition: the state machine refuses this step"}}
STEP_RESPONSES: dict[int | str, dict[str, Any]] = {**E404, **E409, 422: {"model": ErrorResponse}}
ComplaintId = Annotated[uuid.UUID, Path(description="complaint id")]

complaints = APIRouter(prefix="/v1/complaints", tags=["complaints"])


def _reason(body: EscalateIn | ReopenIn | CloseIn | None) -> dict[str, Any]:
    """The details of a step whose body (a `reason`) is optional."""
    return body.model_dump() if body else {"reason": None}


@complaints.post("", status_code=201, response_model=ComplaintRead,
             responses={**E404, 422: {"model": ErrorResponse}})
async def open_complaint(body: ComplaintCreate, rt: RuntimeDep, principal: TicketReader) -> dict[str, Any]:
    """Open a ticket. The answer carries the due times, the live shipment snapshot and a suggested reply.

    A `branch` token files through the partner system: `channel` must be `partner`, and a
    `waybill_no` it names must be one it can see (its station on the shipment's route),
    else 404 `not_found` as for a read of that shipment. Its filing does not use or
    change the customer file of `customer_id`.

    A `customer` token files for itself (`customer_id` its own or absent; another is 403),
    through the `web` channel, without a `priority`, and only about its own waybill (any other
    is 404 `not_found`, nothing stored); the answer leaves out the desk's workings.
    """
    new = service.NewComplaint(
        caller_name=body.caller_name, phone=body.phone, channel=body.channel, category=body.category,
        description=body.description, customer_id=body.customer_id, email=body.email, language=body.language,
        waybill_no=body.waybill_no, priority=body.priority)
    return await service.open_complaint(rt, principal=principal, new=new)


@complaints.get("", response_model=Page[ComplaintSummary], responses={422: {"model": ErrorResponse}})
async def list_complaints(
    rt: RuntimeDep, principal: TicketReader,
    status: TicketStatusName | None = None,
    breached: bool | None = Query(None, description="past a deadline (recorded, or running past due)"),
    customer_id: Identifier | None = None, waybill_no: WaybillNo | None = None,
    category: paging.Code = None,
    assigned_to: Identifier | None = Query(None, description="the tickets this desk member claimed"),
    cursor: paging.Cursor = None, limit: paging.Limit = 50,
) -> dict[str, Any]:
    """Newest first, keyset-paginated; phones and e-mails masked. A branch sees its stations' tickets;
    a customer its own, without the desk's workings."""
    rows = await service.list_complaints(rt, principal=principal, status=status, breached=breached,
                                         customer_id=customer_id, waybill_no=waybill_no, category=category,
                                         assigned_to=assigned_to, after=paging.after(cursor), limit=limit + 1)
    rows, next_cursor = paging.page(rows, limit, "opened_at")
    items = rows if principal.role == "customer" else [  # a customer's rows come masked
        service.as_seen_by(principal, {**r, "phone": mask_phone(r["phone"]), "email": mask_email(r["email"])})
        for r in rows]
    return {"items": items, "next_cursor": next_cursor}


@complaints.get("/{complaint_id}", response_model=ComplaintRead, responses=E404)
async def get_complaint(complaint_id: ComplaintId, rt: RuntimeDep, principal: TicketReader
                        ) -> dict[str, Any]:
    """The ticket with its history and the shipment snapshot refreshed from the read model. A
    customer token: its own tickets only (any other is 404), without the desk's workings."""
    return await service.get_complaint(rt, principal=principal, complaint_id=complaint_id)


@complaints.post("/{complaint_id}/claim", response_model=ComplaintRead, responses={
    **E404, 403: {"model": ErrorResponse, "description": "reassign_not_allowed: staff claim for themselves only"},
    409: {"model": ErrorResponse, "description": "already_claimed: someone else works it (details.assigned_to); "
                                                 "invalid_transition: it is closed"}})
async def claim(complaint_id: ComplaintId, rt: RuntimeDep, principal: DeskPrincipal,
                body: ClaimIn | None = Body(None)) -> dict[str, Any]:
    """Take the ticket: `assigned_to` becomes the caller's name (the token's subject), with
    `claimed_at`; recorded in the history. Claiming one's own ticket again changes nothing. A
    ticket someone else holds is 409 `already_claimed`, unless a supervisor or admin takes it
    over, or hands it to a desk member with `{"to": "<user name>"}`."""
    return await service.claim(rt, principal=principal, complaint_id=complaint_id, to=body.to if body else None)


@complaints.post("/{complaint_id}/responses", response_model=ComplaintRead, responses=STEP_RESPONSES)
async def respond(complaint_id: ComplaintId, body: ResponseCreate, rt: RuntimeDep,
                  principal: DeskPrincipal) -> dict[str, Any]:
    """Record a staff response; `asks_customer: true` waits on the customer and pauses the SLA clock."""
    step = service.Step(response_action(asks_customer=body.asks_customer), body.model_dump())
    return await service.take_step(rt, principal=principal, complaint_id=complaint_id, step=step)


@complaints.post("/{complaint_id}/customer-reply", response_model=ComplaintRead, responses=STEP_RESPONSES)
async def customer_reply(complaint_id: ComplaintId, body: CustomerReplyCreate, rt: RuntimeDep,
                         principal: DeskOrCustomerPrincipal) -> dict[str, Any]:
    """The customer answered (recorded by staff, or sent by the customer's own token on its own
    ticket): the SLA clock resumes."""
    step = service.Step(Action.CUSTOMER_REPLY, body.model_dump())
    return await service.take_step(rt, principal=principal, complaint_id=complaint_id, step=step)


@complaints.post("/{complaint_id}/escalate", response_model=ComplaintRead, responses=STEP_RESPONSES)
async def escalate(complaint_id: ComplaintId, rt: RuntimeDep, principal: DeskPrincipal,
                   body: EscalateIn | None = Body(None)) -> dict[str, Any]:
    """Hand the ticket to the supervisor role."""
    step = service.Step(Action.ESCALATE, {**_reason(body), "assigned_role": "supervisor"})
    return await service.take_step(rt, principal=principal, complaint_id=complaint_id, step=step)


@complaints.post("/{complaint_id}/resolve", response_model=ComplaintRead, responses=STEP_RESPONSES)
async def resolve(complaint_id: ComplaintId, body: ResolveIn, rt: RuntimeDep,
                  principal: DeskPrincipal) -> dict[str, Any]:
    step = service.Step(Action.RESOLVE, body.model_dump(), resolution=body.resolution)
    return await service.take_step(rt, principal=principal, complaint_id=complaint_id, step=step)


@complaints.post("/{complaint_id}/reopen", response_model=ComplaintRead, responses=STEP_RESPONSES)
async def reopen(complaint_id: ComplaintId, rt: RuntimeDep, principal: DeskPrincipal,
                 body: ReopenIn | None = Body(None)) -> dict[str, Any]:
    """A resolved ticket back to open; the time it sat resolved does not count against the SLA."""
    step = service.Step(Action.REOPEN, _reason(body))
    return await service.take_step(rt, principal=principal, complaint_id=complaint_id, step=step)


@complaints.post("/{complaint_id}/survey", response_model=ComplaintRead, responses=STEP_RESPONSES)
async def survey(complaint_id: ComplaintId, body: SurveyIn, rt: RuntimeDep,
                 principal: DeskOrCustomerPrincipal) -> dict[str, Any]:
    """Record the customer's satisfaction (1..5; by staff, or by the customer's own token on its
    own ticket); closes a resolved ticket."""
    step = service.Step(Action.SURVEY, body.model_dump(), score=body.score, comment=body.comment)
    return await service.take_step(rt, principal=principal, complaint_id=complaint_id, step=step)


@complaints.post("/{complaint_id}/close", response_model=ComplaintRead, responses=STEP_RESPONSES)
async def close(complaint_id: ComplaintId, rt: RuntimeDep, principal: DeskPrincipal,
                body: CloseIn | None = Body(None)) -> dict[str, Any]:
    """Close a resolved ticket without a survey (e.g. the survey window is over)."""
    return await service.take_step(rt, principal=principal, complaint_id=complaint_id,
                                   step=service.Step(Action.CLOSE, _reason(body)))
