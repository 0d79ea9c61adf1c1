"""What a backend can do today, read from its OpenAPI document.

A backend ignores a query parameter it does not know (FastAPI does): `GET /v1/shipments?phone=`
on a tracking without phone search answers the first page of every shipment, which must never
be shown as a search result. So before using a parameter or an endpoint that not every
deployed backend has, web looks it up in the backend's published OpenAPI, cached a minute.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from services.web.backends.client import Backend

TTL_SECONDS = 60.0


class Capabilities:
    def __init__(self) -> None:
        self._docs: dict[str, tuple[dict[str, Any], float]] = {}

    async def _openapi(self, backend: Backend) -> dict[str, Any]:
        cached = self._docs.get(backend.name)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            r = await backend.get_unsigned("/openapi.json")
            doc: dict[str, Any] = r.json() if r.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            doc = {}
        self._docs[backend.name] = (doc, now + (TTL_SECONDS if doc else 5.0))
        return doc

    async def has_route(self, backend: Backend, method: str, path: str) -> bool:
        doc = await self._openapi(backend)
        return method.lower() in doc.get("paths", {}).get(path, {})

    async def has_param(self, backend: Backend, method: str, path: str, param: str) -> bool:
        doc = await self._openapi(backend)
        op = doc.get("paths", {}).get(path, {}).get(method.lower())
        if not op:
            return False
        return any(p.get("name") == param for p in op.get("parameters", []))
