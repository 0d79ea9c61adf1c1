"""The open exceptions (货物异常) and resolving one, from the exceptions screen or the waybill's
timeline. Resolving posts to tracking as the signed-in person and comes back (303); a refusal
re-renders the screen with the reason and the text typed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from services.web.context import RuntimeDep, WebRuntime
from services.web.desk import service
from services.web.desk.api import failed_status, failure_text
from services.web.people.api import PersonDep, WriterDep, safe_next
from services.web.people.models import Person

router = APIRouter(include_in_schema=False)
ExceptionId = Annotated[str, Path(pattern=r"^[0-9a-fA-F-]{36}$")]


async def _exceptions_page(rt: WebRuntime, request: Request, person: Person, *, days: int,
                           error: str | None = None, values: dict[str, str] | None = None,
                           status: int = 200) -> Response:
    days = max(1, min(days, 31))
    got = await service.parts({
        "summary": ("tracking", service.exceptions_summary(rt, caller=person.caller, days=days)),
        "open": ("tracking", service.open_exceptions(rt, caller=person.caller)),
    })
    return rt.context.templates.render(request, "desk/exceptions.html", status=status, person=person,
                                       exceptions=got["summary"], open=got["open"], days=days, error=error,
                                       values=values or {})


@router.get("/desk/exceptions")
async def exceptions(request: Request, rt: RuntimeDep, person: PersonDep, days: int = 7) -> Response:
    return await _exceptions_page(rt, request, person, days=days)


@router.post("/desk/exceptions/{exception_id}/resolve")
async def resolve_exception(exception_id: ExceptionId, request: Request, rt: RuntimeDep, person: WriterDep,
                            resolution: Annotated[str, Form(max_length=2000)] = "",
                            next_: Annotated[str, Form(alias="next", max_length=300)] = "/desk/exceptions") -> Response:
    try:
        await service.write(rt.context.backends.tracking.post(
            person.caller, f"/v1/exceptions/{exception_id}/resolve", {"resolution": resolution.strip() or None}))
    except service.WriteFailed as exc:
        return await _exceptions_page(rt, request, person, days=7, error=failure_text(exc, request),
                                      values={"id": exception_id, "resolution": resolution},
                                      status=failed_status(exc))
    return RedirectResponse(safe_next(next_), status_code=303)
