"""HTTP routes of the position feeds: the batch API, Traccar forwarding and /osmand.

The two busiest requests are also answered by fast routes in front of FastAPI
(`shared.fastpath.routes.FastRoutes`, named in `main.SPEC`): `osmand_fast` for the usual /osmand
request and `positions_fast` for a batch. The usual /osmand request is answered before even that,
by the HTTP protocol itself (`OSMAND_DIRECT`, a `shared.fastpath.http.DirectRoute`), whenever
the group commit runs. Each does what its FastAPI route does, with the same
parsing, use case, answers and error shape; the FastAPI routes document them and take whatever a
fast route declines (returns None for).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from services.tracking.context import FEED_ROLES, AdminOrCarrier, RuntimeDep, TrackingRuntime
from services.tracking.feeds.group_commit import UnknownDevice, parse_osmand_request, refused_device, store_osmand
from services.tracking.feeds.ingest import ingest_batch, ingest_traccar
from services.tracking.feeds.models import IngestResult, PositionBatch
from services.tracking.feeds.parsing import batch_items, parse_position_batch_fast
from shared.auth import Principal, bearer_token, check_role, decode_token
from shared.clock import utcnow
from shared.errors import BadRequest, ErrorResponse
from shared.fastpath.http import DirectRoute
from shared.fastpath.routes import (
    clean_query,
    clean_query_string,
    json_body_openapi,
    parse_json_body,
    query_params,
    read_body,
    send_json,
)

router = APIRouter()

E400: dict[int | str, dict[str, Any]] = {400: {"model": ErrorResponse}}


# --- /osmand ----------------------------------------------------------------------------------
# First in the service's routes: they are matched in order, and /osmand is the request every
# phone sends every few seconds.


@router.api_route("/osmand", methods=["GET", "POST"], responses=E400, tags=["tracking-feeds"])
async def osmand(request: Request, rt: RuntimeDep) -> JSONResponse:
    """The OsmAnd / Traccar Client protocol (unauthenticated, as devices speak it): query
    string, form or JSON body. Unknown device → 400; stored → 200 (after commit).

    The usual request (the fix in the query string, no body) is answered by `osmand_fast`
    before it reaches this route; this one takes the body forms and anything unusual."""
    data: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "application/json" or ctype.endswith("+json"):
            data.update(await _json_object(request))
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.form()
            data.update({k: v for k, v in form.items() if isinstance(v, str)})
    await _store_osmand(rt, data)
    return JSONResponse({"status": "stored"})


async def _store_osmand(rt: TrackingRuntime, data: dict[str, Any]) -> None:
    await store_osmand(rt, fix=parse_osmand_request(rt, data=data, now=utcnow()))


_STORED = orjson.dumps({"status": "stored"})


async def osmand_fast(rt: TrackingRuntime, scope: Scope, receive: Receive, send: Send) -> int | None:
    """/osmand as devices send it, answered in front of FastAPI (a `shared.fastpath.routes.FastRoutes` route).

    Why it exists: every phone or tracker of the fleet sends this request every few seconds,
    and its own work (parse one fix, queue it for the group commit, wait) costs less CPU than
    FastAPI's per-request machinery around it. Same parse, same group commit and the same
    answers as the route above, which still documents it and takes what this declines (None):
    a request with a body (JSON or form) and a query string the guard would have to judge."""
    method = scope["method"]
    if method != "GET" and not (method == "POST" and _without_body(scope)):
        return None
    query = clean_query_string(scope)
    if query is None:
        return None
    await _store_osmand(rt, query_params(query))
    return await send_json(send, 200, _STORED)


def _osmand_direct_start(rt: TrackingRuntime, method: str, query: bytes) -> asyncio.Future[None] | None:
    """`osmand_fast` without its ASGI cycle: the fix parsed and queued for the group commit, its
    commit's future; None (the request goes on to `osmand_fast`) for a query string the guard
    would have to judge, or when no committer runs. The protocol has checked that there is no body."""
    query_text = clean_query(query)
    if query_text is None:
        return None
    return rt.context.osmand.enqueue(parse_osmand_request(rt, data=query_params(query_text), now=utcnow()))


def _osmand_direct_body(committed: asyncio.Future[None]) -> bytes:
    try:
        committed.result()
    except UnknownDevice as exc:
        raise refused_device(exc) from None
    return _STORED


OSMAND_DIRECT = DirectRoute(_osmand_direct_start, _osmand_direct_body)


def _without_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if (name == b"content-length" and value.strip() != b"0") or name == b"transfer-encoding":
            return False
    return True


# --- POST /v1/positions -----------------------------------------------------------------------


@router.post("/v1/positions", response_model=IngestResult, responses={413: {"model": ErrorResponse}},
             openapi_extra=json_body_openapi(PositionBatch), tags=["tracking"])
async def post_positions(request: Request, rt: RuntimeDep, principal: AdminOrCarrier) -> IngestResult:
    """Up to 5,000 fixes, all or nothing (422 naming the bad item's index)."""
    # Usually answered by `positions_fast` below; this route documents it and takes what that declines.
    return await _ingest_positions(rt, await request.body(), principal)


async def _ingest_positions(rt: TrackingRuntime, raw: bytes, principal: Principal) -> IngestResult:
    # The feed's hot path: the common well-formed body is read straight into fixes; anything else
    # goes through pydantic (shared.fastpath.routes.parse_json_body), which answers the contract's 422 errors.
    items = parse_position_batch_fast(raw)
    if items is None:
        items = batch_items(parse_json_body(PositionBatch, raw))
    return await ingest_batch(rt, principal=principal, items=items)


async def positions_fast(rt: TrackingRuntime, scope: Scope, receive: Receive, send: Send) -> int | None:
    """`POST /v1/positions` answered behind the guard but in front of FastAPI (a guarded
    `shared.fastpath.routes.FastRoutes` route): the guard has bounded and checked the body, counted the
    request and applied the write rate limit; this does the route's own part, the same way.

    Why: a carrier's feed posts batches back to back, and FastAPI's part of each (routing,
    dependency solving, the response model's validation and encoding) is work the batch does not
    need. Declined (None), so the route above answers: another method, a query string, no
    `Bearer` token (its 401 is the dependency's)."""
    if scope["method"] != "POST" or scope.get("query_string"):
        return None
    token = bearer_token(next((v for k, v in scope["headers"] if k == b"authorization"), None))
    if token is None:
        return None
    principal = check_role(decode_token(token, rt.settings.auth_secret), FEED_ROLES)
    result = await _ingest_positions(rt, await read_body(receive), principal)
    return await send_json(send, 200, orjson.dumps(result.model_dump(mode="json")))


# --- POST /v1/ingest/traccar ------------------------------------------------------------------


@router.post("/v1/ingest/traccar", response_model=IngestResult, responses=E400, tags=["tracking"])
async def post_traccar(request: Request, rt: RuntimeDep, principal: AdminOrCarrier) -> IngestResult:
    """Traccar's JSON position forwarding (`forward.type=json`); the vehicle is the one whose
    `device_id` equals `device.uniqueId` (unknown → 400 `unknown_device`)."""
    return await ingest_traccar(rt, principal=principal, body=await _json_object(request))


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise BadRequest("invalid_json", "the body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest("invalid_json", "the body must be a JSON object")
    return body
