"""No role learns through a write what it cannot read (issue 22, "done when").

Route by route: every write route a `branch` or a `carrier` may call is sent a valid request
that names a resource the caller cannot read (the flow's waybill, exception and envelope for a
branch of a station off the route; the other carrier's vehicle for a carrier) and the same
request naming a resource that does not exist. The two answers must be the same (status,
error code, and message once the id is taken out), refused, in the contract's error shape —
so the write tells nothing about existence or state (delivered, signed, already handed over)
— and the resource must read the same to the desk afterwards: nothing stored.

The table must name every such route: a write route added for these roles later fails
`test_every_scoped_write_route_is_probed` until it has a probe here."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.devtools.stack import Stack
from tests.conftest import Infra
from tests.security.conftest import Flow
from tests.security.support import declared_roles, describe, error_shape_problem, need, wait_for

SCOPED_ROLES = frozenset({"branch", "carrier"})
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


def _now(minutes: int = 0) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


@dataclass(frozen=True)
class Probe:
    """A write naming `target`; `fingerprint` reads the flow's resource as the desk sees it."""

    service: str
    method: str
    path: str  # template
    role: str
    send: Callable[[httpx.Client, dict[str, str], str], httpx.Response]  # (client, headers, target id)
    foreign: Callable[[Flow], str]
    missing: Callable[[Flow], str]
    fingerprint: Callable[[dict[str, httpx.Client], dict[str, str], Flow], Any]


def _shipment(clients: dict[str, httpx.Client], admin: dict[str, str], f: Flow) -> Any:
    body = clients["tracking"].get(f"/v1/shipments/{f.waybill}", headers=admin).json()
    return body.get("status"), len(body.get("timeline") or []), body.get("delivery"), \
        [(e.get("status"), len(e.get("photos") or [])) for e in body.get("exceptions") or []]


def _receipt(clients: dict[str, httpx.Client], admin: dict[str, str], f: Flow) -> Any:
    body = clients["receipts"].get(f"/v1/receipts/{f.waybill}", headers=admin).json()
    return body.get("status"), len(body.get("custody") or body.get("custody_chain") or []), body.get("envelope_id")


def _vehicle(clients: dict[str, httpx.Client], admin: dict[str, str], f: Flow) -> Any:
    body = clients["tracking"].get(f"/v1/vehicles/{f.other_vehicle_id}", headers=admin).json()
    return {k: body.get(k) for k in ("plate", "carrier", "driver_name", "device_id", "last_position")}


def _wb(f: Flow) -> str:
    return f.waybill


def _no_wb(f: Flow) -> str:
    return f"WN{f.suffix}{uuid.uuid4().hex[:4].upper()}"


def _post(path: str, body: Callable[[Flow, str], dict[str, Any]], flow: Flow) -> Callable[..., httpx.Response]:
    def send(client: httpx.Client, headers: dict[str, str], target: str) -> httpx.Response:
        return client.post(path.format(id=target), headers=headers, json=body(flow, target))
    return send


