"""The event catalogue (`docs/asyncapi.json`) describes the messages exactly as they travel: a real
envelope of every event type, made by the code that publishes it (`shared.events.make_envelope`,
the outbox's serialisation), validates against its own message's payload schema; and the AsyncAPI
CLI accepts the document."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from shared.events import EVENT_TYPES, Event, make_envelope
from tests.contract.examples import events
from tests.contract.tools import node_tool, quiet_env

ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = ROOT / "docs" / "asyncapi.json"
DOC_URI = "urn:lcs:asyncapi"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads(DOC_PATH.read_text(encoding="utf-8"))


def validator(doc: dict[str, Any], message: str) -> Draft202012Validator:
    """Checks formats too (uuid, date-time, uri-reference)."""
    registry: Registry = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(doc))
    return Draft202012Validator({"$ref": f"{DOC_URI}#/components/messages/{message}/payload"},
                                registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def wire(event: Event) -> dict[str, Any]:
    """The envelope as the outbox stores and the relay publishes it."""
    return orjson.loads(make_envelope(event, f"/lcs/{event.TYPE.split('.', 1)[0]}").to_json())


def problems(doc: dict[str, Any], message: str, envelope: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(envelope)'}: {e.message}"
            for e in validator(doc, message).iter_errors(envelope)]


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_a_real_envelope_of_every_type_validates_against_its_message(doc: dict[str, Any], event_type: str) -> None:
    model = EVENT_TYPES[event_type]
    messages = [name for name, m in doc["components"]["messages"].items() if m["name"] == event_type]
    assert messages == [model.__name__], f"{event_type}: one message named after its model"
    for event in events(model):
        envelope = wire(event)
        assert problems(doc, model.__name__, envelope) == [], envelope


def test_every_event_type_has_a_message(doc: dict[str, Any]) -> None:
    assert {m["name"] for m in doc["components"]["messages"].values()} == set(EVENT_TYPES)


def test_a_message_refuses_what_is_not_its_envelope(doc: dict[str, Any]) -> None:
    """The schemas are not vacuous: the data of one type is not another's, attributes are required."""
    delayed, arrived = EVENT_TYPES["tracking.shipment.delayed.v1"], EVENT_TYPES["tracking.shipment.arrived.v1"]
    good = wire(events(delayed)[0])
    assert problems(doc, delayed.__name__, good) == []
    assert problems(doc, arrived.__name__, good), "a delayed event passed as an arrival"
    for attribute in ("id", "source", "specversion", "type", "time", "datacontenttype", "data"):
        broken = {k: v for k, v in good.items() if k != attribute}
        assert problems(doc, delayed.__name__, broken), f"an envelope without {attribute} passed"
    for attribute, value in (("subject", None), ("id", "not-a-uuid"), ("time", "yesterday"),
                             ("specversion", "0.3"), ("data", {"waybill_no": "SH1"})):
        assert problems(doc, delayed.__name__, {**good, attribute: value}), f"{attribute}={value!r} passed"


class _Subjectless(Event):
    TYPE: ClassVar[str] = "tracking.shipment.delayed.v1"
    note: str


def test_an_event_without_a_subject_has_no_subject_attribute_rather_than_null(doc: dict[str, Any]) -> None:
    envelope = orjson.loads(make_envelope(_Subjectless(note="x"), "/lcs/tracking", event_id=uuid.uuid4()).to_json())
    assert "subject" not in envelope
    assert set(envelope) == {"specversion", "id", "source", "type", "time", "datacontenttype", "data"}


@pytest.mark.slow
def test_the_asyncapi_cli_accepts_the_document() -> None:
    cli = node_tool("@asyncapi/cli", "6.2.0", "asyncapi")
    done = subprocess.run([str(cli), "validate", str(DOC_PATH), "--fail-severity=warn"], capture_output=True,
                          text=True, timeout=300, env=quiet_env(), cwd=ROOT, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "is valid" in output, output
