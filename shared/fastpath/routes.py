"""Fast routes: exact paths answered by a plain ASGI function in front of FastAPI.

For the one request a fleet of devices sends many times a second (a GPS fix), FastAPI's
per-request machinery (Starlette's outer middleware, routing, dependency solving,
Request/Response objects) costs more CPU than the work itself. A service names such paths
in its `ServiceSpec` (`fast_routes` in front of everything, `guarded_fast_routes` just
inside the guard); everything else, and any request a fast route declines, takes the full
stack. What the full stack gives every request, a fast route keeps: the contract's error
shape and the request metrics under the path as the route template.

Also here: reading a JSON body straight into a pydantic model (`parse_json_body`), and the
query-string and response helpers fast routes use.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.context import Runtime
from shared.errors import error_response
from shared.guard import query_string_problem
from shared.metrics import RouteMetrics

# A fast route: handles the request and returns its status, or returns None *before sending
# anything* to decline it (the request then takes the full stack, with its guards).
FastRoute = Callable[[Runtime[Any, Any], Scope, Receive, Send], Awaitable[int | None]]


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

    def __init__(self, app: ASGIApp, *, rt: Runtime[Any, Any], routes: Mapping[str, FastRoute],
                 behind_guard: bool = False) -> None:
        self.app = app
        self.rt = rt
        self.routes = dict(routes)
        self.behind_guard = behind_guard
        self.metrics = RouteMetrics(rt.service)

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
            self.metrics.observe(scope["method"], scope["path"], status, time.perf_counter() - started)

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


def clean_query_string(scope: Scope) -> str | None:
    """The query string as text, or None when it is not plain ASCII the guard would pass
    (`query_string_problem`): a fast route declines such a request, and the full stack judges it."""
    return clean_query(scope.get("query_string", b""))


def clean_query(raw: bytes) -> str | None:
    """`clean_query_string` of a raw query string."""
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


_FIELD = rb"[A-Za-z0-9._~*+%-]+=[A-Za-z0-9._~*+%-]*"
_PLAIN_FORM = re.compile(rb"%s(?:&%s)*" % (_FIELD, _FIELD))


def form_fields(body: bytes) -> dict[str, str] | None:
    """An `application/x-www-form-urlencoded` body as Starlette's `Request.form()` reads it (the last
    of a repeated name wins, as `FormData.get` does), when it is plain: `&`-separated fields, each
    a name, one `=` and a value, of unreserved characters, `+` and `%`-escapes. Else None: the
    caller reads it with Starlette (python-multipart's parser, which also takes `;`, fields
    without `=`, empty ones...). Why: that parser walks the body byte by byte in Python, about 8%
    of web's CPU on the public tracking page (docs/BENCHMARKS.md, figure 9)."""
    if _PLAIN_FORM.fullmatch(body) is None:
        return None
    # such a body is a query string whose fields Starlette unquotes as parse_qsl does (the bytes as
    # latin-1, then `unquote_plus`)
    return query_params(body.decode("ascii"))


def body_declared_as(scope: Scope, media: bytes) -> bool:
    """Whether the request's (first) `Content-Type` is `media`, bare or with `charset=utf-8`: the
    bodies a fast route reads itself; any other declaration is left to the full stack to judge."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            declared, _, params = value.partition(b";")
            return declared.strip().lower() == media and params.strip().lower() in (b"", b"charset=utf-8")
    return False


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


def json_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    """The headers of a JSON answer with `body` (a fast route's, or a direct route's)."""
    return [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]


async def send_json(send: Send, status: int, body: bytes) -> int:
    """Answer a fast route's request with a JSON body; returns the status."""
    await send({"type": "http.response.start", "status": status, "headers": json_headers(body)})
    await send({"type": "http.response.body", "body": body})
    return status




class ServiceApp(FastAPI):
    """FastAPI, with the service's unguarded fast routes (`front`) answered before any of it.

    Why: Starlette wraps every request in its own outermost layers (the server-error
    middleware with its `send` wrapper, FastAPI's telemetry middleware, which reads its
    configuration on each request) before a middleware of ours is reached. For a device's
    GPS fix those layers cost about as much CPU as parsing the fix, and a fast route needs
    none of them: it answers its own errors in the contract's shape (`FastRoutes`)."""

    front: FastRoutes | None = None
    direct: Any = None  # the routes the HTTP protocol answers itself (`shared.fastpath.http.DirectRoutes`)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self.front
        if front is not None and scope["type"] == "http" and scope["path"] in front.routes:
            await front(scope, receive, send)  # declined requests go on to FastAPI.__call__
        else:
            await super().__call__(scope, receive, send)


M = TypeVar("M", bound=BaseModel)


def parse_json_body(model: type[M], raw: bytes) -> M:
    """Parse and validate a raw JSON body in one step, for hot endpoints that declare no body
    parameter (see `json_body_openapi`): pydantic-core reads the bytes straight into the model,
    instead of FastAPI's `json.loads` into dicts and a second walk to validate them — for a
    5,000-item position batch, most of the request's CPU. Errors are FastAPI's own (422
    `validation_error`, `loc` under "body"), so clients see no difference. A body that is JSON
    but not an object is judged as FastAPI judges it, from the decoded value: pydantic words that
    error differently when it reads JSON."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(err["type"] == "model_type" and not err["loc"] for err in errors):
            try:
                model.model_validate(json.loads(raw), from_attributes=True)  # as FastAPI validates a body
            except ValidationError as as_fastapi:
                errors = as_fastapi.errors(include_url=False)
            except ValueError:
                pass
        raise RequestValidationError([{**err, "loc": ("body", *err["loc"])} for err in errors]) from None


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
