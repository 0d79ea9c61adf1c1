"""The one error shape of the public contract, for every 4xx and 5xx.

`{"error": {"code": "snake_case_code", "message": "...", "details": ...}}`
Rules and services raise `DomainError` subclasses (`Invalid`, `NotFound`, `Conflict`,
`Forbidden`, ...), each carrying its HTTP status; one handler renders them all.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("lcs.errors")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """The error envelope every service answers with (documented in OpenAPI)."""

    error: ErrorBody


class DomainError(Exception):
    """A rule's refusal, meant for the caller: a stable snake_case code and a human message.

    The subclass says which kind of refusal it is, and so its HTTP status; the one handler
    installed by `shared.web.create_app` renders every one in the contract's shape. Rules and
    service functions raise these; nothing in a service builds an HTTP error itself."""

    status: int = 422

    def __init__(self, code: str, message: str, details: Any = None, *,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


class Invalid(DomainError):
    """The request breaks a rule of the domain (422)."""

    status = 422


class NotFound(DomainError):
    """The thing does not exist, or the caller may not know that it does (404)."""

    status = 404

    @classmethod
    def of(cls, what: str, key: object) -> NotFound:
        return cls("not_found", f"{what} {key} not found")


class NotAcceptable(DomainError):
    """No form of the answer the `Accept` header takes (406)."""

    status = 406


class Conflict(DomainError):
    """The request conflicts with the current state: a duplicate, a transition not allowed (409)."""

    status = 409


class Forbidden(DomainError):
    """The caller is known but may not do this (403)."""

    status = 403


class Unauthorized(DomainError):
    """No valid credentials (401)."""

    status = 401


class BadRequest(DomainError):
    """The request itself is malformed: framing, encoding, a header (400)."""

    status = 400


class TooLarge(DomainError):
    """The request or an upload exceeds its size limit (413)."""

    status = 413


class UnsupportedMedia(DomainError):
    """The body's media type is not one this route reads (415)."""

    status = 415


class RateLimited(DomainError):
    """Too many requests; `headers` carries Retry-After (429)."""

    status = 429


class Unavailable(DomainError):
    """A dependency cannot serve now; retry later (503)."""

    status = 503


def not_found(what: str, key: str) -> NotFound:
    return NotFound.of(what, key)


def forbidden(message: str = "this token may not do that") -> Forbidden:
    return Forbidden("forbidden", message)


def error_json(status: int, code: str, message: str, details: Any = None,
               headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(status_code=status, content=body, headers=headers)


_STATUS_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited",
    503: "unavailable",
}

# Errors that mean "the database cannot serve this right now": answer 503, never 500.
# A cached statement invalidated by a migration (a rolling upgrade adding a column) is one:
# the retry succeeds on a fresh statement.
DB_UNAVAILABLE: tuple[type[Exception], ...] = (
    asyncpg.InvalidCachedStatementError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
    asyncpg.ConnectionDoesNotExistError,
    ConnectionError,
    OSError,
)


def _clean_validation_errors(errors: Any) -> list[dict[str, Any]]:
    """Validation details without echoing the input back (it may be huge or personal)."""
    cleaned = []
    for err in errors:
        cleaned.append({
            "loc": [str(p) for p in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        })
    return cleaned


def error_response(exc: Exception, *, path: str = "") -> JSONResponse:
    """The contract's answer to an exception raised while handling a request: the caller's
    `DomainError` as it is, 503 when the database cannot serve, 500 (logged) for anything else.
    The exception handlers below and the ASGI fast routes (`shared.fastpath.routes.FastRoutes`) share it."""
    if isinstance(exc, DomainError):
        return error_json(exc.status, exc.code, exc.message, exc.details, exc.headers)
    if isinstance(exc, RequestValidationError):
        details = _clean_validation_errors(exc.errors())
        message = "invalid request"
        if details:
            where = ".".join(p for p in details[0]["loc"] if p not in ("body", "query", "path"))
            message = f"{where}: {details[0]['msg']}" if where else str(details[0]["msg"])
        return error_json(422, "validation_error", message, details)
    if isinstance(exc, asyncpg.exceptions.CharacterNotInRepertoireError):
        return error_json(422, "invalid_characters", "text contains characters that cannot be stored")
    if isinstance(exc, DB_UNAVAILABLE):
        log.warning("database unavailable", extra={"path": path, "error": repr(exc)})
        return error_json(503, "unavailable", "the database is unavailable, retry shortly",
                          headers={"Retry-After": "5"})
    log.error("unhandled error", extra={"path": path}, exc_info=exc)
    return error_json(500, "internal_error", "an unexpected error occurred")


def http_error_response(exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's own refusals (unknown path, wrong method) in the contract's shape."""
    code = _STATUS_CODES.get(exc.status_code, "error")
    headers = dict(exc.headers) if exc.headers else None
    return error_json(exc.status_code, code, str(exc.detail), None, headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return http_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(asyncpg.exceptions.CharacterNotInRepertoireError)
    async def _bad_chars(_: Request, exc: Exception) -> JSONResponse:
        return error_response(exc)

    async def _db_unavailable(request: Request, exc: Exception) -> JSONResponse:
        return error_response(exc, path=request.url.path)

    # Registered per class (not under `Exception`) so they are handled like any expected
    # error, without Starlette logging a traceback for every request during an outage.
    for exc_class in DB_UNAVAILABLE:
        app.add_exception_handler(exc_class, _db_unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return error_response(exc, path=request.url.path)