def probes(f: Flow) -> list[Probe]:
    def branch_waybill(path: str, body: Callable[[Flow, str], dict[str, Any]], svc: str = "tracking",
                       fp: Callable[..., Any] = _shipment) -> Probe:
        return Probe(svc, "POST", path.replace("{id}", "{waybill_no}"), "branch", _post(path, body, f),
                     _wb, _no_wb, fp)

    def exception(path: str, send: Callable[..., httpx.Response]) -> Probe:
        return Probe("tracking", "POST", path.replace("{id}", "{exception_id}"), "branch", send,
                     lambda fl: str(fl.exception_id), lambda _: str(uuid.uuid4()), _shipment)

    def photo(client: httpx.Client, headers: dict[str, str], target: str) -> httpx.Response:
        return client.post(f"/v1/exceptions/{target}/photos", headers=headers,
                           files={"file": ("p.png", PNG, "image/png")})

    def resolve(client: httpx.Client, headers: dict[str, str], target: str) -> httpx.Response:
        return client.post(f"/v1/exceptions/{target}/resolve", headers=headers,
                           json={"resolution": "foreign resolution", "note": "foreign"})

    def positions(client: httpx.Client, headers: dict[str, str], target: str) -> httpx.Response:
        return client.post("/v1/positions", headers=headers, json={"positions": [
            {"vehicle_id": target, "at": _now(1), "lat": 30.0, "lon": 119.0, "speed_kmh": 10.0, "heading": 0.0}]})

    def traccar(client: httpx.Client, headers: dict[str, str], target: str) -> httpx.Response:
        return client.post("/v1/ingest/traccar", headers=headers, json={
            "device": {"uniqueId": target}, "position": {
                "latitude": 30.0, "longitude": 119.0, "speed": 5.0, "course": 0.0, "fixTime": _now(1)}})

    def envelope(client: httpx.Client, headers: dict[str, str], target: str) -> httpx.Response:
        return client.post("/v1/envelopes", headers=headers, json={
            "from_station": f.other, "to_station": f.origin, "waybills": [target], "sent_at": _now(1),
            "courier_no": "SF1234567"})

    def arrival(client: httpx.Client, headers: dict[str, str], target: str) -> httpx.Response:
        return client.post(f"/v1/envelopes/{target}/arrival", headers=headers,
                           json={"received_at": _now(1), "waybills_present": [_ENVELOPES[f.suffix][1]]})

    return [
        branch_waybill("/v1/shipments/{id}/notes", lambda fl, _: {
            "at": _now(1), "contact": "张三", "channel": "phone", "delayed": True, "reason": "traffic_jam",
            "note": "foreign note"}),
        branch_waybill("/v1/shipments/{id}/exceptions", lambda fl, _: {
            "kind": "other", "pieces": 1, "station": fl.other, "description": "foreign exception"}),
        branch_waybill("/v1/shipments/{id}/scans", lambda fl, _: {
            "type": "arrived", "station": fl.other, "at": _now(1), "vehicle_id": fl.vehicle_id, "pieces": 1}),
        branch_waybill("/v1/shipments/{id}/delivery", lambda fl, _: {
            "signed_at": _now(1), "signer_name": "外人", "signer_id_type": "id_card", "signer_id_number": None,
            "delegate": None, "company_stamp": False, "pieces": 10}),
        branch_waybill("/v1/shipments/{id}/appointments", lambda fl, _: {
            "window_start": _now(-24 * 60), "window_end": _now(-26 * 60), "contact": "外人", "channel": "phone",
            "note": "foreign appointment"}),
        exception("/v1/exceptions/{id}/photos", photo),
        exception("/v1/exceptions/{id}/resolve", resolve),
        branch_waybill("/v1/receipts/{id}/receive", lambda fl, _: {"at": _now(1), "note": "foreign"},
                       "receipts", _receipt),
        branch_waybill("/v1/receipts/{id}/inspection", lambda fl, _: {"result": "qualified", "anomalies": [],
                                                                      "by": "foreign", "at": _now(1)},
                       "receipts", _receipt),
        branch_waybill("/v1/receipts/{id}/re-sign", lambda fl, _: {"at": _now(1), "by": "foreign"},
                       "receipts", _receipt),
        branch_waybill("/v1/receipts/{id}/handover", lambda fl, _: {"to": "customer", "recipient": "foreign",
                                                                    "at": _now(1)},
                       "receipts", _receipt),
        branch_waybill("/v1/receipts/{id}/write-off", lambda fl, _: {"at": _now(1), "collector": "foreign"},
                       "receipts", _receipt),
        Probe("receipts", "POST", "/v1/envelopes", "branch", envelope, _wb, _no_wb, _receipt),
        Probe("receipts", "POST", "/v1/envelopes/{envelope_id}/arrival", "branch", arrival,
              _envelope_of, lambda _: str(uuid.uuid4()), _enveloped_receipt),
        Probe("tracking", "POST", "/v1/positions", "carrier", positions,
              lambda fl: fl.other_vehicle_id, lambda fl: f"VN{fl.suffix}", _vehicle),
        Probe("tracking", "POST", "/v1/ingest/traccar", "carrier", traccar,
              lambda fl: f"DEVB{fl.suffix}", lambda fl: f"DEVN{fl.suffix}", _vehicle),
    ]


