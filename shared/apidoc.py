"""What every service's OpenAPI document says beyond what FastAPI generates, so that the
document is accepted by the tools that read it (openapi-spec-validator, Redocly, Spectral,
client generators):

- every `operationId` unique: FastAPI names an operation `<function>_<path>_<method>`, taking
  the method from the route's first one, so a route that answers GET and POST (tracking's
  `/osmand`) gives both operations one id. Here each id ends in its own method, and a clash
  left after that gets a number;
- `security: []` on every operation that declares no security requirement, i.e. takes no
  bearer token (`shared.auth.require_roles` declares it on every `/v1` route): said, not implied;
- every tag an operation uses declared at the top with a description: the service's own
  (`ServiceSpec.tags`) or one made from the tag and the service's title; an operation
  without a tag gets the first segment of its path after `/v1`;
- `servers`, `info.contact` and `info.license` from the settings (`LCS_API_*`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from shared.settings import Settings

_NON_WORD = re.compile(r"\W")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def contact(settings: Settings) -> dict[str, str]:
    found = {"name": settings.api_contact_name, "email": settings.api_contact_email,
             "url": settings.api_contact_url}
    return {k: v for k, v in found.items() if v}


def license_info(settings: Settings) -> dict[str, str]:
    if settings.api_license_url:
        return {"name": settings.api_license_name, "url": settings.api_license_url}
    if settings.api_license_identifier:
        return {"name": settings.api_license_name, "identifier": settings.api_license_identifier}
    return {"name": settings.api_license_name}


def servers(settings: Settings, service: str) -> list[dict[str, str]]:
    if settings.api_server_url:
        return [{"url": settings.api_server_url.replace("{service}", service),
                 "description": f"the {service} service"}]
    return [{"url": "/", "description": "the host this document was fetched from"}]


def install(app: FastAPI, *, settings: Settings, service: str, tags: Mapping[str, str] | None = None) -> None:
    """Make `app.openapi()` return FastAPI's document completed as this module says (built once)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            with warnings.catch_warnings():  # FastAPI's warning about the ids fixed just below
                warnings.filterwarnings("ignore", message="Duplicate Operation ID", category=UserWarning)
                doc = generate()
            doc["servers"] = servers(settings, service)
            doc["info"]["contact"] = contact(settings)
            doc["info"]["license"] = license_info(settings)
            unique_operation_ids(doc)
            declare_public_operations(doc)
            declare_tags(doc, title=app.title, descriptions=tags or {})
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def operations(doc: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) of every operation, in document order."""
    return [(path, method, item[method]) for path, item in doc.get("paths", {}).items()
            for method in HTTP_METHODS if method in item]


def unique_operation_ids(doc: dict[str, Any]) -> None:
    seen: set[str] = set()
    for path, method, op in operations(doc):
        op_id = op.get("operationId") or _NON_WORD.sub("_", path).strip("_") + "_" + method
        stem, _, suffix = op_id.rpartition("_")
        if stem and suffix in HTTP_METHODS:  # FastAPI's suffix: the route's first method, not this one
            op_id = f"{stem}_{method}"
        candidate, n = op_id, 2
        while candidate in seen:
            candidate, n = f"{op_id}_{n}", n + 1
        op["operationId"] = candidate
        seen.add(candidate)


def declare_public_operations(doc: dict[str, Any]) -> None:
    """`security: []` on the operations that take no token (there is no document-wide default)."""
    for _, _, op in operations(doc):
        op.setdefault("security", [])


def declare_tags(doc: dict[str, Any], *, title: str, descriptions: Mapping[str, str]) -> None:
    """The tags in use, those the service describes first (in its order), then the others."""
    used: dict[str, None] = {}
    for path, _, op in operations(doc):
        if not op.get("tags"):
            op["tags"] = [_path_tag(path)]
        used.update(dict.fromkeys(op["tags"]))
    ordered = [name for name in descriptions if name in used] + [name for name in used if name not in descriptions]
    doc["tags"] = [{"name": name, "description": descriptions.get(name) or _describe(name, title)}
                   for name in ordered]


def _path_tag(path: str) -> str:
    segments = [s for s in path.split("/") if s and not s.startswith("{")]
    if segments and segments[0] == "v1":
        segments = segments[1:]
    return segments[0] if segments else "service"


def _describe(tag: str, title: str) -> str:
    return f"{tag[:1].upper()}{tag[1:].replace('-', ' ')}: operations of {title}."
