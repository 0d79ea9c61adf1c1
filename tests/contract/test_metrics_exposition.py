"""Metrics: no `_created` series, and the documentation routes counted under their own route
(not `unmatched`, which is for requests no route matched)."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY, generate_latest

from tests.contract.apps import service_app

PATHS = {"/openapi.json": "/openapi.json", "/docs": "/docs", "/redoc": "/redoc",
         "/docs/assets/swagger-ui.css": "/docs/assets/{name}", "/livez": "/livez"}


def _count(service: str, route: str, status: str = "200") -> float:
    return REGISTRY.get_sample_value("lcs_http_requests_total", {"service": service, "method": "GET",
                                                                 "route": route, "status": status}) or 0.0


async def test_documentation_routes_are_counted_under_their_route() -> None:
    app = service_app("receipts")
    before = {route: _count("receipts", route) for route in set(PATHS.values())}
    unmatched = _count("receipts", "unmatched", "404")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for path in PATHS:
            assert (await client.get(path)).status_code == 200, path
        assert (await client.get("/no/such/path")).status_code == 404
    for path, route in PATHS.items():
        assert _count("receipts", route) - before[route] == 1, path
    assert _count("receipts", "unmatched", "404") == unmatched + 1


async def test_no_created_series_are_exported() -> None:
    app = service_app("notifier")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        await client.get("/livez")
        body = (await client.get("/metrics")).text
    assert "lcs_http_requests_total" in body
    for exposition in (body, generate_latest().decode()):  # the service's page, and everything registered
        names = {line.split("{", 1)[0].split(" ", 1)[0] for line in exposition.splitlines()
                 if line and not line.startswith("#")}
        assert [n for n in names if n.endswith("_created")] == []