# Write routes that create a resource under a name the caller chooses. Their answer for a name
# already taken cannot be the answer for a free name (the free one is created), so the probe is
# different: the refusal must carry nothing of the existing resource, and change nothing.
CLAIMS_A_NAME = {
    ("tracking", "POST", "/v1/shipments"): "a waybill number is unique across the network",
    ("tracking", "POST", "/v1/shipments/import"): "rows are registered as POST /v1/shipments",
    ("tracking", "PUT", "/v1/vehicles/{vehicle_id}"): "a vehicle id is unique across carriers",
    ("complaints", "POST", "/v1/complaints"): "probed in test_security_complaints_scope.py (T3b)",
}

_ENVELOPES: dict[str, tuple[str, str]] = {}  # flow suffix -> (envelope id, its waybill)


def _envelope_of(f: Flow) -> str:
    return _ENVELOPES[f.suffix][0]


def _enveloped_receipt(clients: dict[str, httpx.Client], admin: dict[str, str], f: Flow) -> Any:
    body = clients["receipts"].get(f"/v1/receipts/{_ENVELOPES[f.suffix][1]}", headers=admin).json()
    return body.get("status"), len(body.get("custody") or body.get("custody_chain") or [])


@pytest.fixture(scope="module")
def clients(stack: Stack) -> dict[str, httpx.Client]:
    need(stack, "tracking", "receipts")
    return {name: httpx.Client(base_url=stack.url(name), timeout=15) for name in ("tracking", "receipts")}


@pytest.fixture(scope="module")
def sealed_envelope(clients: dict[str, httpx.Client], infra: Infra, flow: Flow) -> str:
    """A second shipment of the flow's route, delivered, its receipt qualified and sealed by the desk
    in an envelope from the destination to the origin (the flow's own receipt stays as it is)."""
    admin = infra.headers("admin")
    t, rc = clients["tracking"], clients["receipts"]
    waybill = f"WE{flow.suffix}0002"
    body = flow.steps["register"].request.content.decode().replace(flow.waybill, waybill)
    r = t.post("/v1/shipments", headers={**admin, "Content-Type": "application/json"}, content=body.encode())
    assert r.status_code == 201, describe(r)
    for typ, station, minutes in (("departed", flow.origin, 50), ("arrived", flow.dest, 20)):
        r = t.post(f"/v1/shipments/{waybill}/scans", headers=admin, json={
            "type": typ, "station": station, "at": _now(minutes), "vehicle_id": flow.vehicle_id, "pieces": 10})
        assert r.status_code == 201, describe(r)
    r = t.post(f"/v1/shipments/{waybill}/delivery", headers=admin, json={
        "signed_at": _now(10), "signer_name": flow.consignee_name, "signer_id_type": "id_card",
        "signer_id_number": flow.id_numbers[-1], "delegate": None, "company_stamp": False, "pieces": 10})
    assert r.status_code == 201, describe(r)
    signed = wait_for(lambda: rc.get(f"/v1/receipts/{waybill}", headers=admin),
                      lambda resp: resp.status_code == 200 and resp.json().get("status") == "signed")
    assert signed.json()["status"] == "signed", describe(signed)
    r = rc.post(f"/v1/receipts/{waybill}/inspection", headers=admin,
                json={"result": "qualified", "anomalies": [], "by": "desk", "at": _now(5)})
    assert r.status_code in (200, 201), describe(r)
    r = rc.post("/v1/envelopes", headers=admin, json={
        "from_station": flow.dest, "to_station": flow.origin, "waybills": [waybill],
        "sent_at": _now(2), "courier_no": "SF7654321"})
    assert r.status_code == 201, describe(r)
    envelope_id = str(r.json().get("id") or r.json().get("envelope_id"))
    _ENVELOPES[flow.suffix] = (envelope_id, waybill)
    return envelope_id


def test_every_scoped_write_route_is_probed(stack: Stack, flow: Flow) -> None:
    need(stack, "tracking", "receipts", "complaints", "notifier")
    probed = {(p.service, p.method, p.path) for p in probes(flow)} | set(CLAIMS_A_NAME)
    missing = []
    for service in ("tracking", "receipts", "complaints", "notifier"):
        for (method, path), roles in sorted(declared_roles(service).items()):
            if (method in ("POST", "PUT", "PATCH", "DELETE") and roles and roles & SCOPED_ROLES
                    and (service, method, path) not in probed):
                missing.append(f"{service} {method} {path} (roles {sorted(roles)})")
    assert not missing, "write routes open to branch/carrier without a probe here:\n" + "\n".join(missing)


