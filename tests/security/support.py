"""Helpers shared by the security suite: which services run, their OpenAPI operations,
the roles each route declares (read in-process from the FastAPI routers), tokens that
must be refused, plausible path values, the error-shape check and a personal-data flow."""

from __future__ import annotations

import contextlib
import importlib
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import jwt
from fastapi.routing import APIRoute

from shared.auth import ROLES
from shared.devtools.stack import Stack
from tests.conftest import Infra, run_sync
from tests.support.wait import NotYet, eventually_sync

SERVICES = ("tracking", "receipts", "complaints", "notifier")
METHODS = ("get", "put", "post", "patch", "delete")
UNAUTHENTICATED = frozenset({"/livez", "/readyz", "/metrics", "/osmand"})
# The documentation routes (shared.docs_ui): no data, but unauthenticated (see docs/SECURITY.md, gaps).
DOCS_ROUTES = frozenset({"/openapi.json", "/docs", "/redoc", "/docs/assets/{name}"})
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def running(stack: Stack) -> list[str]:
    return [n for n in SERVICES if n in stack.procs and stack.procs[n].running]


def need(stack: Stack, *names: str) -> None:
    import pytest

    missing = [n for n in names if n not in running(stack)]
    if missing:
        pytest.skip(f"service(s) not running in this stack: {', '.join(missing)}")


