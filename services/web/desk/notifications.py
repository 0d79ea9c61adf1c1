"""The notification audit, filtered by status, and sending one that ended unsent again.

The desk offers Retry once the deployed notifier publishes `POST /v1/notifications/{id}/retry`
in its OpenAPI, and only on notifications that can be sent again (`domain.desk`); the notifier
still decides: 409 `invalid_transition` for one on its way or sent, `not_retryable` for one
with nothing to send — shown above the list.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response

from services.web.context import RuntimeDep, WebRuntime
from services.web.desk import service
from services.web.desk.api import failed_status, failure_text
from services.web.people.api import PersonDep, WriterDep
from services.web.people.models import Person

router = APIRouter(include_in_schema=False)
RETRY_ROUTE = "/v1/notifications/{notification_id}/retry"
STATUSES = ("queued", "sent", "failed", "suppressed", "deferred")


async def _notifications_page(rt: WebRuntime, request: Request, person: Person, status_filter: str | None, *,
                              error: str | None = None, status: int = 200) -> Response:
    shown = status_filter if status_filter in STATUSES else None
    got = await service.notifications(rt, caller=person.caller, status=shown)
    can_retry = await rt.context.capabilities.has_route(rt.context.backends.notifier, "post", RETRY_ROUTE)
    return rt.context.templates.render(request, "desk/notifications.html", status=status, person=person,
                                       notifications=got, status_filter=shown or "", statuses=STATUSES,
                                       can_retry=can_retry, error=error)


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
        text = failure_text(exc, request)
        if exc.error.status == 405:
            text = "retry is not available in the notifier yet (POST /v1/notifications/{id}/retry)"
        return await _notifications_page(rt, request, person, None, error=text, status=failed_status(exc))
    return RedirectResponse(f"/desk/notifications#n-{notification_id}", status_code=303)
