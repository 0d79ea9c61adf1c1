"""The public tracking page: `GET /track` (the form; `?waybill=` looks up at once), `POST /track`
(waybill number and optionally the last 4 digits of a party's phone), `GET /t/{token}` (a signed
link from a notice: the detailed view without digits). No sign-in, no script.

Answers: 200 with the view; 404 for an unknown number, wrong digits or a bad link (one page for
all of them); 422 for a number that cannot be one or digits that are not 4; 429 with
`Retry-After` for the address's limit and a waybill's digit lock; 503 when tracking cannot answer.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from services.web.context import RuntimeDep, WebRuntime
from services.web.domain.public import eta_text
from services.web.people.api import client_address
from services.web.public import service
from services.web.public.service import Lookup
from services.web.templating import language_of
from shared.fastpath.routes import body_declared_as, form_fields

router = APIRouter(include_in_schema=False)
WAYBILL_MAX, PHONE4_MAX = 100, 20  # the form's fields, as typed (before normalising)

STATUS = {"coarse": 200, "detailed": 200, "not_found": 404, "invalid": 422, "rate_limited": 429, "locked": 429,
          "unavailable": 503}


def _digits(text: str) -> str | None:
    """The digits as typed: full-width ones read as ASCII, spaces dropped; empty = none given."""
    value = "".join(c for c in unicodedata.normalize("NFKC", text) if not c.isspace())
    return value or None


def _page(rt: WebRuntime, request: Request, result: Lookup | None) -> Response:
    view = result.view if result else None
    eta = (view or {}).get("eta")
    text = eta_text(date.fromisoformat(eta["day"]), eta["half"], language_of(request)) if eta else ""
    templates = rt.context.templates
    # the shell of the page at /track is the same for everyone; a link's path carries its token
    path = request.scope["path"]
    render = templates.render_in_shell if path == "/track" else templates.render
    response = render(
        request, "public/track.html", status=STATUS[result.outcome] if result else 200,
        outcome=result.outcome if result else None, view=view, waybill=result.waybill if result else "",
        eta_text=text)
    if result and result.retry_after:
        response.headers["Retry-After"] = str(max(1, math.ceil(result.retry_after)))
    if path.startswith("/t/"):
        response.headers["Referrer-Policy"] = "no-referrer"  # the token is a key: never pass it on
    return response


def invalid_page(rt: WebRuntime, request: Request) -> Response:
    """A form the route could not even read (a field over its length): the page, 422."""
    return _page(rt, request, Lookup("invalid"))


@router.get("/track")
async def track_form(request: Request, rt: RuntimeDep,
                     waybill: Annotated[str, Query(max_length=100)] = "") -> Response:
    if not waybill.strip():
        return _page(rt, request, None)
    return _page(rt, request, await service.look_up(rt, address=client_address(request), waybill_text=waybill,
                                                    digits=None))


@router.post("/track")
async def track(request: Request, rt: RuntimeDep, waybill: Annotated[str, Form(max_length=WAYBILL_MAX)] = "",
                phone4: Annotated[str, Form(max_length=PHONE4_MAX)] = "") -> Response:
    # Usually answered by `track_fast` below; this route takes what that declines.
    return _page(rt, request, await service.look_up(rt, address=client_address(request), waybill_text=waybill,
                                                    digits=_digits(phone4)))


@router.get("/t/{token}")
async def track_link(token: str, request: Request, rt: RuntimeDep) -> Response:
    return _page(rt, request, await service.open_link(rt, address=client_address(request), token=token))


async def track_fast(rt: WebRuntime, scope: Scope, receive: Receive, send: Send) -> int | None:
    """`POST /track` answered behind the guard but in front of FastAPI (a guarded
    `shared.fastpath.routes.FastRoutes` route): the same form parsing (Starlette's), the same
    look-up and the same pages, the errors answered by the app's own handlers (`error_page`).

    Why: the look-up is the one page anyone may ask for at any rate the limits allow, and
    FastAPI's routing, dependency solving and form-field validation cost web more CPU than the
    page's own work. Declined (None), so the route above answers: another method, a query
    string, a body that is not `application/x-www-form-urlencoded` (a multipart form)."""
    if scope["method"] != "POST" or scope.get("query_string") \
            or not body_declared_as(scope, b"application/x-www-form-urlencoded"):
        return None
    request = Request(scope, receive)
    try:
        try:
            form: Mapping[str, Any] | None = form_fields(await request.body())
            if form is None:  # not a plain form: Starlette's parser reads it (from the body read above)
                form = await request.form()
        except Exception as exc:  # as FastAPI answers a body it cannot parse
            raise HTTPException(400, "There was an error parsing the body") from exc
        waybill, phone4 = form.get("waybill", ""), form.get("phone4", "")
        assert isinstance(waybill, str) and isinstance(phone4, str)  # an urlencoded form holds no files
        if len(waybill) > WAYBILL_MAX or len(phone4) > PHONE4_MAX:
            response = invalid_page(rt, request)  # what FastAPI's validation error gives this route
        else:
            response = _page(rt, request, await service.look_up(
                rt, address=client_address(request), waybill_text=waybill, digits=_digits(phone4)))
    except Exception as exc:
        if rt.context.error_page is None:
            raise
        response = await rt.context.error_page(request, exc)
    await response(scope, receive, send)
    return response.status_code
