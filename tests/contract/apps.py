"""Each service's FastAPI app built in-process from its `ServiceSpec`, with a runtime that has no
pool or broker (enough for the OpenAPI document, the documentation pages and the metrics)."""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import FastAPI

from shared.context import Runtime
from shared.settings import DEFAULT_PORTS, Settings
from shared.web import create_app

SERVICES = tuple(DEFAULT_PORTS)


def service_app(service: str, **settings: Any) -> FastAPI:
    spec = importlib.import_module(f"services.{service}.main").SPEC
    rt: Runtime[Any, Any] = Runtime(service=service, settings=Settings(env="dev", **settings), pool=None)  # type: ignore[arg-type]
    app = create_app(rt=rt, routers=spec.routers, title=spec.title, description=spec.description,
                     body_limits=spec.body_limits, tags=spec.tags)
    if spec.configure_app is not None:
        spec.configure_app(app, rt)
    return app
