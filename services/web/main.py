"""Composition root of web: the desk in the browser, a backend-for-frontend.

Settings → pool → migrations (schema `web`: people and sessions) → context (one pooled
HTTP client per backend, the live hub, templates, the password hasher) → the consumer of
`lcs.events` (its own queue; each event becomes a live notice) → the LISTEN worker that
fans notices out to this replica's open pages → HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.web.backends.capabilities import Capabilities
from services.web.backends.client import Backend, Backends
from services.web.context import WebContext, WebRuntime
from services.web.desk import api as desk_api
from services.web.desk import appointments, complaints, exceptions, in_transit, notifications, receipts
from services.web.domain.messages import message
from services.web.live import api as live_api
from services.web.live.handlers import CONSUMES, handlers_for
from services.web.live.hub import LiveHub
from services.web.live.listener import listen
from services.web.people import api as people_api
from services.web.people.api import SignInRequired, login_redirect
from services.web.people.repository import delete_expired_sessions
from services.web.portal import api as portal_api
from services.web.public import api as public_api
from services.web.public import service as public_service
from services.web.public.repository import log_lookups
from services.web.reports import api as reports_api
from services.web.security import SecurityHeaders, content_security_policy
from services.web.settings import WebSettings
from services.web.templating import Templates, language_of
from shared.clock import utcnow
from shared.context import Runtime
from shared.errors import DB_UNAVAILABLE, DomainError, error_response, http_error_response
from shared.grouped import GroupWriter
from shared.ratelimit import SharedWindows
from shared.runtime import PeriodicSpec, ServiceSpec, run
from shared.scheduler import Job
from shared.settings import Settings

log = logging.getLogger("lcs.web")
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per backend call is noise
HERE = Path(__file__).parent
PUBLIC_PREFIXES = ("/track", "/t/")  # the public tracking page: no sign-in, its own page for errors
HTML_PREFIXES = ("/desk", "/portal", "/login", "/logout", "/account", "/lang", *PUBLIC_PREFIXES)


async def build_context(rt: Runtime[Any, Any]) -> WebContext:
    s: WebSettings = rt.settings

    def backend(name: str, url: str) -> Backend:
        return Backend(name, url, secret=s.auth_secret, token_ttl=s.backend_token_ttl_seconds,
                       timeout=s.backend_timeout_seconds, connect_timeout=s.backend_connect_timeout_seconds,
                       retries=s.backend_get_retries)

    public_limiter = SharedWindows(rt.pool, s.public_lookups_per_address) if s.public_lookups_per_address else None
    hasher = PasswordHasher()  # argon2id, the library's (RFC 9106 low-memory) defaults
    backends = Backends(tracking=backend("tracking", s.tracking_url), receipts=backend("receipts", s.receipts_url),
                        complaints=backend("complaints", s.complaints_url),
                        notifier=backend("notifier", s.notifier_url))
    return WebContext(
        backends=backends,
        capabilities=Capabilities(), hub=LiveHub(s.sse_queue_size), templates=Templates(), hasher=hasher,
        dummy_hash=await asyncio.to_thread(hasher.hash, "not-a-password: equal work for unknown users"),
        lookup_log=GroupWriter(rt.pool, log_lookups, one_statement=True),
        public_views=public_service.tracking_views(backends.tracking),
        login_limiter=SharedWindows(rt.pool, s.login_failures_per_address) if s.login_failures_per_address else None,
        public_limiter=public_limiter,
        public_takes=public_service.limits_and_locks(public_limiter) if public_limiter is not None else None)


async def live_worker(rt: Runtime[Any, Any]) -> None:
    """LISTENs for live notices; on shutdown ends the streams and closes the backend clients."""
    web: WebRuntime = rt
    try:
        await listen(web)
    finally:
        web.context.hub.shutdown()
        with contextlib.suppress(Exception):
            await web.context.backends.aclose()


def _is_html(request: Request) -> bool:
    return request.url.path.startswith(HTML_PREFIXES) or request.url.path == "/"


def _wants_html(request: Request) -> bool:
    """A browser asking for a page (its `Accept` names text/html), not a script or a probe."""
    return "text/html" in request.headers.get("accept", "").lower()


def templates_message(request: Request, key: str) -> str:
    return message(key, language_of(request))


def configure_app(app: FastAPI, rt: Runtime[Any, Any]) -> None:
    s: WebSettings = rt.settings
    templates: Templates = rt.context.templates
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(SecurityHeaders, csp=content_security_policy(s.map_tile_url))

    def page(request: Request, status: int, code: str, message: str | None) -> Response:
        person = getattr(request.state, "person", None)
        return templates.render(request, "error.html", status=status, person=person, code=code, message=message)

    async def domain_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, SignInRequired) and _is_html(request):
            return login_redirect(request)
        if not _is_html(request):
            return error_response(exc, path=request.url.path)
        if isinstance(exc, DomainError):
            code = exc.code if exc.status in (403, 404) or exc.code == "csrf_refused" else "error"
            code = "not_found" if exc.status == 404 else code
            code = "forbidden" if code in ("not_on_desk", "not_a_customer") else code
            return page(request, exc.status, code, exc.message)
        if isinstance(exc, RequestValidationError) and request.url.path.startswith(PUBLIC_PREFIXES):
            return public_api.invalid_page(rt, request)
        if isinstance(exc, RequestValidationError):
            return page(request, 422, "error", "; ".join(str(e.get("msg")) for e in exc.errors()[:3]))
        log.error("unhandled error", extra={"path": request.url.path}, exc_info=exc)
        return page(request, 500, "error", None)

    async def db_unavailable(request: Request, exc: Exception) -> Response:
        """web's own database cannot serve (sessions, accounts live there): a browser gets a
        page saying so, anything else the contract's JSON 503; both with Retry-After."""
        if not _wants_html(request):
            return error_response(exc, path=request.url.path)
        log.warning("database unavailable", extra={"path": request.url.path, "error": repr(exc)})
        response = page(request, 503, "unavailable", templates_message(request, "error_unavailable_text"))
        response.headers["Retry-After"] = "5"
        return response

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not _is_html(request):
            return http_error_response(exc)
        return page(request, exc.status_code, "not_found" if exc.status_code == 404 else "error", None)

    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, domain_error)
    app.add_exception_handler(Exception, domain_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    # Per class, as shared.errors registers them (a handler for a subclass wins over `Exception`).
    for exc_class in DB_UNAVAILABLE:
        app.add_exception_handler(exc_class, db_unavailable)

    async def error_page(request: Request, exc: Exception) -> Response:
        """What the handlers above answer for `exc`, for a fast route (public.api.track_fast)."""
        if isinstance(exc, DB_UNAVAILABLE):
            return await db_unavailable(request, exc)
        if isinstance(exc, StarletteHTTPException):
            return await http_error(request, exc)
        return await domain_error(request, exc)

    rt.context.error_page = error_page


def _sweep_interval(settings: Settings) -> float:
    return 3600.0


def _sweep_job(rt: Runtime[Any, Any]) -> Job:
    async def job(now: Any) -> None:
        await delete_expired_sessions(rt.pool, utcnow())
        await public_service.sweep(rt)
    return job


SPEC = ServiceSpec(
    name="web",
    title="LCS web",
    description="The CS desk and the key-account portal in the browser: a backend-for-frontend over the "
                "four services' /v1 APIs, with live updates from lcs.events over Server-Sent Events.",
    package_dir=HERE,
    routers=[people_api.router, public_api.router, desk_api.router, appointments.router, in_transit.router,
             complaints.router, receipts.router, exceptions.router, notifications.router, reports_api.router,
             live_api.router, portal_api.router],
    settings_cls=WebSettings,
    consumes=CONSUMES,
    handlers=handlers_for,
    periodic=[PeriodicSpec(name="session-sweep", interval_seconds=_sweep_interval, job=_sweep_job)],
    workers=[live_worker],
    context=build_context,
    configure_app=configure_app,
    # The public page's look-up, behind the guard but in front of FastAPI (public.api.track_fast).
    guarded_fast_routes={"/track": public_api.track_fast},
    body_limits={"/desk/shipments/": 26_000_000},
)


def main() -> None:
    run(SPEC)
