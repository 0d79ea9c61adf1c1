"""Reading an event off the wire in every form the CloudEvents spec and its AMQP bindings allow.

lcs publishes one form: structured mode, the whole envelope as JSON in the body
(`application/cloudevents+json`, see `shared.events.Envelope`). A consumer also reads what
another CloudEvents producer may send (the official SDKs, Knative, a bridge):

- binary mode: the attributes as message headers (AMQP application properties) named
  `cloudEvents:<attribute>` (the AMQP binding), `cloudEvents_<attribute>` (its JMS-compatible
  spelling) or `ce-<attribute>` (the RabbitMQ binding); `datacontenttype` is the message's
  content type and the body is the data. `time` may come as RFC 3339 text, an AMQP timestamp
  or milliseconds since the epoch;
- an `id` that is not a UUID: the spec only asks for a non-empty string unique per `source`,
  while the inbox keys on a UUID, so such an event gets the name-based UUID of its
  `source` and `id` (`derived_id`): a redelivery gets the same one;
- JSON data sent as `data_base64`.

Our own events take the fast path: the body read by orjson and validated as an `Envelope`; the
rest is tried only when a message has CloudEvents headers, or when that fast path fails.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from shared.events import Envelope

BINARY_PREFIXES = ("cloudevents:", "cloudevents_", "ce-")  # compared lower-cased
# The namespace of the UUIDs given to events whose `id` is not one (uuid5 of "<source> <id>").
FOREIGN_ID_NAMESPACE = uuid.UUID("6f1c2b0e-3d0a-5b8e-9a37-0c9d1e2f4a51")


def derived_id(source: str, event_id: str) -> uuid.UUID:
    """The inbox key of an event whose `id` is not a UUID: stable for one (`source`, `id`) pair,
    which is what the spec says identifies an event."""
    return uuid.uuid5(FOREIGN_ID_NAMESPACE, f"{source} {event_id}")


def read_envelope(body: bytes, *, content_type: str | None = None,
                  headers: Mapping[str, Any] | None = None) -> Envelope:
    """The envelope of a delivered message; raises ValueError (pydantic's ValidationError
    included) when it is not a CloudEvent lcs can read."""
    if headers and not _is_structured(content_type):
        attributes = binary_attributes(headers)
        if attributes is not None:
            attributes["data"] = orjson.loads(body) if body else None
            if content_type:
                attributes["datacontenttype"] = content_type
            return Envelope.model_validate(_normalised(attributes) or attributes)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:  # not JSON, or JSON orjson does not read (an integer past 64 bits)
        document = None
    if not isinstance(document, dict):
        # pydantic's own reading: the error a non-object or malformed body deserves (or the
        # envelope, for what only it reads), then orjson's, whose message says more about non-JSON
        try:
            return Envelope.model_validate_json(body)
        except ValidationError:
            orjson.loads(body)
            raise
    try:
        # orjson's objects validated in Python mode: half the CPU of `model_validate_json`, whose
        # JSON parser builds the event's `data` about three times slower (the same envelope:
        # `tests/unit/shared/test_wire.py` compares them)
        return Envelope.model_validate(document)
    except ValidationError:
        normalised = _normalised(document)
        if normalised is None:
            raise
    return Envelope.model_validate(normalised)


def _is_structured(content_type: str | None) -> bool:
    return content_type is not None and content_type.strip().lower().startswith("application/cloudevents")


def binary_attributes(headers: Mapping[str, Any]) -> dict[str, Any] | None:
    """The CloudEvents attributes carried as headers, or None when there are none (no
    `specversion` under any of the prefixes)."""
    attributes: dict[str, Any] = {}
    for name, value in headers.items():
        lowered = name.lower()
        for prefix in BINARY_PREFIXES:
            if lowered.startswith(prefix):
                attributes[lowered[len(prefix):]] = _header_value(value)
                break
    if "specversion" not in attributes:
        return None
    if "time" in attributes:
        attributes["time"] = _time(attributes["time"])
    return attributes


def _header_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8")
    return value


def _time(value: Any) -> Any:
    """An AMQP timestamp (a datetime, naive = UTC) or milliseconds since the epoch, as an aware
    datetime; RFC 3339 text is left to pydantic."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    return value


def _normalised(document: dict[str, Any]) -> dict[str, Any] | None:
    """A copy with the spec's other spellings made ours (a non-UUID `id`, `data_base64`), or None
    when there is nothing to change."""
    changes: dict[str, Any] = {}
    event_id, source = document.get("id"), document.get("source")
    if isinstance(event_id, str) and event_id and isinstance(source, str):
        try:
            uuid.UUID(event_id)
        except ValueError:
            changes["id"] = derived_id(source, event_id)
    encoded = document.get("data_base64")
    if "data" not in document and isinstance(encoded, str):
        try:
            changes["data"] = orjson.loads(base64.b64decode(encoded, validate=True))
        except (binascii.Error, orjson.JSONDecodeError) as exc:
            raise ValueError(f"data_base64 is not base64-encoded JSON: {exc}") from None
    if not changes:
        return None
    copy = {k: v for k, v in document.items() if k != "data_base64"}
    copy.update(changes)
    return copy
