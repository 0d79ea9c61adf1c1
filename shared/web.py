"""The HTTP side every service shares: the app factory.

`create_app` gives each service the same `/livez`, `/readyz`, `/metrics`, the contract's
error shape (one handler for `shared.errors.DomainError` and friends), the input guard
(`shared.guard`) in front of the routes, the service's fast routes, if it has any
(`shared.fastpath.routes`), an OpenAPI document that validators accept (`shared.apidoc`) and
the documentation pages with their assets served by the service itself (`shared.docs_ui`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared import apidoc, docs_ui
from shared.context import Runtime
from shared.errors import ErrorResponse, install_error_handlers
from shared.fastpath.http import DirectRoute, DirectRoutes
from shared.fastpath.routes import FastRoute, FastRoutes, ServiceApp
from shared.guard import GuardMiddleware
from shared.ratelimit import SharedWindows


async def check_ready(rt: Runtime[Any, Any]) -> dict[str, str]:
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


def create_app(*, rt: Runtime[Any, Any], routers: Sequence[APIRouter], title: str, description: str,
               version: str = "1.0.0", body_limits: Mapping[str, int] | None = None,
               fast_routes: Mapping[str, FastRoute] | None = None,
               guarded_fast_routes: Mapping[str, FastRoute] | None = None,
               direct_routes: Mapping[str, DirectRoute] | None = None,
               tags: Mapping[str, str] | None = None) -> FastAPI:
    """`tags`: a description per OpenAPI tag the service's routes use (see `shared.apidoc`)."""
    settings = rt.settings
    app = ServiceApp(
        title=title, description=description, version=version,
        # FastAPI's own OpenTelemetry layer off: the services report through Prometheus (`/metrics`)
        # and their logs, no OpenTelemetry SDK is installed, and left on it looks up the global
        # tracer, meter and logger providers on every request that reaches FastAPI (about 3% of
        # web's CPU on the public tracking page, figure 9's profile) to find them unconfigured
        telemetry={"tracing": False, "metrics": False, "logs": False},
        openapi_url=None, docs_url=None, redoc_url=None,  # shared.docs_ui serves them
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
    apidoc.install(app, settings=settings, service=rt.service, tags=tags)
    docs_ui.install(app, server_url=settings.api_server_url.replace("{service}", rt.service))

    if guarded_fast_routes:  # added before the guard: inside it (see FastRoutes)
        app.add_middleware(FastRoutes, rt=rt, routes=guarded_fast_routes, behind_guard=True)
    limiter = SharedWindows(rt.pool, settings.rate_limit_per_minute) if settings.rate_limit_per_minute > 0 else None
    app.add_middleware(GuardMiddleware, service=rt.service, default_limit=settings.max_body_bytes,
                       limits=dict(body_limits or {}), limiter=limiter, secret=settings.auth_secret)
    if fast_routes:  # in front of everything, Starlette's own middleware included (see ServiceApp)
        app.front = FastRoutes(functools.partial(FastAPI.__call__, app), rt=rt, routes=fast_routes)
    if direct_routes:  # answered by the HTTP protocol (shared.serving.server_config hands them to it)
        app.direct = DirectRoutes(rt, direct_routes)
    return app
