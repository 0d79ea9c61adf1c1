"""The desk's queues: complaints (with the call log), receipts, exceptions, notifications.

Each action posts to the owning backend as the signed-in person and comes back to the
queue (303); a refused action re-renders the queue with the backend's reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from services.web.context import RuntimeDep, WebRuntime
from services.web.desk import service
from services.web.desk.api import failed_status, failure_text
from services.web.people.api import PersonDep, WriterDep
from services.web.people.models import Person
from shared.clock import BUSINESS_TZ, utcnow
from shared.errors import NotFound

router = APIRouter(include_in_schema=False)
ComplaintId = Annotated[str, Path(pattern=r"^[0-9a-fA-F-]{36}$")]
Waybill = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{4,40}$")]
COMPLAINT_ACTIONS = ("claim", "respond", "escalate", "resolve", "reopen")


def _local(value: str) -> str | None:
    """A `datetime-local` field (Beijing time, no offset) as RFC 3339."""
    if not value:
        return None
    at = datetime.fromisoformat(value)
    return (at if at.tzinfo else at.replace(tzinfo=BUSINESS_TZ)).isoformat()


# --- complaints ---------------------------------------------------------------------------

async def _complaints_page(rt: WebRuntime, request: Request, person: Person, *, error: str | None = None,
                           values: dict[str, Any] | None = None, status: int = 200) -> Response:
    got = await service.complaints_queue(rt, caller=person.caller)
    return rt.context.templates.render(request, "desk/complaints.html", status=status, person=person,
                                       complaints=got["complaints"], callbacks=got["callbacks"], calls=got["calls"],
                                       error=error, values=values or {})


@router.get("/desk/complaints")
async def complaints(request: Request, rt: RuntimeDep, person: PersonDep) -> Response:
    return await _complaints_page(rt, request, person)


@router.get("/desk/complaints/{complaint_id}")
async def complaint(complaint_id: ComplaintId, request: Request, rt: RuntimeDep, person: PersonDep) -> Response:
    got = await service.complaint(rt, caller=person.caller, complaint_id=complaint_id)
    if got.problem in ("not_found", "forbidden"):
        raise NotFound.of("complaint", complaint_id)
    return rt.context.templates.render(request, "desk/complaint.html", person=person, complaint=got, error=None,
                                       values={})


@router.post("/desk/complaints/{complaint_id}/{action}")
async def complaint_action(complaint_id: ComplaintId, action: str, request: Request, rt: RuntimeDep,
                           person: WriterDep, message: Annotated[str, Form(max_length=2000)] = "",
                           channel: Annotated[str, Form(max_length=20)] = "phone",
                           resolution: Annotated[str, Form(max_length=2000)] = "",
                           reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    if action not in COMPLAINT_ACTIONS:
        raise NotFound.of("action", action)
    backend = rt.context.backends.complaints
    path = f"/v1/complaints/{complaint_id}/" + {"respond": "responses"}.get(action, action)
    bodies: dict[str, dict[str, Any] | None] = {
        "respond": {"by": person.display_name, "channel": channel, "message": message},
        "resolve": {"resolution": resolution},
        "escalate": {"reason": reason or None},
        "reopen": {"reason": reason or None},
        "claim": None,
    }
    body = bodies[action]
    try:
        if action == "claim" and not await rt.context.capabilities.has_route(
                backend, "post", "/v1/complaints/{complaint_id}/claim"):
            raise service.WriteFailed(service.BackendError(
                "complaints", 405, "unsupported", "claiming a complaint is not available in complaints yet "
                "(POST /v1/complaints/{id}/claim)"))
        await service.write(backend.post(person.caller, path, body))
    except service.WriteFailed as exc:
        got = await service.complaint(rt, caller=person.caller, complaint_id=complaint_id)
        return rt.context.templates.render(request, "desk/complaint.html", status=failed_status(exc), person=person,
                                           complaint=got, error=failure_text(exc),
                                           values={"message": message, "resolution": resolution, "reason": reason})
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
                "callback_due": _local(callback_due)}
        await service.write(rt.context.backends.complaints.post(person.caller, "/v1/calls", body))
    except ValueError:
        return await _complaints_page(rt, request, person, error="callback time: YYYY-MM-DDTHH:MM",
                                      values=values, status=422)
    except service.WriteFailed as exc:
        return await _complaints_page(rt, request, person, error=failure_text(exc), values=values,
                                      status=failed_status(exc))
    return RedirectResponse("/desk/complaints#calls", status_code=303)


# --- receipts -----------------------------------------------------------------------------

async def _receipts_page(rt: WebRuntime, request: Request, person: Person, *, status_filter: str | None,
                         error: str | None = None, values: dict[str, Any] | None = None, status: int = 200) -> Response:
    got = await service.receipts_queue(rt, caller=person.caller, status=status_filter)
    return rt.context.templates.render(request, "desk/receipts.html", status=status, person=person, receipts=got,
                                       status_filter=status_filter or "", error=error, values=values or {},
                                       now=utcnow())


@router.get("/desk/receipts")
async def receipts(request: Request, rt: RuntimeDep, person: PersonDep, status: str = "") -> Response:
    return await _receipts_page(rt, request, person, status_filter=status or None)


@router.post("/desk/receipts/{waybill_no}/{action}")
async def receipt_action(waybill_no: Waybill, action: str, request: Request, rt: RuntimeDep, person: WriterDep,
                         result: Annotated[str, Form(max_length=20)] = "qualified",
                         anomalies: Annotated[list[str] | None, Form()] = None,
                         to: Annotated[str, Form(max_length=20)] = "customer",
                         recipient: Annotated[str, Form(max_length=100)] = "",
                         collector: Annotated[str, Form(max_length=100)] = "") -> Response:
    now = utcnow().isoformat()
    bodies: dict[str, dict[str, Any]] = {
        "inspection": {"result": result, "anomalies": anomalies or [], "by": person.display_name},
        "handover": {"to": to, "recipient": recipient, "at": now},
        "write-off": {"at": now, "collector": collector},
    }
    if action not in bodies:
        raise NotFound.of("action", action)
    try:
        await service.write(rt.context.backends.receipts.post(person.caller, f"/v1/receipts/{waybill_no}/{action}",
                                                              bodies[action]))
    except service.WriteFailed as exc:
        return await _receipts_page(rt, request, person, status_filter=None, error=f"{waybill_no}: {failure_text(exc)}",
                                    values={"recipient": recipient, "collector": collector},
                                    status=failed_status(exc))
    return RedirectResponse("/desk/receipts", status_code=303)


@router.post("/desk/envelopes")
async def send_envelope(request: Request, rt: RuntimeDep, person: WriterDep,
                        from_station: Annotated[str, Form(max_length=16)],
                        to_station: Annotated[str, Form(max_length=16)],
                        waybills: Annotated[str, Form(max_length=20_000)],
                        courier_no: Annotated[str, Form(max_length=64)] = "") -> Response:
    listed = [w.strip().upper() for w in waybills.replace(",", "\n").split() if w.strip()]
    body = {"from_station": from_station.strip().upper(), "to_station": to_station.strip().upper(),
            "waybills": listed, "sent_at": utcnow().isoformat(), "courier_no": courier_no or None}
    try:
        await service.write(rt.context.backends.receipts.post(person.caller, "/v1/envelopes", body))
    except service.WriteFailed as exc:
        return await _receipts_page(rt, request, person, status_filter=None, error=failure_text(exc),
                                    values={"from_station": from_station, "to_station": to_station,
                                            "waybills": waybills, "courier_no": courier_no},
                                    status=failed_status(exc))
    return RedirectResponse("/desk/receipts", status_code=303)


# --- exceptions and notifications --------------------------------------------------------

@router.get("/desk/exceptions")
async def exceptions(request: Request, rt: RuntimeDep, person: PersonDep, days: int = 7) -> Response:
    days = max(1, min(days, 31))
    got = await service.part("tracking", service.exceptions_open(rt, caller=person.caller, days=days))
    return rt.context.templates.render(request, "desk/exceptions.html", person=person, exceptions=got, days=days)


async def _notifications_page(rt: WebRuntime, request: Request, person: Person, status_filter: str | None, *,
                              error: str | None = None, status: int = 200) -> Response:
    got = await service.notifications(rt, caller=person.caller, status=status_filter)
    can_retry = await rt.context.capabilities.has_route(rt.context.backends.notifier, "post",
                                                        "/v1/notifications/{notification_id}/retry")
    return rt.context.templates.render(request, "desk/notifications.html", status=status, person=person,
                                       notifications=got, status_filter=status_filter or "", can_retry=can_retry,
                                       error=error)


@router.get("/desk/notifications")
async def notifications(request: Request, rt: RuntimeDep, person: PersonDep, status: str = "") -> Response:
    return await _notifications_page(rt, request, person, status or None)


@router.post("/desk/notifications/{notification_id}/retry")
async def retry_notification(notification_id: Annotated[str, Path(pattern=r"^[0-9a-fA-F-]{36}$")],
                             request: Request, rt: RuntimeDep, person: WriterDep) -> Response:
    try:
        await service.write(rt.context.backends.notifier.post(person.caller,
                                                              f"/v1/notifications/{notification_id}/retry"))
    except service.WriteFailed as exc:
        text = failure_text(exc)
        if exc.error.status in (404, 405):
            text = "retry is not available in the notifier yet (POST /v1/notifications/{id}/retry)"
        return await _notifications_page(rt, request, person, None, error=text, status=failed_status(exc))
    return RedirectResponse("/desk/notifications", status_code=303)


