"""The complaints queue, one ticket and its steps (claim, respond, escalate, resolve, reopen),
and the call log with the callbacks the desk owes.

Each step posts to complaints as the signed-in person and comes back to the ticket (303); a
refused step re-renders the ticket with the backend's reason and what was typed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from services.web.context import RuntimeDep, WebRuntime
from services.web.desk import service
from services.web.desk.api import failed_status, failure_text
from services.web.people import repository
from services.web.people.api import PersonDep, WriterDep
from services.web.people.models import Person
from shared.clock import BUSINESS_TZ
from shared.errors import NotFound

router = APIRouter(include_in_schema=False)
ComplaintId = Annotated[str, Path(pattern=r"^[0-9a-fA-F-]{36}$")]
COMPLAINT_ACTIONS = ("claim", "respond", "escalate", "resolve", "reopen")
CLAIM_ROUTE = "/v1/complaints/{complaint_id}/claim"


def local_input(value: str) -> str | None:
    """A `datetime-local` field (Beijing time, no offset) as RFC 3339; ValueError if malformed."""
    if not value:
        return None
    at = datetime.fromisoformat(value)
    return (at if at.tzinfo else at.replace(tzinfo=BUSINESS_TZ)).isoformat()


async def _complaints_page(rt: WebRuntime, request: Request, person: Person, *, error: str | None = None,
                           values: dict[str, Any] | None = None, status: int = 200) -> Response:
    got = await service.complaints_queue(rt, caller=person.caller)
    holders = [c["assigned_to"] for c in got["complaints"].data or [] if c.get("assigned_to")]
    return rt.context.templates.render(request, "desk/complaints.html", status=status, person=person,
                                       complaints=got["complaints"], callbacks=got["callbacks"], calls=got["calls"],
                                       names=await repository.display_names(rt.pool, sorted(set(holders))),
                                       error=error, values=values or {})


@router.get("/desk/complaints")
async def complaints(request: Request, rt: RuntimeDep, person: PersonDep) -> Response:
    return await _complaints_page(rt, request, person)


async def _complaint_page(rt: WebRuntime, request: Request, person: Person, complaint_id: str, *,
                          error: str | None = None, values: dict[str, str] | None = None,
                          status: int = 200) -> Response:
    got = await service.complaint(rt, caller=person.caller, complaint_id=complaint_id)
    if got.problem in ("not_found", "forbidden"):
        raise NotFound.of("complaint", complaint_id)
    can_claim = await rt.context.capabilities.has_route(rt.context.backends.complaints, "post", CLAIM_ROUTE)
    named = {got.data.get("assigned_to")} | {(h.get("details") or {}).get("assigned_to")
                                              for h in got.data.get("history") or []} if got.ok else set()
    names = await repository.display_names(rt.pool, sorted(n for n in named if isinstance(n, str) and n))
    return rt.context.templates.render(request, "desk/complaint.html", status=status, person=person, complaint=got,
                                       can_claim=can_claim, names=names, error=error, values=values or {})


@router.get("/desk/complaints/{complaint_id}")
async def complaint(complaint_id: ComplaintId, request: Request, rt: RuntimeDep, person: PersonDep) -> Response:
    return await _complaint_page(rt, request, person, complaint_id)


@router.post("/desk/complaints/{complaint_id}/{action}")
async def complaint_action(complaint_id: ComplaintId, action: str, request: Request, rt: RuntimeDep,
                           person: WriterDep, message: Annotated[str, Form(max_length=2000)] = "",
                           channel: Annotated[str, Form(max_length=20)] = "phone",
                           resolution: Annotated[str, Form(max_length=2000)] = "",
                           reason: Annotated[str, Form(max_length=2000)] = "",
                           to: Annotated[str, Form(max_length=64)] = "") -> Response:
    if action not in COMPLAINT_ACTIONS:
        raise NotFound.of("action", action)
    backend = rt.context.backends.complaints
    path = f"/v1/complaints/{complaint_id}/" + {"respond": "responses"}.get(action, action)
    bodies: dict[str, dict[str, Any] | None] = {
        "respond": {"by": person.display_name, "channel": channel, "message": message},
        "resolve": {"resolution": resolution},
        "escalate": {"reason": reason or None},
        "reopen": {"reason": reason or None},
        "claim": {"to": to.strip()} if to.strip() else None,
    }
    try:
        if action == "claim" and not await rt.context.capabilities.has_route(backend, "post", CLAIM_ROUTE):
            raise service.WriteFailed(service.BackendError(
                "complaints", 405, "unsupported", "claiming a complaint is not available in complaints yet "
                "(POST /v1/complaints/{id}/claim)"))
        await service.write(backend.post(person.caller, path, bodies[action]))
    except service.WriteFailed as exc:
        return await _complaint_page(rt, request, person, complaint_id, error=failure_text(exc, request),
                                     values={"message": message, "resolution": resolution, "reason": reason,
                                             "to": to},
                                     status=failed_status(exc))
    return RedirectResponse(f"/desk/complaints/{complaint_id}", status_code=303)


@router.post("/desk/calls")
async def log_call(request: Request, rt: RuntimeDep, person: WriterDep,
                   caller_name: Annotated[str, Form(max_length=100)], phone: Annotated[str, Form(max_length=20)],
                   topic: Annotated[str, Form(max_length=20)], outcome: Annotated[str, Form(max_length=20)],
                   direction: Annotated[str, Form(max_length=10)] = "inbound",
                   waybill_no: Annotated[str, Form(max_length=40)] = "",
                   note: Annotated[str, Form(max_length=2000)] = "",
                   callback_due: Annotated[str, Form(max_length=40)] = "") -> Response:
    values = {"caller_name": caller_name, "phone": phone, "topic": topic, "outcome": outcome, "direction": direction,
              "waybill_no": waybill_no, "note": note, "callback_due": callback_due}
    try:
        body = {"caller_name": caller_name.strip(), "phone": phone.strip(), "topic": topic, "outcome": outcome,
                "direction": direction, "waybill_no": waybill_no.strip().upper() or None, "note": note or None,
                "callback_due": local_input(callback_due)}
        await service.write(rt.context.backends.complaints.post(person.caller, "/v1/calls", body))
    except ValueError:
        return await _complaints_page(rt, request, person, error="callback time: YYYY-MM-DDTHH:MM",
                                      values=values, status=422)
    except service.WriteFailed as exc:
        return await _complaints_page(rt, request, person, error=failure_text(exc, request), values=values,
                                      status=failed_status(exc))
    return RedirectResponse("/desk/complaints#calls", status_code=303)