# --- OpenAPI operations ------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    service: str
    method: str  # upper case
    path: str  # template, e.g. /v1/shipments/{waybill_no}
    spec: dict[str, Any] = field(hash=False, compare=False)
    params: tuple[dict[str, Any], ...] = field(default=(), hash=False, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    @property
    def has_body(self) -> bool:
        return "requestBody" in self.spec

    def __str__(self) -> str:
        return f"{self.service} {self.method} {self.path}"


def operations(service: str, doc: dict[str, Any]) -> list[Op]:
    ops = []
    for path, item in doc.get("paths", {}).items():
        common = tuple(item.get("parameters", ()))
        for method in METHODS:
            if method in item:
                spec = item[method]
                ops.append(Op(service, method.upper(), path, spec, common + tuple(spec.get("parameters", ()))))
    return ops


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            for sub in schema[key]:
                sub = _resolve(doc, sub)
                if sub.get("type") not in (None, "null"):
                    return sub
    return schema


_NAMED_VALUES = {
    "waybill_no": "SECNOSUCH0001", "code": "ZZ99", "station": "ZZ99", "vehicle_id": "VSECNOSUCH",
    "customer_id": "CSECNOSUCH", "device_id": "DSECNOSUCH", "month": "2026-11", "courier_no": "SF000",
}


def path_value(name: str, schema: dict[str, Any]) -> str:
    """A plausible value for a path parameter: right type and shape, refers to nothing."""
    if schema.get("type") == "integer":
        return "987654321"
    if schema.get("format") == "uuid":
        return str(uuid.UUID(int=0xBEEF))
    if name in _NAMED_VALUES:
        return _NAMED_VALUES[name]
    if schema.get("enum"):
        return str(schema["enum"][0])
    return "SEC1"


def fill_path(op: Op, doc: dict[str, Any], overrides: dict[str, str] | None = None) -> str:
    path = op.path
    for p in op.params:
        p = _resolve(doc, p) if "$ref" in p else p
        if p.get("in") != "path":
            continue
        name = p["name"]
        value = (overrides or {}).get(name) or path_value(name, _resolve(doc, p.get("schema", {})))
        path = path.replace("{" + name + "}", value)
    return path


def request_kwargs(op: Op) -> dict[str, Any]:
    """A syntactically valid JSON body for write routes (auth is decided before validation)."""
    return {"json": {}} if op.method in ("POST", "PUT", "PATCH") else {}


# --- roles declared in-process ---------------------------------------------------------


def service_spec(service: str) -> Any:
    return importlib.import_module(f"services.{service}.main").SPEC


def _roles_of(dependant: Any) -> frozenset[str] | None:
    found: frozenset[str] | None = None
    call = getattr(dependant, "call", None)
    own = getattr(call, "lcs_roles", None)
    if own is not None:
        found = frozenset(own)
    for sub in getattr(dependant, "dependencies", ()):
        roles = _roles_of(sub)
        if roles is not None:
            found = roles if found is None else found & roles  # every guard must pass
    return found


@dataclass(frozen=True)
class FlatRoute:
    """One route of a router tree, with the prefix and guards of every include above it."""

    path: str
    methods: frozenset[str]
    route: Any
    roles: frozenset[str] | None


def _include_roles(deps: Any) -> frozenset[str] | None:
    found: frozenset[str] | None = None
    for dep in deps or ():
        own = getattr(getattr(dep, "dependency", None), "lcs_roles", None)
        if own is not None:
            found = frozenset(own) if found is None else found & frozenset(own)
    return found


def _meet(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def flatten(router: Any, prefix: str = "", roles: frozenset[str] | None = None) -> Iterator[FlatRoute]:
    """Every route under `router`, whether FastAPI flattened the includes or kept them lazily."""
    for route in getattr(router, "routes", ()):
        if isinstance(route, APIRoute):
            yield FlatRoute(prefix + route.path, frozenset(m.upper() for m in route.methods), route,
                            _meet(roles, _roles_of(route.dependant)))
        elif hasattr(route, "original_router") and hasattr(route, "include_context"):
            ctx = route.include_context
            yield from flatten(route.original_router, prefix + (getattr(ctx, "prefix", "") or ""),
                               _meet(roles, _include_roles(getattr(ctx, "dependencies", ()))))
        else:
            yield FlatRoute(prefix + str(getattr(route, "path", "")), frozenset(getattr(route, "methods", None) or ()),
                            route, roles)


def api_routes(service: str) -> Iterator[FlatRoute]:
    for router in service_spec(service).routers:
        yield from flatten(router)


def declared_roles(service: str) -> dict[tuple[str, str], frozenset[str] | None]:
    """(METHOD, path template) -> roles allowed by the route's guards (None: no guard)."""
    out: dict[tuple[str, str], frozenset[str] | None] = {}
    for flat in api_routes(service):
        for method in flat.methods:
            out[(method, flat.path)] = flat.roles
    return out


# --- tokens ----------------------------------------------------------------------------


def role_token(infra: Infra, role: str, *, branch: str = "ZZ99", carrier: str = "CSECNOBODY",
               customer: str = "CSECNOBODY") -> str:
    return infra.token(role, branch=branch if role == "branch" else None,  # type: ignore[arg-type]
                       carrier=carrier if role == "carrier" else None,
                       customer=customer if role == "customer" else None)


def bad_tokens(infra: Infra) -> dict[str, str]:
    """Tokens every /v1 route must answer with 401."""
    now = int(time.time())
    claims = {"sub": "sec-test", "role": "admin", "iat": now - 7200, "exp": now - 3600}
    fresh = {**claims, "exp": now + 3600}
    return {
        "expired": jwt.encode(claims, infra.auth_secret, algorithm="HS256"),
        "wrong_signature": jwt.encode(fresh, "not-the-secret-" + "x" * 40, algorithm="HS256"),
        "alg_none": jwt.encode(fresh, None, algorithm="none"),  # type: ignore[arg-type]
        "no_exp": jwt.encode({"sub": "sec-test", "role": "admin"}, infra.auth_secret, algorithm="HS256"),
        "unknown_role": jwt.encode({**fresh, "role": "root"}, infra.auth_secret, algorithm="HS256"),
        "branch_without_branch": jwt.encode({**fresh, "role": "branch"}, infra.auth_secret, algorithm="HS256"),
        "garbage": "not.a.jwt",
    }


ALL_ROLES: tuple[str, ...] = tuple(ROLES)


# --- error shape -----------------------------------------------------------------------


def error_shape_problem(r: httpx.Response) -> str | None:
    """None if the body is the contract's error shape, else what is wrong."""
    try:
        body = r.json()
    except ValueError:
        return f"not JSON: {r.text[:200]!r}"
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return f"no error object: {str(body)[:200]}"
    if set(err) != {"code", "message", "details"}:
        return f"error keys {sorted(err)} != [code, details, message]"
    if not isinstance(err["code"], str) or not SNAKE.match(err["code"]):
        return f"code {err['code']!r} is not snake_case"
    if not isinstance(err["message"], str):
        return "message is not a string"
    return None


def describe(r: httpx.Response) -> str:
    return f"{r.status_code} {r.text[:300]}"


# --- personal data ---------------------------------------------------------------------


def resident_id(rng: random.Random) -> str:
    """A syntactically valid 18-character resident ID number (GB 11643 checksum)."""
    first17 = f"{rng.choice(['110101', '310101', '320211'])}19{rng.randint(60, 99)}0{rng.randint(1, 9)}" \
              f"{rng.randint(10, 28)}{rng.randint(100, 999)}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(first17, weights, strict=True))
    return first17 + "10X98765432"[total % 11]


def mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}"


def wait_for(fetch: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 20.0) -> Any:
    """The first value of `fetch()` that is `ok`, or the last one fetched when none was in time
    (the caller reports it)."""
    last = []

    def probe() -> bool:
        last[:] = [fetch()]
        return ok(last[0])
    with contextlib.suppress(NotYet):
        eventually_sync(probe, timeout=timeout)
    return last[0]


# --- the database as the desk cannot see it -----------------------------------------------


def query_value(infra: Infra, sql: str, *args: Any) -> Any:
    """One value straight from the test database (what was stored, whatever the API says)."""
    async def go() -> Any:
        conn = await asyncpg.connect(infra.database_url)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()
    return run_sync(go())
