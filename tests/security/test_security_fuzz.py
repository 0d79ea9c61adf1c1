"""Schemathesis against every running service's live OpenAPI document (issue 7, point 4).

Every operation gets LCS_FUZZ_EXAMPLES generated cases (default 5 so the suite stays
fast; `make fuzz` sets 200), both schema-conforming and deliberately invalid ones, sent
with an admin token to the real process. Checks: no 5xx, the response matches its
declared schema, and the status code is one the operation declares. Every failing
operation is collected (with the reproducing request) before the test fails, so one
run reports all of them. Schemathesis 4 generates the cases (its own JSON-schema
generator; OpenAPI 3.1 needs no switch)."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from shared.devtools.stack import Stack
from tests.conftest import Infra
from tests.security.support import SERVICES, need

EXAMPLES = int(os.environ.get("LCS_FUZZ_EXAMPLES", "5"))
# `make test` replays the same cases every run (a CI run must be reproducible); `make fuzz`
# sets LCS_FUZZ_RANDOM=1 and explores new ones each time.
RANDOM = os.environ.get("LCS_FUZZ_RANDOM") == "1"
# The fixed seed of those replays: the cases depend on it and on the schema only (not on
# this file's source, as derandomize's would).
SEED = 23
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
# Header values are drawn from visible ASCII (and space) only. Negative generation
# otherwise sends control and Latin-1 characters, and uvicorn's HTTP parser rightly
# refuses those before any route runs ("400 Invalid HTTP request received.", text/plain),
# which no OpenAPI document can describe. Query, path and body generation is unchanged
# (NUL bytes and non-ASCII text included).
HEADER_EXCLUDED = "".join(map(chr, range(0x20))) + "".join(map(chr, range(0x7F, 0x100)))


def _reproduce(case: Any) -> str:
    try:
        return case.as_curl_command(headers={"Authorization": "Bearer <admin>"})
    except Exception:  # noqa: BLE001 - best effort description
        return f"{case.method} {case.formatted_path} query={case.query} body={str(case.body)[:500]}"


def _fuzz_operation(operation: Any, base_url: str, headers: dict[str, str], session: requests.Session,
                    strategy: Any = None, checks: list[Any] | None = None) -> str | None:
    failure: dict[str, str] = {}

    @given(case=strategy if strategy is not None else _strategy(operation))
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              phases=(Phase.explicit, Phase.generate), suppress_health_check=list(HealthCheck))
    @seed(None if RANDOM else SEED)
    def run(case: Any) -> None:
        try:
            case.call_and_validate(base_url=base_url, session=session, headers=headers, checks=checks or CHECKS,
                                   timeout=30)
        # Check failures come as schemathesis' FailureGroup, a BaseExceptionGroup.
        except (Exception, BaseExceptionGroup) as exc:
            text = str(exc)
            if "Reproduce with" not in text[:2500]:
                text = f"{text[:1500]}\n  reproduce: {_reproduce(case)}"
            failure.setdefault("message", f"{type(exc).__name__}: {text[:2500]}")
            raise

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - recorded, reported together at the end
        return failure.get("message") or f"{type(exc).__name__}: {str(exc)[:1500]}"
    return None


def _unhandled_errors(stack: Stack, service: str, limit: int = 5) -> str:
    """The service's own account of its 500s (the log formatter masks personal data)."""
    lines = stack.procs[service].log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    errors = [line for line in lines if '"unhandled error"' in line or '"level":"error"' in line]
    return "\n".join(line[-3000:] for line in errors[-limit:]) or "(nothing logged)"


def _strategy(operation: Any) -> Any:
    """Valid cases and, where there is something to break, deliberately invalid ones."""
    positive = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
    if not _has_negative(operation):
        return positive
    return positive | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)


# Boundary values (issue 22): each boundary case is a schema-conforming case with one leaf of its
# body, query or path replaced by one of these — past bigint, far or impossible dates and
# months, NUL inside text — so the value reaches the code past the parts of the request that
# are still valid. Only "no 5xx" is checked for them.
BOUNDARY_VALUES: tuple[Any, ...] = (
    2**63, -(2**63) - 1, 10**30, 1e308, "0000-01-01T00:00:00+00:00", "10000-01-01T00:00:00+00:00",
    "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "0001-01-01", "9999-12-31", "0001-01",
    "\x00", "a\x00b", "x" * 70_000,
)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, k))] or [path]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, (*path, i))] or [path]
    return [path]


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


def _mutated(args: tuple[Any, Any, int]) -> Any:
    case, value, pick = args
    targets: list[tuple[str, tuple[Any, ...]]] = []
    if isinstance(case.body, dict | list):
        targets += [("body", leaf) for leaf in _leaves(case.body) if leaf]
    targets += [("query", (k,)) for k in case.query or {}]
    targets += [("path_parameters", (k,)) for k in case.path_parameters or {}]
    if not targets:
        return case
    where, path = targets[pick % len(targets)]
    if where == "body":
        case.body = _replace(case.body, path, value)
    else:
        setattr(case, where, {**getattr(case, where), path[0]: str(value)})
    return case


def _boundary_strategy(operation: Any) -> Any:
    positive = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
    return st.tuples(positive, st.sampled_from(BOUNDARY_VALUES), st.integers(0, 10**6)).map(_mutated)


def _has_negative(operation: Any) -> bool:
    """Negative generation needs something to break (parameters or a body)."""
    definition = operation.definition.raw
    return bool(definition.get("parameters") or definition.get("requestBody"))


def load_schema(raw: dict[str, Any], base_url: str) -> Any:
    """The service's live OpenAPI document (3.1, as FastAPI writes it) as a schemathesis
    schema, with the header alphabet above and no configuration file consulted."""
    schema = schemathesis.openapi.from_dict(raw, config=schemathesis.Config())
    schema.config.update(base_url=base_url)
    schema.config.generation.update(exclude_header_characters=HEADER_EXCLUDED)
    return schema


@pytest.mark.parametrize("service", SERVICES)
def test_fuzz_openapi_conformance(stack: Stack, infra: Infra, service: str) -> None:
    need(stack, service)
    base_url = stack.url(service)
    raw = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    schema = load_schema(raw, base_url)
    headers = infra.headers("admin")
    failures: list[str] = []
    count = 0
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            count += 1
            problem = _fuzz_operation(operation, base_url, headers, session)
            if problem:
                failures.append(f"--- {service} {operation.method.upper()} {operation.path}\n{problem}")
            if _has_negative(operation):
                problem = _fuzz_operation(operation, base_url, headers, session,
                                          strategy=_boundary_strategy(operation), checks=[not_a_server_error])
                if problem:
                    failures.append(f"--- {service} {operation.method.upper()} {operation.path} "
                                    f"(boundary values)\n{problem}")
    assert count > 0, f"{service} documents no operations"
    if any("Server error" in f for f in failures):
        failures.append(f"--- server-side errors logged by {service}:\n" + _unhandled_errors(stack, service))
    assert not failures, f"{len(failures)} of {count} operations failed ({EXAMPLES} examples each):\n" + \
        "\n".join(failures)

