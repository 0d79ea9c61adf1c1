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


def _fuzz_operation(operation: Any, base_url: str, headers: dict[str, str], session: requests.Session) -> str | None:
    failure: dict[str, str] = {}

    @given(case=_strategy(operation))
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              phases=(Phase.explicit, Phase.generate), suppress_health_check=list(HealthCheck))
    @seed(None if RANDOM else SEED)
    def run(case: Any) -> None:
        try:
            case.call_and_validate(base_url=base_url, session=session, headers=headers, checks=CHECKS, timeout=30)
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
    assert count > 0, f"{service} documents no operations"
    if any("Server error" in f for f in failures):
        failures.append(f"--- server-side errors logged by {service}:\n" + _unhandled_errors(stack, service))
    assert not failures, f"{len(failures)} of {count} operations failed ({EXAMPLES} examples each):\n" + \
        "\n".join(failures)

