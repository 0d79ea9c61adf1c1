"""The event catalogue as documents: AsyncAPI 3.1 (`docs/asyncapi.json`) and a readable
page (`docs/EVENTS.md`), generated from the pydantic models in `shared.events` and the
services' handler tables, so the documents cannot drift from the code.

    python -m shared.catalogue            # rewrite both files
    python -m shared.catalogue --check    # exit 1 when they are out of date (used by the tests)
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from shared import apidoc
from shared.events import CONTENT_TYPE, DATA_CONTENT_TYPE, EVENT_TYPES, SPECVERSION
from shared.settings import DEFAULT_PORTS, Settings

ROOT = Path(__file__).resolve().parents[1]
SERVICES = tuple(DEFAULT_PORTS)


def consumers() -> dict[str, list[str]]:
    """Which service consumes which type, read from each service's handler table."""
    found: dict[str, list[str]] = {}
    for service in SERVICES:
        spec = importlib.import_module(f"services.{service}.main").SPEC
        for t in spec.consumes:
            found.setdefault(t, []).append(service)
    return found


def _producer(event_type: str) -> str:
    return event_type.split(".", 1)[0]


def cloudevent_schema() -> dict[str, Any]:
    """The envelope every message is: the CloudEvents 1.0 attributes lcs sends, in structured JSON
    mode (`shared.events.Envelope`); each message narrows `type` and `data`."""
    text = {"type": "string", "minLength": 1, "maxLength": 200}
    return {
        "type": "object",
        "title": "CloudEvent",
        "description": "A CloudEvents 1.0 envelope in structured JSON mode. Extension attributes may be added "
                       "(and are ignored by lcs consumers). `subject` is absent when an event has none, "
                       "never null.",
        "required": ["specversion", "id", "source", "type", "time", "datacontenttype", "data"],
        "properties": {
            "specversion": {"type": "string", "const": SPECVERSION},
            "id": {"type": "string", "format": "uuid", "description": "Unique per event; the consumers' "
                   "inboxes deduplicate on it."},
            "source": {**text, "format": "uri-reference", "description": "The publishing service, "
                       "`/lcs/<service>`.", "examples": ["/lcs/tracking"]},
            "type": {**text, "description": "The event type, also the routing key."},
            "time": {"type": "string", "format": "date-time", "description": "When it happened (RFC 3339)."},
            "subject": {**text, "description": "The entity the event is about: a complaint or notification "
                        "id, else the waybill number, else the vehicle id."},
            "datacontenttype": {"type": "string", "const": DATA_CONTENT_TYPE},
            "data": {"type": "object", "description": "The event's payload, described per message."},
        },
        "additionalProperties": True,
    }


def _message_payload(event_type: str, name: str) -> dict[str, Any]:
    return {"allOf": [
        {"$ref": "#/components/schemas/CloudEvent"},
        {"type": "object", "properties": {
            "type": {"type": "string", "const": event_type},
            "data": {"$ref": f"#/components/schemas/{name}"},
        }},
    ]}


def _info() -> dict[str, Any]:
    defaults = Settings.model_construct()  # the documented defaults, never this machine's environment
    return {"title": "lcs events", "version": "1.0.0",
            "description": "Every event of the lcs platform. Routing key = CloudEvents `type`.",
            "contact": apidoc.contact(defaults),
            # AsyncAPI's license has a name and a URL only (no SPDX identifier, unlike OpenAPI 3.1)
            "license": {k: v for k, v in apidoc.license_info(defaults).items() if k != "identifier"}}


