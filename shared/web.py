"""The HTTP side every service shares: the app factory.

`create_app` gives each service the same `/livez`, `/readyz`, `/metrics`, the contract's
error shape (one handler for `shared.errors.DomainError` and friends), the input guard
(`shared.guard`) in front of the routes, and the service's fast routes, if it has any
(`shared.fastpath.routes`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.context import Runtime
from shared.errors import ErrorResponse, install_error_handlers
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
    limiter = SharedWindows(rt.pool, settings.rate_limit_per_minute) if settings.rate_limit_per_minute > 0 else None
    app.add_middleware(GuardMiddleware, service=rt.service, default_limit=settings.max_body_bytes,
                       limits=dict(body_limits or {}), limiter=limiter, secret=settings.auth_secret)
    if fast_routes:  # in front of everything, Starlette's own middleware included (see ServiceApp)
        app.front = FastRoutes(functools.partial(FastAPI.__call__, app), rt=rt, routes=fast_routes)
    return app
