"""The receipts queue by deadline and every step a person takes on a receipt: inspect,
re-sign an abnormal one, mail an envelope and record its arrival (present / missing), receive
one found after all, hand over, write off, cancel a cash-on-delivery one.

Each step posts to receipts as the signed-in person and comes back (303); a refused step
re-renders the page with the backend's reason and what was typed.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from services.web.context import RuntimeDep, WebRuntime
from services.web.desk import service
from services.web.desk.api import Waybill, failed_status, failure_text
from services.web.desk.complaints import local_input
from services.web.people.api import PersonDep, WriterDep
from services.web.people.models import Person
from shared.clock import utcnow
from shared.errors import NotFound

router = APIRouter(include_in_schema=False)
EnvelopeId = Annotated[str, Path(pattern=r"^[0-9a-fA-F-]{36}$")]
RECEIPT_STEPS = ("inspection", "re-sign", "handover", "write-off", "cancel", "receive")


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
                         collector: Annotated[str, Form(max_length=100)] = "",
                         reason: Annotated[str, Form(max_length=500)] = "",
                         note: Annotated[str, Form(max_length=500)] = "") -> Response:
    now = utcnow().isoformat()
    bodies: dict[str, dict[str, Any]] = {
        "inspection": {"result": result, "anomalies": anomalies or [], "by": person.display_name},
        "re-sign": {"at": now, "by": person.display_name},
        "handover": {"to": to, "recipient": recipient, "at": now},
        "write-off": {"at": now, "collector": collector},
        "cancel": {"at": now, "reason": reason.strip() or None},
        "receive": {"at": now, "note": note.strip() or None},
    }
    if action not in RECEIPT_STEPS:
        raise NotFound.of("action", action)
    try:
        await service.write(rt.context.backends.receipts.post(person.caller, f"/v1/receipts/{waybill_no}/{action}",
                                                              bodies[action]))
    except service.WriteFailed as exc:
        return await _receipts_page(rt, request, person, status_filter=None,
                                    error=f"{waybill_no}: {failure_text(exc, request)}",
                                    values={"recipient": recipient, "collector": collector, "reason": reason,
                                            "note": note},
                                    status=failed_status(exc))
    return RedirectResponse(f"/desk/receipts#r-{quote(waybill_no)}", status_code=303)


@router.get("/desk/receipts/{waybill_no}/envelope")
async def receipt_envelope(waybill_no: Waybill, rt: RuntimeDep, person: PersonDep) -> Response:
    """The envelope a mailed receipt travels in (the receipts list does not name it)."""
    got = await service.part("receipts", rt.context.backends.receipts.get(person.caller, f"/v1/receipts/{waybill_no}"))
    envelope_id = got.data.get("envelope_id") if got.ok else None
    if not envelope_id:
        raise NotFound.of("envelope of receipt", waybill_no)
    return RedirectResponse(f"/desk/envelopes/{envelope_id}", status_code=303)


@router.post("/desk/envelopes")
async def send_envelope(request: Request, rt: RuntimeDep, person: WriterDep,
                        from_station: Annotated[str, Form(max_length=16)],
                        to_station: Annotated[str, Form(max_length=16)],
                        waybills: Annotated[str, Form(max_length=20_000)],
                        courier_no: Annotated[str, Form(max_length=64)] = "") -> Response:
    listed = [w.strip().upper() for w in waybills.replace(",", "\n").split() if w.strip()]
    body = {"from_station": from_station.strip().upper(), "to_station": to_station.strip().upper(),
            "waybills": listed, "sent_at": utcnow().isoformat(), "courier_no": courier_no.strip() or None}
    try:
        created = await service.write(rt.context.backends.receipts.post(person.caller, "/v1/envelopes", body))
    except service.WriteFailed as exc:
        return await _receipts_page(rt, request, person, status_filter=None, error=failure_text(exc, request),
                                    values={"from_station": from_station, "to_station": to_station,
                                            "waybills": waybills, "courier_no": courier_no},
                                    status=failed_status(exc))
    return RedirectResponse(f"/desk/envelopes/{created['id']}", status_code=303)


async def _envelope_page(rt: WebRuntime, request: Request, person: Person, envelope_id: str, *,
                         error: str | None = None, status: int = 200) -> Response:
    got = await service.part("receipts", rt.context.backends.receipts.get(person.caller,
                                                                          f"/v1/envelopes/{envelope_id}"))
    if got.problem in ("not_found", "forbidden"):
        raise NotFound.of("envelope", envelope_id)
    return rt.context.templates.render(request, "desk/envelope.html", status=status, person=person, envelope=got,
                                       error=error)


@router.get("/desk/envelopes/{envelope_id}")
async def envelope(envelope_id: EnvelopeId, request: Request, rt: RuntimeDep, person: PersonDep) -> Response:
    return await _envelope_page(rt, request, person, envelope_id)


@router.post("/desk/envelopes/{envelope_id}/arrival")
async def envelope_arrival(envelope_id: EnvelopeId, request: Request, rt: RuntimeDep, person: WriterDep,
                           present: Annotated[list[str] | None, Form()] = None,
                           received_at: Annotated[str, Form(max_length=40)] = "") -> Response:
    """The envelope opened at the origin: the receipts ticked are present, the others missing
    (lost, and chased at once by receipts)."""
    try:
        body = {"received_at": local_input(received_at) or utcnow().isoformat(),
                "waybills_present": sorted({w.strip().upper() for w in present or [] if w.strip()})}
        await service.write(rt.context.backends.receipts.post(person.caller, f"/v1/envelopes/{envelope_id}/arrival",
                                                              body))
    except ValueError:
        return await _envelope_page(rt, request, person, envelope_id, error="received at: YYYY-MM-DDTHH:MM",
                                    status=422)
    except service.WriteFailed as exc:
        return await _envelope_page(rt, request, person, envelope_id, error=failure_text(exc, request),
                                    status=failed_status(exc))
    return RedirectResponse(f"/desk/envelopes/{envelope_id}", status_code=303)