def asyncapi() -> dict[str, Any]:
    used_by = consumers()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {"CloudEvent": cloudevent_schema()}
    exchange = {"name": "lcs.events", "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"}
    for event_type, model in sorted(EVENT_TYPES.items()):
        name = model.__name__
        producer = _producer(event_type)
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in schema.pop("$defs", {}).items():
            schemas[def_name] = definition
        schemas[name] = schema
        messages[name] = {
            "name": event_type,
            "title": name,
            "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else event_type,
            "contentType": CONTENT_TYPE,
            "payload": _message_payload(event_type, name),
            "bindings": {"amqp": {"messageType": event_type, "bindingVersion": "0.3.0"}},
            "x-producer": producer,
            "x-consumers": used_by.get(event_type, []),
        }
        channel_id = event_type.replace(".", "_")
        channels[channel_id] = {
            "address": event_type,
            "description": f"Routing key `{event_type}` on the topic exchange `lcs.events`; the message is a "
                           "CloudEvents 1.0 envelope in structured JSON mode whose `data` is the event's payload. "
                           "Consumers also accept the CloudEvents AMQP binary mode (see docs/EVENTS.md).",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {"amqp": {"is": "routingKey", "exchange": exchange, "bindingVersion": "0.3.0"}},
        }
        operations[f"publish_{channel_id}"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"{producer} publishes through its transactional outbox",
            "bindings": {"amqp": {"deliveryMode": 2, "mandatory": True, "bindingVersion": "0.3.0"}},
        }
        for consumer in used_by.get(event_type, []):
            operations[f"{consumer}_receives_{channel_id}"] = {
                "action": "receive", "channel": {"$ref": f"#/channels/{channel_id}"},
                "summary": f"{consumer} consumes from its quorum queue `{consumer}` (inbox-deduplicated)",
                "bindings": {"amqp": {"ack": True, "bindingVersion": "0.3.0"}},
            }
    return {
        "asyncapi": "3.1.0",
        "info": _info(),
        "defaultContentType": CONTENT_TYPE,
        "servers": {"broker": {"host": "127.0.0.1:5672", "protocol": "amqp", "protocolVersion": "0.9.1",
                               "description": "RabbitMQ (`LCS_AMQP_URL`; this is the development default)"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def markdown(doc: dict[str, Any]) -> str:
    lines = [
        "# Event catalogue",
        "",
        "Generated by `python -m shared.catalogue` from `shared/events.py` — do not edit by hand.",
        "The machine-readable form is `docs/asyncapi.json` (AsyncAPI 3.1): each message's payload is the whole",
        "envelope (`components/schemas/CloudEvent` with its `type` and `data`), so a JSON Schema validator checks",
        "a message exactly as it travels.",
        "",
        "Every event travels on the topic exchange `lcs.events` with routing key = CloudEvents `type`, as a",
        "CloudEvents 1.0 envelope in structured JSON mode (content type `application/cloudevents+json`).",
        "Types are versioned: a type only gains optional fields; a breaking change is a new `.v2` type",
        "published side by side. Consumers ignore fields they do not know.",
        "",
        "## The envelope",
        "",
        "| attribute | lcs sends | lcs consumers accept |",
        "|---|---|---|",
        "| `specversion` | `1.0` | `1.0` |",
        "| `id` | a UUID | any non-empty string: one that is not a UUID is keyed in the inbox by the name-based "
        "UUID of `source` and `id` (`shared.wire.derived_id`) |",
        "| `source` | `/lcs/<service>` | any non-empty string |",
        "| `type` | the event type, also the routing key | a type the consumer handles |",
        "| `time` | always (RFC 3339) | optional: without it, the moment the event is read |",
        "| `subject` | the complaint or notification id, else the waybill number, else the vehicle id; "
        "absent when there is none (never `null`) | optional |",
        "| `datacontenttype` | `application/json` | optional; any JSON media type, with parameters "
        "(`application/json; charset=utf-8`) |",
        "| `data` | the type's payload, below | the same, or as `data_base64` |",
        "| extensions | none | passed through, ignored |",
        "",
        "Binary mode (the CloudEvents AMQP binding) is accepted as well: the attributes as message headers named",
        "`cloudEvents:<attribute>`, `cloudEvents_<attribute>` or `ce-<attribute>` (the RabbitMQ binding), the",
        "message's content type as `datacontenttype`, the body as `data`; `time` as RFC 3339 text, an AMQP",
        "timestamp or milliseconds since the epoch. A retried binary event keeps its headers and content type.",
        "",
        "## The types",
        "",
        "| type | producer | consumers |",
        "|---|---|---|",
    ]
    msgs = doc["components"]["messages"]
    for msg in sorted(msgs.values(), key=lambda m: m["name"]):
        lines.append(f"| `{msg['name']}` | {msg['x-producer']} | {', '.join(msg['x-consumers']) or '—'} |")
    schemas = doc["components"]["schemas"]
    for msg in sorted(msgs.values(), key=lambda m: m["name"]):
        schema = schemas[msg["title"]]
        required = set(schema.get("required", []))
        lines += ["", f"## `{msg['name']}`", "", "| field | type | required |", "|---|---|---|"]
        for field, prop in schema.get("properties", {}).items():
            lines.append(f"| `{field}` | {_type_name(prop)} | {'yes' if field in required else 'no'} |")
    return "\n".join(lines) + "\n"


def _type_name(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in prop:
        return " or ".join(_type_name(p) for p in prop["anyOf"])
    if prop.get("type") == "array":
        return f"list of {_type_name(prop.get('items', {}))}"
    if "const" in prop:
        return f"`{prop['const']}`"
    if "enum" in prop:
        return " / ".join(f"`{v}`" for v in prop["enum"])
    fmt = prop.get("format")
    return f"{prop.get('type', 'any')}{f' ({fmt})' if fmt else ''}"


def render() -> dict[Path, str]:
    doc = asyncapi()
    return {
        ROOT / "docs" / "asyncapi.json": json.dumps(doc, indent=2, ensure_ascii=False) + "\n",
        ROOT / "docs" / "EVENTS.md": markdown(doc),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.catalogue")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    stale = []
    for path, text in render().items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("out of date (run python -m shared.catalogue): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
