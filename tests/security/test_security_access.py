"""Access control of every route of every running service (issue 7, point 1).

Routes are enumerated from each service's live OpenAPI document; the roles a route
allows are read in-process from the FastAPI routers (the `lcs_roles` attribute that
`shared.auth.require_roles` puts on its dependency)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount

from shared.context import Runtime
from shared.devtools.stack import Stack
from shared.settings import Settings
from shared.web import create_app
from tests.conftest import Infra
from tests.security.conftest import Flow
from tests.security.support import (
    ALL_ROLES,
    DOCS_ROUTES,
    SERVICES,
    UNAUTHENTICATED,
    bad_tokens,
    declared_roles,
    describe,
    error_shape_problem,
    fill_path,
    flatten,
    need,
    operations,
    request_kwargs,
    role_token,
    service_spec,
)

per_service = pytest.mark.parametrize("service", SERVICES)


def _ops(openapi: dict[str, dict[str, Any]], service: str) -> list[Any]:
    return [op for op in operations(service, openapi[service]) if op.path.startswith("/v1")]


@per_service
def test_every_v1_route_declares_its_roles(stack: Stack, openapi: dict[str, dict[str, Any]], service: str) -> None:
    need(stack, service)
    roles = declared_roles(service)
    problems = [f"{m} {p}: declares no roles (no require_roles dependency)"
                for (m, p), allowed in sorted(roles.items()) if p.startswith("/v1") and not allowed]
    for op in _ops(openapi, service):
        if op.key not in roles:
            problems.append(f"{op}: in OpenAPI but not found in services.{service}.main.SPEC.routers")
    assert not problems, "\n".join(problems)
    assert any(p.startswith("/v1") for _, p in roles), f"{service} has no /v1 routes at all"


@per_service
def test_only_health_metrics_and_osmand_are_unauthenticated(stack: Stack, openapi: dict[str, dict[str, Any]],
                                                            service: str) -> None:
    need(stack, service)
    spec = service_spec(service)
    rt = Runtime(service=service, settings=Settings(env="dev"), pool=None)  # type: ignore[arg-type]
    app = create_app(rt=rt, routers=spec.routers, title=spec.title, description=spec.description,
                     body_limits=spec.body_limits)
    problems = []
    for flat in flatten(app.router):
        path, route = flat.path, flat.route
        if isinstance(route, Mount):
            problems.append(f"mounted sub-application at {path}: not covered by route guards")
        elif path.startswith("/v1/"):
            for method in flat.methods:
                if not flat.roles and method != "HEAD":
                    problems.append(f"{method} {path}: /v1 route without a role guard")
        elif path not in UNAUTHENTICATED | DOCS_ROUTES:
            problems.append(f"{path}: unauthenticated route outside {sorted(UNAUTHENTICATED)}")
        elif isinstance(route, APIRoute) and path in DOCS_ROUTES:
            problems.append(f"{path}: a service route shadows FastAPI's documentation route")
    for path in openapi[service].get("paths", {}):
        if not path.startswith("/v1/") and path not in UNAUTHENTICATED:
            problems.append(f"{path}: in OpenAPI, outside /v1 and not one of {sorted(UNAUTHENTICATED)}")
    for path in ("/livez", "/readyz", "/metrics"):
        r = httpx.get(stack.url(service) + path, timeout=10)
        if r.status_code != 200:
            problems.append(f"GET {path} without a token: {describe(r)}")
    assert not problems, "\n".join(problems)


@per_service
def test_no_token_is_401(stack: Stack, openapi: dict[str, dict[str, Any]], service: str) -> None:
    need(stack, service)
    assert _ops(openapi, service), f"{service} documents no /v1 operations"
    problems = []
    with httpx.Client(base_url=stack.url(service), timeout=10) as client:
        for op in _ops(openapi, service):
            path = fill_path(op, openapi[service])
            for label, headers in (("no header", {}), ("Basic scheme", {"Authorization": "Basic YWRtaW46YWRtaW4="}),
                                   ("bearer without a token", {"Authorization": "Bearer"})):
                r = client.request(op.method, path, headers=headers, **request_kwargs(op))
                shape = error_shape_problem(r)
                if r.status_code != 401 or shape:
                    problems.append(f"{op} [{label}] -> {describe(r)}{'; ' + shape if shape else ''}")
    assert not problems, f"{len(problems)} failures:\n" + "\n".join(problems)


@per_service
def test_expired_and_wrongly_signed_tokens_are_401(stack: Stack, infra: Infra,
                                                    openapi: dict[str, dict[str, Any]], service: str) -> None:
    need(stack, service)
    problems = []
    tokens = bad_tokens(infra)
    with httpx.Client(base_url=stack.url(service), timeout=10) as client:
        for op in _ops(openapi, service):
            path = fill_path(op, openapi[service])
            for label, token in tokens.items():
                r = client.request(op.method, path, headers={"Authorization": f"Bearer {token}"},
                                   **request_kwargs(op))
                shape = error_shape_problem(r)
                if r.status_code != 401 or shape:
                    problems.append(f"{op} [{label} token] -> {describe(r)}{'; ' + shape if shape else ''}")
    assert not problems, f"{len(problems)} failures:\n" + "\n".join(problems)


@per_service
def test_a_role_not_allowed_is_403(stack: Stack, infra: Infra, openapi: dict[str, dict[str, Any]],
                                   service: str) -> None:
    need(stack, service)
    roles = declared_roles(service)
    problems = []
    checked = 0
    with httpx.Client(base_url=stack.url(service), timeout=10) as client:
        for op in _ops(openapi, service):
            allowed = roles.get(op.key)
            if not allowed:
                problems.append(f"{op}: no declared roles (see test_every_v1_route_declares_its_roles)")
                continue
            path = fill_path(op, openapi[service])
            for role in ALL_ROLES:
                if role in allowed:
                    continue
                checked += 1
                r = client.request(op.method, path, headers={"Authorization": f"Bearer {role_token(infra, role)}"},
                                   **request_kwargs(op))
                shape = error_shape_problem(r)
                if r.status_code != 403 or shape:
                    problems.append(f"{op} [role {role}; allowed {sorted(allowed)}] -> {describe(r)}"
                                    f"{'; ' + shape if shape else ''}")
    assert checked > 0, f"{service}: no role is refused anywhere"
    assert not problems, f"{len(problems)} of {checked} checks failed:\n" + "\n".join(problems)


# --- branch scoping and carrier scoping (not parametrised by service) -------------------

def _hidden(r: httpx.Response) -> bool:
    return r.status_code in (403, 404)


def _items(r: httpx.Response) -> list[dict[str, Any]]:
    body = r.json()
    return body.get("items", []) if isinstance(body, dict) else body


def test_a_branch_cannot_read_or_change_what_does_not_touch_its_station(stack: Stack, infra: Infra,
                                                                         flow: Flow) -> None:
    need(stack, "tracking")
    assert flow.ok("register"), f"the flow could not register its shipment: {flow.problems()}"
    foreign = infra.headers("branch", branch=flow.other)
    own = infra.headers("branch", branch=flow.origin)
    dest = infra.headers("branch", branch=flow.dest)
    admin = infra.headers("admin")
    problems: list[str] = []
    wb = flow.waybill

    def expect_hidden(label: str, r: httpx.Response) -> None:
        if not _hidden(r) or error_shape_problem(r):
            problems.append(f"{label}: expected 403/404 in the error shape, got {describe(r)}")

    def expect_not_listed(label: str, r: httpx.Response, key: str, value: str) -> None:
        if _hidden(r):
            return
        if r.status_code != 200:
            problems.append(f"{label}: {describe(r)}")
        elif any(str(item.get(key)) == value for item in _items(r)):
            problems.append(f"{label}: lists {key}={value} of another branch")

    t = httpx.Client(base_url=stack.url("tracking"), timeout=10)
    expect_hidden(f"tracking GET /v1/shipments/{wb} (foreign branch)", t.get(f"/v1/shipments/{wb}", headers=foreign))
    for label, headers in (("origin", own), ("destination", dest)):
        r = t.get(f"/v1/shipments/{wb}", headers=headers)
        if r.status_code != 200:
            problems.append(f"positive control: tracking GET /v1/shipments/{wb} by the {label} branch: {describe(r)}")
    now = datetime.now(UTC).isoformat()
    expect_hidden("tracking POST notes (foreign branch)", t.post(f"/v1/shipments/{wb}/notes", headers=foreign, json={
        "at": now, "contact": "张三", "channel": "phone", "delayed": False, "note": "foreign note"}))
    expect_hidden("tracking POST exceptions (foreign branch)", t.post(
        f"/v1/shipments/{wb}/exceptions", headers=foreign,
        json={"kind": "other", "pieces": 1, "station": flow.other, "description": "foreign exception"}))
    expect_hidden("tracking POST scans (foreign branch)", t.post(f"/v1/shipments/{wb}/scans", headers=foreign, json={
        "type": "arrived", "station": flow.other, "at": now, "vehicle_id": flow.vehicle_id, "pieces": 1}))
    timeline = str(t.get(f"/v1/shipments/{wb}", headers=admin).json().get("timeline"))
    for marker in ("foreign note", "foreign exception"):
        if marker in timeline:
            problems.append(f"a foreign branch's write was stored: {marker!r} in the timeline")
    if flow.exception_id:
        expect_hidden("tracking GET photos of the shipment's exception (foreign branch)",
                      t.get(f"/v1/exceptions/{flow.exception_id}/photos", headers=foreign))
    # registering for another origin
    stolen = f"WX{flow.suffix}9999"
    body = flow.steps["register"].request.content.decode().replace(flow.waybill, stolen)
    r = t.post("/v1/shipments", headers={**foreign, "Content-Type": "application/json"}, content=body.encode())
    if r.status_code != 403:
        problems.append(f"tracking POST /v1/shipments with origin {flow.origin} by branch {flow.other}: {describe(r)}")
    if t.get(f"/v1/shipments/{stolen}", headers=admin).status_code != 404:
        problems.append(f"tracking: shipment {stolen} registered by a branch that is not its origin was stored")

    if "receipts" in stack.procs:
        rc = httpx.Client(base_url=stack.url("receipts"), timeout=10)
        expect_hidden(f"receipts GET /v1/receipts/{wb} (foreign branch)", rc.get(f"/v1/receipts/{wb}", headers=foreign))
        expect_not_listed("receipts GET /v1/receipts (foreign branch)", rc.get("/v1/receipts", headers=foreign),
                          "waybill_no", wb)
        for station in (flow.origin, flow.dest):
            expect_not_listed(f"receipts GET /v1/receipts?station={station} (foreign branch)",
                              rc.get("/v1/receipts", params={"station": station}, headers=foreign), "waybill_no", wb)
        expect_hidden("receipts POST re-sign (foreign branch)", rc.post(
            f"/v1/receipts/{wb}/re-sign", headers=foreign, json={"at": now, "by": "foreign"}))
    if "complaints" in stack.procs and flow.complaint_id:
        c = httpx.Client(base_url=stack.url("complaints"), timeout=10)
        cid = flow.complaint_id
        expect_hidden(f"complaints GET /v1/complaints/{cid} (foreign branch)",
                      c.get(f"/v1/complaints/{cid}", headers=foreign))
        expect_not_listed("complaints GET /v1/complaints (foreign branch)", c.get("/v1/complaints", headers=foreign),
                          "id", cid)
        expect_hidden(f"complaints POST /v1/complaints/{cid}/responses (foreign branch)", c.post(
            f"/v1/complaints/{cid}/responses", headers=foreign,
            json={"by": "foreign", "channel": "phone", "message": "foreign reply"}))
        r = c.get(f"/v1/customers/{flow.customer_id}", headers=foreign)
        if not _hidden(r) and cid in r.text:
            problems.append(f"complaints GET /v1/customers/{flow.customer_id} (foreign branch) shows complaint {cid}")
    if "notifier" in stack.procs:
        n = httpx.Client(base_url=stack.url("notifier"), timeout=10)
        expect_not_listed(f"notifier GET /v1/notifications?waybill_no={wb} (foreign branch)",
                          n.get("/v1/notifications", params={"waybill_no": wb}, headers=foreign), "waybill_no", wb)
        r = n.get("/v1/notifications", params={"customer_id": flow.customer_id}, headers=foreign)
        if not _hidden(r) and r.status_code == 200 and _items(r):
            problems.append(f"notifier GET /v1/notifications?customer_id= (foreign branch) lists {len(_items(r))} "
                            f"notifications of a customer whose shipment never touched {flow.other}")
        r = n.get("/v1/notifications", headers=foreign)
        if r.status_code == 200 and any(str(i.get("waybill_no")) == wb for i in _items(r)):
            problems.append("notifier GET /v1/notifications (foreign branch) lists the shipment's notifications")
        listed = flow.steps.get("notifications")
        ids = [str(i.get("id") or i.get("notification_id")) for i in _items(listed)] if listed is not None \
            and listed.status_code == 200 else []
        if not ids:
            problems.append(f"the flow produced no notification for {wb} to test with: "
                            f"{describe(listed) if listed is not None else 'notifier not running'}")
        for nid in ids[:3]:
            expect_hidden(f"notifier GET /v1/notifications/{nid} (foreign branch)",
                          n.get(f"/v1/notifications/{nid}", headers=foreign))
    assert not problems, "\n".join(problems)


def test_a_carrier_pushes_positions_only_for_its_own_vehicles(stack: Stack, infra: Infra, flow: Flow) -> None:
    need(stack, "tracking")
    assert flow.ok(f"vehicle {flow.vehicle_id}"), flow.problems()
    t = httpx.Client(base_url=stack.url("tracking"), timeout=10)
    own = infra.headers("carrier", carrier=flow.carrier)
    other = infra.headers("carrier", carrier=flow.other_carrier)
    admin = infra.headers("admin")
    at = datetime.now(UTC) - timedelta(minutes=1)
    problems = []

    def pos(vehicle: str, when: datetime) -> dict[str, Any]:
        return {"vehicle_id": vehicle, "at": when.isoformat(), "lat": 31.7, "lon": 120.2, "speed_kmh": 50.0,
                "heading": 90.0}

    before = t.get(f"/v1/vehicles/{flow.vehicle_id}", headers=admin).json().get("last_position")
    # another carrier's vehicle is answered as an unknown one (T21): 422 unknown_vehicle
    r = t.post("/v1/positions", headers=other, json={"positions": [pos(flow.vehicle_id, at)]})
    if r.status_code != 422 or r.json()["error"]["code"] != "unknown_vehicle":
        problems.append(f"POST /v1/positions by carrier {flow.other_carrier} for {flow.vehicle_id}: {describe(r)}")
    r = t.post("/v1/positions", headers=own, json={"positions": [pos(flow.vehicle_id, at),
                                                                   pos(flow.other_vehicle_id, at)]})
    if r.status_code != 422 or r.json()["error"]["code"] != "unknown_vehicle":
        problems.append(f"POST /v1/positions by {flow.carrier}, batch with another carrier's vehicle: {describe(r)}")
    r = t.post("/v1/positions", headers=own, json={"positions": [pos(f"VNOSUCH{flow.suffix}", at)]})
    if r.status_code < 400:
        problems.append(f"POST /v1/positions for an unknown vehicle: {describe(r)}")
    r = t.post("/v1/ingest/traccar", headers=other, json={
        "position": {"deviceId": 1, "fixTime": at.isoformat(), "latitude": 31.7, "longitude": 120.2, "speed": 20,
                     "course": 90, "altitude": 10, "accuracy": 5, "valid": True, "attributes": {}},
        "device": {"uniqueId": flow.device_id, "name": "phone"}})
    if r.status_code != 400 or r.json()["error"]["code"] != "unknown_device":
        problems.append(f"POST /v1/ingest/traccar by carrier {flow.other_carrier} for device {flow.device_id}: "
                        f"{describe(r)}")
    after = t.get(f"/v1/vehicles/{flow.vehicle_id}", headers=admin).json().get("last_position")
    if after != before:
        problems.append(f"a refused push changed the vehicle's last position: {before} -> {after}")
    r = t.post("/v1/positions", headers=own, json={"positions": [pos(flow.vehicle_id, at)]})
    if r.status_code >= 300:
        problems.append(f"positive control: carrier {flow.carrier} pushing for its own vehicle: {describe(r)}")
    assert not problems, "\n".join(problems)
