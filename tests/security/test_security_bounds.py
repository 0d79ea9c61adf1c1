"""Out-of-range values never answer 500 (issue 22, point 4).

Every query and path parameter of every GET route of every running service, read from the
live OpenAPI documents, is sent the values that used to reach PostgreSQL or Python's datetime
arithmetic unchecked: integers past bigint, instants in year 0 and 10000 and at the edge of
the calendar with a far offset, days and months outside 1970–2999, and cursors that carry
such values. Each must be refused in the contract's error shape (or, for a filter that
simply matches nothing, answered normally) — never 500. Routes added later are probed too:
nothing here names a route."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from shared.devtools.stack import Stack
from tests.conftest import Infra
from tests.security.support import (
    SERVICES,
    Op,
    _resolve,
    declared_roles,
    error_shape_problem,
    fill_path,
    need,
    operations,
    role_token,
)

BIG = str(2**63)
INSTANTS = ("0000-01-01T00:00:00+00:00", "10000-01-01T00:00:00+00:00", "9999-12-31T23:59:59-14:00",
            "9999-12-31T00:00:00+00:00", "0001-01-01T00:00:00+14:00")
DAYS = ("0001-01-01", "9999-12-31", "0000-00-00", "10000-01-01")
MONTHS = ("0001-01", "9999-12", "0000-13")


def _cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


CURSORS = (_cursor(2**63), _cursor(2**63, 2**63), _cursor("0000-01-01T00:00:00+00:00", 1),
           _cursor("10000-01-01T00:00:00+00:00", 1), _cursor("9999-12-31T23:59:59-14:00", 2**63),
           _cursor(-(2**63) - 1, "x"), _cursor(1e308, None))


def hostile_values(name: str, schema: dict[str, Any]) -> tuple[str, ...]:
    kind, fmt = schema.get("type"), schema.get("format")
    if name == "cursor" or name.endswith("_cursor"):
        return CURSORS
    if kind == "integer" or kind == "number":
        return (BIG, str(-(2**63) - 1), "1e400")
    if fmt == "date-time":
        return INSTANTS
    if fmt == "date":
        return DAYS
    if name == "month" or "month" in name:
        return MONTHS
    if kind == "string" and not schema.get("enum"):
        # free text or a period that accepts dates and instants alike
        return (*INSTANTS[:3], *DAYS[:2], MONTHS[0])
    return ()


def _role_for(op: Op, roles: dict[tuple[str, str], frozenset[str] | None]) -> str | None:
    allowed = roles.get(op.key)
    if allowed is None:
        return "admin"
    for preferred in ("admin", "supervisor", "staff", "branch", "carrier", "customer", "service"):
        if preferred in allowed:
            return preferred
    return next(iter(sorted(allowed)), None)


def _cases(doc: dict[str, Any], service: str) -> list[tuple[Op, str, str, str]]:
    cases: list[tuple[Op, str, str, str]] = []
    for op in operations(service, doc):
        if op.method != "GET" or not op.path.startswith("/v1"):
            continue
        for p in op.params:
            p = _resolve(doc, p) if "$ref" in p else p
            if p.get("in") not in ("query", "path"):
                continue
            for value in hostile_values(p["name"], _resolve(doc, p.get("schema", {}))):
                cases.append((op, p["in"], p["name"], value))
    return cases


@pytest.mark.parametrize("service", SERVICES)
def test_out_of_range_parameters_never_answer_500(stack: Stack, infra: Infra,
                                                  openapi: dict[str, dict[str, Any]], service: str) -> None:
    need(stack, service)
    doc = openapi[service]
    roles = declared_roles(service)
    cases = _cases(doc, service)
    assert cases, f"{service}: no GET parameters found to probe"
    problems: list[str] = []
    with httpx.Client(base_url=stack.url(service), timeout=30) as client:
        for op, where, name, value in cases:
            role = _role_for(op, roles)
            if role is None:
                continue
            headers = {"Authorization": f"Bearer {role_token(infra, role)}"}
            if where == "path":
                url, params = fill_path(op, doc, {name: value}), {}
            else:
                url, params = fill_path(op, doc), {name: value}
            label = f"{op} {where} {name}={value!r} as {role}"
            try:
                r = client.get(url, params=params, headers=headers)
            except httpx.TransportError as exc:  # a reset is a crash seen from outside
                problems.append(f"{label}: {type(exc).__name__} {exc}")
                continue
            if r.status_code >= 500:
                problems.append(f"{label}: {r.status_code} {r.text[:200]}")
            elif r.status_code >= 400 and r.headers.get("content-type", "").startswith("application/json"):
                shape = error_shape_problem(r)
                if shape:
                    problems.append(f"{label}: {r.status_code} not in the error shape: {shape}")
    assert not problems, f"{len(problems)} of {len(cases)} probes failed:\n" + "\n".join(problems)
