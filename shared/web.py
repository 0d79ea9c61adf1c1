"""The HTTP side every service shares: app factory, health, metrics, input guards.

`create_app` gives each service the same `/livez`, `/readyz`, `/metrics`, the
contract's error shape, and one ASGI guard in front of the routes that:
- refuses bodies over the size limit of the path (413) before reading them;
- refuses NUL characters and invalid UTF-8 in text bodies and query strings (422):
  PostgreSQL cannot store NUL, and that must never surface as a 500;
- rate-limits write requests per bearer token (429 with Retry-After);
- records request count and duration per route template.

A service may also name *fast routes* (`FastRoutes`): exact paths answered by a plain ASGI
function in front of FastAPI's routing, for the one request a fleet of devices sends many
times a second. Everything else, and any request a fast route declines, takes the full stack.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote_to_bytes

import asyncpg
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import metrics
from shared.bus import Bus
from shared.errors import ErrorResponse, error_response, install_error_handlers
from shared.settings import Settings

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UNAUTHENTICATED = ("/livez", "/readyz", "/metrics", "/osmand")


@dataclass
class Runtime:
    """What request handlers and jobs of one service share."""

    service: str
    settings: Settings
    pool: asyncpg.Pool
    bus: Bus | None = None
    extras: dict[str, Any] = field(default_factory=dict)


# The dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker
# thread (an anyio hop, and the GIL passed back and forth) on every request that uses it.


async def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def pool(request: Request) -> asyncpg.Pool:
    rt: Runtime = request.app.state.runtime
    return rt.pool


M = TypeVar("M", bound=BaseModel)


def parse_json_body(model: type[M], raw: bytes) -> M:
    """Parse and validate a raw JSON body in one step, for hot endpoints that declare no body
    parameter (see `json_body_openapi`): pydantic-core reads the bytes straight into the model,
    instead of FastAPI's `json.loads` into dicts and a second walk to validate them — for a
    5,000-item position batch, most of the request's CPU. Errors are FastAPI's own (422
    `validation_error`, `loc` under "body"), so clients see no difference."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False)]) from None


