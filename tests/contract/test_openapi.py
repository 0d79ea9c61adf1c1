"""Every service's OpenAPI document is one that real tools accept: openapi-spec-validator (and,
where node is available, Redocly and Spectral) find no error; every operationId is unique;
every operation says whether it takes a token (`security`), unauthenticated ones with
`security: []`; every tag is declared with a description; `servers`, `contact` and `license`
are filled."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from shared.apidoc import operations
from tests.contract.apps import SERVICES, service_app
from tests.contract.tools import node_tool, quiet_env
from tests.security.support import declared_roles

per_service = pytest.mark.parametrize("service", SERVICES)


def document(service: str, **settings: Any) -> dict[str, Any]:
    return service_app(service, **settings).openapi()


@per_service
def test_openapi_spec_validator_accepts_the_document(service: str) -> None:
    validate(document(service))


@per_service
def test_every_operation_id_is_unique(service: str) -> None:
    ids = [op["operationId"] for _, _, op in operations(document(service))]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_osmand_get_and_post_are_two_operations() -> None:
    doc = document("tracking")
    get, post = doc["paths"]["/osmand"]["get"], doc["paths"]["/osmand"]["post"]
    assert get["operationId"] != post["operationId"]
    assert get["operationId"].endswith("_get") and post["operationId"].endswith("_post")


@per_service
def test_security_is_declared_on_every_operation_as_the_route_guards_it(service: str) -> None:
    roles = declared_roles(service)
    problems = []
    for path, method, op in operations(document(service)):
        if "security" not in op:
            problems.append(f"{method} {path}: no security declared")
            continue
        guarded = bool(roles.get((method.upper(), path)))
        if guarded != bool(op["security"]):
            problems.append(f"{method} {path}: security {op['security']} but the route "
                            f"{'requires' if guarded else 'takes no'} token")
        if path.startswith("/v1/") and not op["security"]:
            problems.append(f"{method} {path}: a /v1 operation declared unauthenticated")
    assert not problems, "\n".join(problems)


@per_service
def test_every_tag_is_declared_with_a_description(service: str) -> None:
    doc = document(service)
    declared = {t["name"]: t.get("description") for t in doc.get("tags", [])}
    assert len(declared) == len(doc.get("tags", [])), "a tag declared twice"
    used = {tag for _, _, op in operations(doc) for tag in op.get("tags", [])}
    assert all(op.get("tags") for _, _, op in operations(doc)), "an operation without a tag"
    assert used == set(declared), f"used {sorted(used)}, declared {sorted(declared)}"
    assert all(declared.values()), f"tags without a description: {[n for n, d in declared.items() if not d]}"


@per_service
def test_servers_contact_and_license_are_filled(service: str) -> None:
    doc = document(service)
    assert doc["servers"] and all(s["url"] for s in doc["servers"])
    assert doc["info"]["contact"]["name"] and doc["info"]["contact"]["email"]
    assert doc["info"]["license"]["name"] and doc["info"]["license"].get("identifier")


def test_servers_contact_and_license_come_from_the_settings() -> None:
    doc = document("receipts", api_server_url="https://{service}.lcs.example.com",
                   api_contact_email="cs-platform@example.com", api_contact_url="https://wiki.example.com/lcs",
                   api_license_url="https://example.com/lcs-license")
    assert doc["servers"][0]["url"] == "https://receipts.lcs.example.com"
    assert doc["info"]["contact"] == {"name": "lcs platform team", "email": "cs-platform@example.com",
                                      "url": "https://wiki.example.com/lcs"}
    assert doc["info"]["license"] == {"name": "Proprietary", "url": "https://example.com/lcs-license"}
    validate(doc)


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("openapi")
    out = {}
    for service in SERVICES:
        out[service] = folder / f"{service}.json"
        out[service].write_text(json.dumps(document(service)), encoding="utf-8")
    return out


@pytest.mark.slow
def test_redocly_finds_no_error_or_warning(documents: dict[str, Path]) -> None:
    redocly = node_tool("@redocly/cli", "2.77.0", "redocly")
    problems = {}
    for service, path in documents.items():
        done = subprocess.run([str(redocly), "lint", "--format=json", str(path)], capture_output=True, text=True,
                              timeout=300, env=quiet_env(), check=False)
        report = json.loads(done.stdout)
        if done.returncode != 0 or report["totals"]["errors"] or report["totals"]["warnings"]:
            problems[service] = report["problems"]
    assert not problems, json.dumps(problems, indent=1)[:5000]


@pytest.mark.slow
def test_spectral_finds_no_error(documents: dict[str, Path]) -> None:
    """Errors fail; Spectral's warnings (operations without a description, which the services'
    docstrings give) are not the contract's."""
    spectral = node_tool("@stoplight/spectral-cli", "6.16.3", "spectral")
    ruleset = Path(__file__).with_name("spectral.yaml")
    done = subprocess.run([str(spectral), "lint", "--ruleset", str(ruleset), "--fail-severity=error",
                           *map(str, documents.values())], capture_output=True, text=True, timeout=300,
                          env=quiet_env(), check=False)
    assert done.returncode == 0, done.stdout + done.stderr