def _comparable(r: httpx.Response, target: str) -> tuple[int, str, str]:
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return r.status_code, "", r.text.replace(target, "<id>")
    return r.status_code, str(error.get("code")), str(error.get("message")).replace(target, "<id>")


def test_a_write_naming_what_the_caller_cannot_read_answers_as_for_nothing(
        stack: Stack, infra: Infra, flow: Flow, clients: dict[str, httpx.Client], sealed_envelope: str) -> None:
    assert flow.ok("register") and flow.ok("delivery") and flow.exception_id, flow.problems()
    admin = infra.headers("admin")
    headers = {"branch": infra.headers("branch", branch=flow.other),
               "carrier": infra.headers("carrier", carrier=flow.other_carrier.replace("CB", "CZ"))}
    problems: list[str] = []
    for probe in probes(flow):
        client = clients[probe.service]
        before = probe.fingerprint(clients, admin, flow)
        foreign_id, missing_id = probe.foreign(flow), probe.missing(flow)
        foreign = probe.send(client, headers[probe.role], foreign_id)
        absent = probe.send(client, headers[probe.role], missing_id)
        label = f"{probe.service} {probe.method} {probe.path} as a foreign {probe.role}"
        if foreign.status_code < 400 or foreign.status_code >= 500:
            problems.append(f"{label}: not refused: {describe(foreign)}")
        elif error_shape_problem(foreign):
            problems.append(f"{label}: {error_shape_problem(foreign)}")
        if _comparable(foreign, foreign_id) != _comparable(absent, missing_id):
            problems.append(f"{label}: answers differently for an existing resource ({describe(foreign)}) "
                            f"and a missing one ({describe(absent)})")
        after = probe.fingerprint(clients, admin, flow)
        if after != before:
            problems.append(f"{label}: the resource changed: {before!r} -> {after!r}")
    assert not problems, "\n".join(problems)


def test_claiming_a_taken_name_refuses_without_telling_anything_of_its_owner(
        stack: Stack, infra: Infra, flow: Flow, clients: dict[str, httpx.Client]) -> None:
    admin = infra.headers("admin")
    t = clients["tracking"]
    problems: list[str] = []
    # A branch registering the flow's waybill number from its own station.
    body = flow.steps["register"].request.content.decode().replace(f'"{flow.origin}"', f'"{flow.other}"')
    before = _shipment(clients, admin, flow)
    r = t.post("/v1/shipments", headers={**infra.headers("branch", branch=flow.other),
                                         "Content-Type": "application/json"}, content=body.encode())
    if r.status_code not in (403, 404, 409) or error_shape_problem(r):
        problems.append(f"POST /v1/shipments with a taken waybill number: {describe(r)}")
    for secret in (flow.origin, flow.dest, flow.consignee_name, *flow.phones):
        if secret in r.text:
            problems.append(f"POST /v1/shipments with a taken waybill number tells {secret!r}: {r.text[:200]}")
    if _shipment(clients, admin, flow) != before:
        problems.append("POST /v1/shipments with a taken waybill number changed the shipment")
    # A carrier putting the other carrier's vehicle id.
    stranger = infra.headers("carrier", carrier=f"CZ{flow.suffix}")
    before_v = _vehicle(clients, admin, flow)
    r = t.put(f"/v1/vehicles/{flow.other_vehicle_id}", headers=stranger,
              json={"plate": "沪Z99999", "carrier": f"CZ{flow.suffix}", "driver_name": "外人"})
    if r.status_code not in (403, 404, 409) or error_shape_problem(r):
        problems.append(f"PUT another carrier's vehicle: {describe(r)}")
    for secret in ("沪A12345", "王师傅", flow.other_carrier, f"DEVB{flow.suffix}"):
        if secret in r.text:
            problems.append(f"PUT another carrier's vehicle tells {secret!r}: {r.text[:200]}")
    if _vehicle(clients, admin, flow) != before_v:
        problems.append("PUT another carrier's vehicle changed it")
    assert not problems, "\n".join(problems)
