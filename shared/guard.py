"""The ASGI guard every service puts in front of its routes (installed by `shared.web.create_app`):
- refuses bodies over the size limit of the path (413) before reading them;
- refuses NUL characters and invalid UTF-8 in text bodies and query strings (422):
  PostgreSQL cannot store NUL, and that must never surface as a 500;
- rate-limits write requests per caller across replicas (`shared.ratelimit`; 429 with Retry-After);
- records request count and duration per route template.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from urllib.parse import unquote_to_bytes

from fastapi import Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import MAX_TOKEN_BYTES, decode_token
from shared.errors import DomainError
from shared.metrics import RouteMetrics
from shared.ratelimit import SharedWindows

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def error_reply(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": None}},
                        status_code=status, headers=dict(headers or {}))


def caller_key(authorization: bytes | None, secret: str, client: tuple[str, int] | None) -> str:
    """Who a request counts against: the verified principal (`role:sub`), whatever the header's
    spelling; without a valid token, the client address."""
    if authorization and len(authorization) <= MAX_TOKEN_BYTES + 16 and authorization.isascii():
        scheme, _, token = authorization.decode("ascii").strip().partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token:
            try:
                principal = decode_token(token, secret)
            except DomainError:
                pass
            else:
                return f"principal:{principal.role}:{principal.sub}"
    return f"address:{client[0] if client else 'unknown'}"


class GuardMiddleware:
    def __init__(self, app: ASGIApp, *, service: str, default_limit: int,
                 limits: Mapping[str, int], limiter: SharedWindows | None, secret: str) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits = sorted(limits.items(), key=lambda kv: -len(kv[0]))
        self.limiter = limiter
        self.secret = secret
        self.metrics = RouteMetrics(service)

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
            self.metrics.observe(method, template, status_holder["status"], time.perf_counter() - started)

    async def _check(self, scope: Scope) -> Response | None:
        problem = query_string_problem(scope.get("query_string", b""))
        if problem is not None:
            return error_reply(422, "invalid_characters", problem)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        limit = self._limit_for(scope["path"])
        if length is not None:
            try:
                if int(length) > limit:
                    return error_reply(413, "payload_too_large", f"request body exceeds {limit} bytes")
            except ValueError:
                return error_reply(400, "bad_request", "invalid Content-Length")
        if self.limiter is not None and scope.get("method") in WRITE_METHODS \
                and scope["path"].startswith("/v1/"):
            key = caller_key(headers.get(b"authorization"), self.secret, scope.get("client"))
            wait = await self.limiter.take(key)
            if wait > 0:
                return error_reply(429, "rate_limited", "too many write requests for this caller",
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
                return error_reply(413, "payload_too_large", f"request body exceeds {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        headers = dict(scope.get("headers") or [])
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if ctype in (b"application/json", b"") or ctype.endswith(b"+json"):
            if b"\x00" in body or b"\\u0000" in body:
                return error_reply(422, "invalid_characters", "NUL characters are not allowed")
            try:
                if not body.isascii():  # ASCII (most JSON) is UTF-8: a much cheaper scan of a big body
                    body.decode("utf-8")
            except UnicodeDecodeError:
                return error_reply(422, "invalid_characters", "request body is not valid UTF-8")
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay


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
