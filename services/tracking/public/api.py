"""`GET /v1/public/shipments`: the public's view of a waybill, for web's tracking page only;
`POST /v1/public/shipments/lookups`: many of them at once (web groups its look-ups).

The proof travels in headers, not the query string, so that access logs never hold the digits or
a link: `X-Phone-Last4` (4 digits) or `X-Tracking-Link` (a signed link's token, shared.links)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from starlette.types import Receive, Scope, Send

from services.tracking.context import RuntimeDep, TrackingRuntime
from services.tracking.public import service
from services.tracking.public.models import PublicLookups, PublicLookupsRead, PublicShipmentRead
from shared.auth import Principal, Role, bearer_token, check_role, decode_token, require_roles
from shared.errors import ErrorResponse
from shared.fastpath.routes import body_declared_as, clean_query_string, parse_json_body, read_body, send_json
from shared.links import TOKEN_MAX_LENGTH

router = APIRouter(tags=["public"])

# web's service role for the public page: this route and nothing else.
PUBLIC_ROLES: frozenset[Role] = frozenset({"public"})
PublicOnly = Annotated[Principal, Depends(require_roles(*PUBLIC_ROLES))]
WAYBILL_MAX = 64
LAST4 = re.compile(r"[0-9]{4}")
E404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse,
                                               "description": "unknown waybill, wrong digits, bad or expired link "
                                                              "(one answer for all)"}}


@router.get("/v1/public/shipments", response_model=PublicShipmentRead, responses=E404)
async def public_shipment(
    rt: RuntimeDep,
    principal: PublicOnly,
    waybill_no: Annotated[str | None, Query(min_length=1, max_length=WAYBILL_MAX,
                                            description="as the public typed it (case, spaces and full-width "
                                                        "forms are normalised)")] = None,
    x_phone_last4: Annotated[str | None, Header(pattern=f"^{LAST4.pattern}$",
                                                description="last 4 digits of the shipper's or the consignee's "
                                                            "phone: the detailed view")] = None,
    x_tracking_link: Annotated[str | None, Header(min_length=1, max_length=TOKEN_MAX_LENGTH,
                                                  description="a signed link's token instead of waybill_no: "
                                                              "the detailed view")] = None,
) -> PublicShipmentRead:
    """A waybill as the public may see it: stage and city for the number alone; with the right
    digits or a valid link, the city-level timeline, the ETA's day and half-day, the delay reason
    and the masked signer. Never coordinates, phones, ID numbers or the vehicle. Role `public`."""
    return await service.public_shipment(rt, principal=principal, waybill_no=waybill_no,
                                         phone_last4=x_phone_last4, link=x_tracking_link)


@router.post("/v1/public/shipments/lookups", response_model=PublicLookupsRead)
async def public_shipment_lookups(rt: RuntimeDep, principal: PublicOnly, body: PublicLookups) -> PublicLookupsRead:
    """Many look-ups by number at once, each answered as `GET /v1/public/shipments` answers it
    (with `phone_last4` as its `X-Phone-Last4`): `results[i]` is `lookups[i]`'s view, or null for
    that route's one 404. Web's public page sends the look-ups of the moment together: one request
    and one statement for many. The digits travel in the body, which no access log holds. Role
    `public`."""
    results = await service.public_shipments(rt, principal=principal,
                                             lookups=[(q.waybill_no, q.phone_last4) for q in body.lookups])
    return PublicLookupsRead(results=results)


async def public_shipment_fast(rt: TrackingRuntime, scope: Scope, receive: Receive, send: Send) -> int | None:
    """`GET /v1/public/shipments` answered behind the guard but in front of FastAPI (a guarded
    `shared.fastpath.routes.FastRoutes` route): the guard has checked and counted the request;
    this does the route's own part with the same service call and the same answers.

    Why: every look-up on web's public page is one of these, and FastAPI's routing, dependency
    solving and response-model pass cost tracking more CPU than the look-up's own work. Declined
    (None), so the route above answers and judges it: another method, a query string that is not
    exactly one plain `waybill_no` (or none), a number over its length, a proof header that is
    repeated or not of its form, no `Bearer` token."""
    if scope["method"] != "GET":
        return None
    query = clean_query_string(scope)
    if query is None or "%" in query or "+" in query or "&" in query:
        return None
    waybill_no = None
    if query:
        name, eq, waybill_no = query.partition("=")
        if name != "waybill_no" or not eq or not 1 <= len(waybill_no) <= WAYBILL_MAX:
            return None
    authorization = last4 = link = None
    for key, value in scope["headers"]:
        if key == b"authorization":
            authorization = value
        elif key == b"x-phone-last4":
            if last4 is not None or not LAST4.fullmatch(text := value.decode("latin-1")):
                return None
            last4 = text
        elif key == b"x-tracking-link":
            if link is not None or not 1 <= len(value) <= TOKEN_MAX_LENGTH:
                return None
            link = value.decode("latin-1")
    token = bearer_token(authorization)
    if token is None:
        return None
    principal = check_role(decode_token(token, rt.settings.auth_secret), PUBLIC_ROLES)
    view = await service.public_shipment(rt, principal=principal, waybill_no=waybill_no, phone_last4=last4,
                                         link=link)
    return await send_json(send, 200, view.model_dump_json().encode())


async def public_shipment_lookups_fast(rt: TrackingRuntime, scope: Scope, receive: Receive, send: Send) -> int | None:
    """`POST /v1/public/shipments/lookups` answered behind the guard but in front of FastAPI (a
    guarded `shared.fastpath.routes.FastRoutes` route), as `public_shipment_fast` answers the single
    look-up: the same service call, the same answers, the body read straight into the model
    (`parse_json_body`).

    Why: web's public page sends its look-ups of the moment here, a request per group, and
    FastAPI's routing, dependency solving and response-model pass were a fifth of tracking's CPU
    per look-up (its profile in docs/BENCHMARKS.md). Declined (None), so the route above answers:
    another method, a query string, a body not declared as JSON, no `Bearer` token."""
    if scope["method"] != "POST" or scope.get("query_string") or not body_declared_as(scope, b"application/json"):
        return None
    token = bearer_token(next((v for k, v in scope["headers"] if k == b"authorization"), None))
    if token is None:
        return None
    principal = check_role(decode_token(token, rt.settings.auth_secret), PUBLIC_ROLES)
    body = parse_json_body(PublicLookups, await read_body(receive))
    results = await service.public_shipments(rt, principal=principal,
                                             lookups=[(q.waybill_no, q.phone_last4) for q in body.lookups])
    return await send_json(send, 200, PublicLookupsRead(results=results).model_dump_json().encode())