def json_body_openapi(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting `model` as the JSON request body of a route that reads its body
    with `parse_json_body` (the schema inlined: the route declares no model FastAPI could list)."""
    schema = model.model_json_schema(ref_template="#/$defs/{model}")
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline(schema)}}}}


def _error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": None}},
                        status_code=status, headers=dict(headers or {}))


class _TokenBuckets:
    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """0 if allowed, else seconds until a token is available."""
        now = time.monotonic()
        tokens, last = self.buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self.buckets[key] = (tokens - 1, now)
            if len(self.buckets) > 100_000:  # bound memory under token churn
                self.buckets.clear()
            return 0.0
        self.buckets[key] = (tokens, now)
        return (1 - tokens) / self.rate


class GuardMiddleware:
    def __init__(self, app: ASGIApp, *, service: str, default_limit: int,
                 limits: Mapping[str, int], rate_per_minute: int) -> None:
        self.app = app
        self.service = service
        self.default_limit = default_limit
        self.limits = sorted(limits.items(), key=lambda kv: -len(kv[0]))
        self.buckets = _TokenBuckets(rate_per_minute) if rate_per_minute > 0 else None

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        try:
            rejection = await self._check(scope)
            if rejection is not None:
                await rejection(scope, receive, send_wrapper)
                return
            body_receive = await self._buffer_body(scope, receive)
            if isinstance(body_receive, Response):
                await body_receive(scope, receive, send_wrapper)
                return
            await self.app(scope, body_receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope.get("method", "")
            metrics.HTTP_REQUESTS.labels(self.service, method, template, str(status_holder["status"])).inc()
            metrics.HTTP_DURATION.labels(self.service, method, template).observe(time.perf_counter() - started)

    async def _check(self, scope: Scope) -> Response | None:
        problem = query_string_problem(scope.get("query_string", b""))
        if problem is not None:
            return _error(422, "invalid_characters", problem)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        limit = self._limit_for(scope["path"])
        if length is not None:
            try:
                if int(length) > limit:
                    return _error(413, "payload_too_large", f"request body exceeds {limit} bytes")
            except ValueError:
                return _error(400, "bad_request", "invalid Content-Length")
        if self.buckets is not None and scope.get("method") in WRITE_METHODS \
                and scope["path"].startswith("/v1/"):
            auth = headers.get(b"authorization")
            if auth:
                key = hashlib.sha256(auth).hexdigest()[:24]
                wait = self.buckets.take(key)
                if wait > 0:
                    return _error(429, "rate_limited", "too many write requests for this token",
                                  {"Retry-After": str(max(1, int(wait + 0.999)))})
        return None

    async def _buffer_body(self, scope: Scope, receive: Receive) -> Receive | Response:
        """Read the body (bounded), check text bodies for NUL / invalid UTF-8, then replay it."""
        if scope.get("method") not in WRITE_METHODS:
            return receive
        limit = self._limit_for(scope["path"])
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return receive
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return _error(413, "payload_too_large", f"request body exceeds {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        headers = dict(scope.get("headers") or [])
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if ctype in (b"application/json", b"") or ctype.endswith(b"+json"):
            if b"\x00" in body or b"\\u0000" in body:
                return _error(422, "invalid_characters", "NUL characters are not allowed")
            try:
                if not body.isascii():  # ASCII (most JSON) is UTF-8: a much cheaper scan of a big body
                    body.decode("utf-8")
            except UnicodeDecodeError:
                return _error(422, "invalid_characters", "request body is not valid UTF-8")
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay


# A fast route: handles the request and returns its status, or returns None *before sending
# anything* to decline it (the request then takes the full stack, with its guards).
FastRoute = Callable[[Runtime, Scope, Receive, Send], Awaitable[int | None]]


class _RouteTemplate:
    """What GuardMiddleware reads from scope["route"] to label a request's metrics."""

    def __init__(self, path: str) -> None:
        self.path = path


class FastRoutes:
    """Exact paths answered without FastAPI's routing, dependency injection and middleware.

    Why: on one uvicorn worker, FastAPI's per-request machinery (middleware layers, route
    matching, dependency solving, Request/Response objects) costs more CPU than the work of
    a small request such as a device's GPS fix. A fast route does only what its request
    needs, and declines (returns None) whatever is unusual, e.g. a body to parse or a query
    string the guard would have to judge: those take the full stack. What the full stack
    gives every request, a fast route keeps: the contract's error shape (`error_response`
    for whatever it raises) and the request metrics under the path as the route template.
    It sits in front of the whole app (`ServiceApp.front`), so it never runs twice for one request.

    `behind_guard`: the same, placed just inside GuardMiddleware instead, for routes that need
    everything the guard does (body limit, rate limit, NUL / UTF-8 checks, metrics) and only
    skip FastAPI's part: the guard has read the body (its `receive` replays it) and counts the
    request under the path, so such a route never declines once it has read the body."""

    def __init__(self, app: ASGIApp, *, rt: Runtime, routes: Mapping[str, FastRoute],
                 behind_guard: bool = False) -> None:
        self.app = app
        self.rt = rt
        self.routes = dict(routes)
        self.behind_guard = behind_guard
        self._durations: dict[tuple[str, str], Any] = {}
        self._counts: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        if self.behind_guard:
            scope["route"] = _RouteTemplate(scope["path"])  # the guard labels the request with it
        started = time.perf_counter()
        status = await self._answer(route, scope, receive, send)
        if status is None:
            await self.app(scope, receive, send)
        elif not self.behind_guard:  # behind the guard, the guard counts it
            self._observe(scope["method"], scope["path"], status, time.perf_counter() - started)

    async def _answer(self, route: FastRoute, scope: Scope, receive: Receive, send: Send) -> int | None:
        """The route's status, None if it declined; what it raises answered in the contract's shape."""
        sent: list[int] = []

        async def tracked_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent.append(message["status"])
            await send(message)

        try:
            return await route(self.rt, scope, receive, tracked_send)
        except Exception as exc:  # answered in the contract's shape, as the full stack would
            if sent:
                raise
            response = error_response(exc, path=scope["path"])
            await response(scope, receive, send)
            return response.status_code

    def _observe(self, method: str, path: str, status: int, seconds: float) -> None:
        # labels() resolves a child by hashing its label values; a fast route keeps its children
        count = self._counts.get((method, path, status))
        if count is None:
            count = self._counts[(method, path, status)] = metrics.HTTP_REQUESTS.labels(
                self.rt.service, method, path, str(status))
        duration = self._durations.get((method, path))
        if duration is None:
            duration = self._durations[(method, path)] = metrics.HTTP_DURATION.labels(self.rt.service, method, path)
        count.inc()
        duration.observe(seconds)


def query_string_problem(raw: bytes) -> str | None:
    """Why the guard refuses a query string (NUL or invalid UTF-8 once unescaped), or None."""
    if not raw:
        return None
    decoded = unquote_to_bytes(raw)
    if b"\x00" in decoded:
        return "NUL characters are not allowed"
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        return "query string is not valid UTF-8"
    return None


def clean_query_string(scope: Scope) -> str | None:
    """The query string as text, or None when it is not plain ASCII the guard would pass
    (`query_string_problem`): a fast route declines such a request, and the full stack judges it."""
    raw: bytes = scope.get("query_string", b"")
    if not raw.isascii() or (b"%" in raw and query_string_problem(raw) is not None):
        return None
    return raw.decode("ascii")


def query_params(query: str) -> dict[str, str]:
    """`dict(parse_qsl(query, keep_blank_values=True))` (the last of a repeated name wins),
    without parse_qsl's per-pair unquoting when nothing in the query is escaped: a fast
    route's request is mostly this, and parse_qsl is a third of parsing a GPS fix."""
    if "%" in query or "+" in query:
        return dict(parse_qsl(query, keep_blank_values=True))
    params = {}
    for pair in query.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            params[name] = value
    return params


async def read_body(receive: Receive) -> bytes:
    """A request's whole body, for a fast route behind the guard (which has bounded it)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def send_json(send: Send, status: int, body: bytes) -> int:
    """Answer a fast route's request with a JSON body; returns the status."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
    return status


async def check_ready(rt: Runtime) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            await rt.pool.fetchval("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"unavailable: {type(exc).__name__}"
    if rt.bus is not None:
        checks["broker"] = "ok" if rt.bus.is_connected else "unavailable"
    return checks


class ServiceApp(FastAPI):
    """FastAPI, with the service's unguarded fast routes (`front`) answered before any of it.

    Why: Starlette wraps every request in its own outermost layers (the server-error
    middleware with its `send` wrapper, FastAPI's telemetry middleware, which reads its
    configuration on each request) before a middleware of ours is reached. For a device's
    GPS fix those layers cost about as much CPU as parsing the fix, and a fast route needs
    none of them: it answers its own errors in the contract's shape (`FastRoutes`)."""

    front: FastRoutes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self.front
        if front is not None and scope["type"] == "http" and scope["path"] in front.routes:
            await front(scope, receive, send)  # declined requests go on to FastAPI.__call__
        else:
            await super().__call__(scope, receive, send)


def create_app(*, rt: Runtime, routers: Sequence[APIRouter], title: str, description: str,
               version: str = "1.0.0", body_limits: Mapping[str, int] | None = None,
               fast_routes: Mapping[str, FastRoute] | None = None,
               guarded_fast_routes: Mapping[str, FastRoute] | None = None) -> FastAPI:
    settings = rt.settings
    app = ServiceApp(
        title=title, description=description, version=version,
        responses={
            401: {"model": ErrorResponse, "description": "missing or invalid bearer token"},
            403: {"model": ErrorResponse, "description": "role or branch not allowed"},
            413: {"model": ErrorResponse, "description": "request body too large"},
            422: {"model": ErrorResponse, "description": "invalid input"},
            429: {"model": ErrorResponse, "description": "rate limited; see Retry-After"},
            503: {"model": ErrorResponse, "description": "a dependency is down; retry after Retry-After"},
        },
    )
    app.state.runtime = rt
    app.state.settings = settings
    install_error_handlers(app)

    @app.get("/livez", include_in_schema=False)
    async def livez() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        checks = await check_ready(rt)
        ok = all(v == "ok" for v in checks.values())
        if ok:
            return JSONResponse({"status": "ready", "checks": checks})
        return JSONResponse({"error": {"code": "not_ready", "message": "dependencies unavailable",
                                       "details": checks}}, status_code=503)

    if settings.metrics_port == 0:
        @app.get("/metrics", include_in_schema=False)
        async def metrics_endpoint() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)

    if guarded_fast_routes:  # added before the guard: inside it (see FastRoutes)
        app.add_middleware(FastRoutes, rt=rt, routes=guarded_fast_routes, behind_guard=True)
    app.add_middleware(GuardMiddleware, service=rt.service, default_limit=settings.max_body_bytes,
                       limits=dict(body_limits or {}), rate_per_minute=settings.rate_limit_per_minute)
    if fast_routes:  # in front of everything, Starlette's own middleware included (see ServiceApp)
        app.front = FastRoutes(functools.partial(FastAPI.__call__, app), rt=rt, routes=fast_routes)
    return app
