"""A page is made of parts, each from one backend: a part that cannot be had says why
(that backend is unavailable, the thing is not found, the feature is not there yet) and the
rest of the page renders. No backend failure becomes a 500 page."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any

from services.web.backends.client import BackendDown, BackendError

log = logging.getLogger("lcs.web.desk")


@dataclass
class Part:
    backend: str
    data: Any = None
    problem: str | None = None  # unavailable | not_found | forbidden | unsupported | error
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None


async def part(backend: str, call: Awaitable[Any]) -> Part:
    try:
        return Part(backend, await call)
    except BackendDown as exc:
        return Part(backend, problem="unavailable", message=exc.message)
    except BackendError as exc:
        if exc.status == 404:
            return Part(backend, problem="not_found", message=exc.message)
        if exc.status in (401, 403):
            return Part(backend, problem="forbidden", message=exc.message)
        if exc.status == 405:
            return Part(backend, problem="unsupported", message=exc.message)
        log.warning("backend refused a read", extra={"backend": backend, "status": exc.status, "code": exc.code})
        return Part(backend, problem="error", message=exc.message)


async def parts(calls: Mapping[str, tuple[str, Awaitable[Any]]]) -> dict[str, Part]:
    """Every call at once; each answer (or its failure) under its name."""
    names = list(calls)
    results = await asyncio.gather(*(part(b, c) for b, c in calls.values()))
    return dict(zip(names, results, strict=True))


async def unsupported(backend: str, what: str) -> Part:
    return Part(backend, problem="unsupported", message=what)
