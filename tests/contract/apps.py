"""Each service's FastAPI app built in-process from its `ServiceSpec`, with a runtime that has no
pool or broker (enough for the OpenAPI document, the documentation pages and the metrics)."""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import FastAPI

from shared.context import Runtime
from shared.settings import DEFAULT_PORTS
from shared.web import create_app
from tests.conftest import run_sync

SERVICES = tuple(DEFAULT_PORTS)


def service_app(service: str, **settings: Any) -> FastAPI:
    spec = importlib.import_module(f"services.{service}.main").SPEC
    rt: Runtime[Any, Any] = Runtime(service=service, settings=spec.settings_cls(env="dev", **settings),
                                    pool=None)  # type: ignore[arg-type]
    app = create_app(rt=rt, routers=spec.routers, title=spec.title, description=spec.description,
                     body_limits=spec.body_limits, tags=spec.tags)
    if spec.configure_app is not None:  # it may need the context (e.g. web's templates)
        if spec.context is not None:
            rt.context = run_sync(spec.context(rt))
        spec.configure_app(app, rt)
    return app
